"""The web apps served by the platform itself: the Customer App at /app/ and the Admin App at /admin/.

Server-rendered (Jinja2 templates, htmx from static files, no inline script or style), they translate pages and
forms into the same application services and query objects the HTTP API calls, injected the same way
(``interfaces/http/deps.py``) and authorized by the same app-wide Cedar guard on each route's ``opt["action"]``.
The only state they keep is the sign-in session (``session.py``)."""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler, Middleware

from interfaces.bootstrap import Platform
from interfaces.http.auth import Resources
from interfaces.http.deps import provided
from interfaces.web.admin import AdminPagesController
from interfaces.web.admin_policies import AdminPolicyPagesController
from interfaces.web.catalog import CatalogPagesController, CustomerHomeController
from interfaces.web.contracts import ContractPagesController
from interfaces.web.errors import web_exception_handlers
from interfaces.web.pages import HERE, PAGE_HEADERS, Pages, forms_only, template_config
from interfaces.web.runs import RunPagesController
from interfaces.web.session import public_middleware, signed_in_middleware
from interfaces.web.signin import PUBLIC_PREFIX, SignInController

__all__ = ["PUBLIC_PREFIX", "template_config", "web_routers"]


def _router(
    handlers: list[ControllerRouterHandler], middleware: list[Middleware], opt: dict[str, Any], pages: Pages
) -> Router:
    """The apps' pages: errors shown as pages, form bodies only, the strict CSP on every answer."""
    return Router(
        path="/",
        route_handlers=handlers,
        middleware=middleware,
        opt=opt,
        exception_handlers=web_exception_handlers(),
        before_request=forms_only,
        response_headers=PAGE_HEADERS,
        include_in_schema=False,
        dependencies={"pages": provided(pages)},
    )


def web_routers(platform: Platform, resources: Resources) -> list[Router]:
    """The apps' routes: public sign-in and static files under /web, the signed-in apps under /app and /admin;
    ``resources`` is the app's authorization guard's, so pages ask about a tenant as the guard does."""
    pages = Pages(platform.authenticator, platform.read_models, resources, platform.settings.http)
    public = _router([SignInController], public_middleware(platform), {}, pages)
    apps = _router(
        [
            CustomerHomeController,
            CatalogPagesController,
            RunPagesController,
            ContractPagesController,
            AdminPagesController,
            AdminPolicyPagesController,
        ],
        signed_in_middleware(platform),
        {"exclude_from_auth": True},  # the API's bearer authentication: these pages prove the session instead
        pages,
    )
    static = create_static_files_router(
        path=f"{PUBLIC_PREFIX}/static", directories=[HERE / "static"], include_in_schema=False
    )
    return [public, apps, static]
