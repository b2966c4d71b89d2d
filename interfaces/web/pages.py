"""What every web page shares: its template response, its headers, and the wait that lets a page read its write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request
from litestar.datastructures import ResponseHeader
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from adapters.readmodels import ReadModelStore
from application.authentication import Authentication
from application.authorization import Identity
from application.commands import CommandResult
from interfaces.http.auth import Resources
from interfaces.http.problems import ReadModelBehindError
from interfaces.settings.groups import HttpSettings

HERE = Path(__file__).parent
CSP_WEB = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""The apps' strict policy: scripts and styles only from the platform's own static files, never inline."""
HEADER_VALUES = {"Content-Security-Policy": CSP_WEB, "Cache-Control": "no-store"}
PAGE_HEADERS = [ResponseHeader(name=name, value=value) for name, value in HEADER_VALUES.items()]
"""On every page a handler answers; error pages (answered outside the handler) set HEADER_VALUES themselves."""
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
Form = Body(media_type=RequestEncodingType.URL_ENCODED)
"""The body marker of the apps' forms: ``data: Annotated[SomeForm, Form]``."""


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)


def page(name: str, request: Request[Any, Any, Any], status_code: int = 200, **context: Any) -> Template:
    """A page of the apps: its template with who is signed in (``identity``) and the path's tenant."""
    identity = request.scope.get("auth")
    tenant_id = request.path_params.get("tenant_id")
    context = {"identity": identity, "tenant_id": tenant_id, **context}
    return Template(template_name=name, context=context, status_code=status_code)


async def forms_only(request: Request[Any, Any, Any]) -> None:
    """The apps' posts are HTML forms (the API's rule is JSON bodies): anything else is refused with 415."""
    if request.method != "POST":
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in FORM_MEDIA_TYPES:
        raise HTTPException(status_code=415, detail=f"the apps take HTML forms, not {media_type or 'no body'}")


@dataclass(frozen=True)
class Pages:
    """What the apps' pages ask of the platform beyond the API's services and queries (injected as ``pages``)."""

    authenticator: Authentication
    read_models: ReadModelStore
    resources: Resources
    http: HttpSettings

    def after_command(self, result: CommandResult, url: str) -> Redirect:
        """Waits until the read models have the command's event (as X-Consistent-Position does), then redirects
        (303), so the next page shows what was just done."""
        timeout = self.http.consistency_timeout
        if not self.read_models.wait_for(result.position, tuple(self.read_models.projections), timeout):
            msg = f"the read model did not reach position {result.position} within {timeout:g} s; reload shortly"
            raise ReadModelBehindError(msg)
        return Redirect(url, status_code=303)

    def may(self, identity: Identity, action: str, tenant_id: str) -> bool:
        """Whether the signed-in person may also do ``action`` in the tenant: the question a page asks before it
        shows what another route serves (a button, a contract's classifications), decided as that route's guard
        decides."""
        return self.resources.allows(identity, action, self.resources.seen_by_queries(tenant_id))
