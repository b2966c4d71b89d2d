"""Local sign-in for the development issuer: a person pastes a credential the platform issued them (a token from
``platform token``, or an API key); the session keeps it, and each page proves it again. A person of several tenants
then picks one (``/app/``). OpenID Connect (authorization code with PKCE) is a later step."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from application.authentication import AuthenticationError
from interfaces.web.pages import Form, Pages, page
from interfaces.web.session import CREDENTIAL, bearer

PUBLIC_PREFIX = "/web"
"""Pages anyone may open (sign-in, sign-out, static files): listed among the platform's public paths."""


class SignInForm(msgspec.Struct, frozen=True):
    credential: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    next: Annotated[str, msgspec.Meta(max_length=500)] = ""


def landing(platform_admin: bool, tenants: list[str]) -> str:
    """Where a person goes once signed in: admins to the Admin App, one tenant straight in, several to the picker."""
    if platform_admin:
        return "/admin/"
    return f"/app/t/{tenants[0]}/catalog" if len(tenants) == 1 else "/app/"


def _safe_next(target: str) -> str | None:
    """Only a path of the apps themselves (never another site): an open redirect would help phishing."""
    ours = target in ("/app", "/admin") or target.startswith(("/app/", "/admin/"))
    return target if ours and "//" not in target and "\\" not in target else None


class SignInController(Controller):
    path = PUBLIC_PREFIX
    include_in_schema = False

    @get("/sign-in")
    async def form(
        self, request: Request[Any, Any, Any], next_path: Annotated[str, QueryParameter(name="next")] = ""
    ) -> Template:
        """The sign-in form."""
        return page("sign_in.html", request, next=next_path[:500])

    @post("/sign-in", status_code=303)
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        data: Annotated[SignInForm, Form],
    ) -> Redirect | Template:
        """Proves the credential; the session keeps it, and the person lands where they may work."""
        credential, authenticator = data.credential.strip(), pages.authenticator
        try:
            identity = await anyio.to_thread.run_sync(authenticator.authenticate, bearer(credential))
            tenants = await anyio.to_thread.run_sync(authenticator.tenants_of, bearer(credential))
        except AuthenticationError:
            message = "That credential is not valid here: check it was issued by this platform and is not revoked."
            return page("sign_in.html", request, status_code=401, error=message, next=data.next)
        request.set_session({CREDENTIAL: credential})
        return Redirect(_safe_next(data.next) or landing(identity.platform_admin, tenants), status_code=303)

    @post("/sign-out", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Redirect:
        """Forgets the session."""
        request.clear_session()
        return Redirect(f"{PUBLIC_PREFIX}/sign-in", status_code=303)
