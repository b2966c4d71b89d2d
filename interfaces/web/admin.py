"""Admin App: tenants listed, onboarded, suspended and reinstated, through the API's ``TenantService`` and
``TenantQueries`` under the same Cedar actions (platform admins)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from application.authorization import Identity
from application.tenants import TenantService
from interfaces.http.context import command_context, tenant_in_path
from interfaces.web.pages import Form, Pages, page
from projections.tenant_directory import TenantQueries

PLANS = ("trial", "standard", "enterprise")


class OnboardForm(msgspec.Struct, frozen=True):
    slug: Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    plan: Annotated[str, msgspec.Meta(max_length=40)] = "trial"


class ReasonForm(msgspec.Struct, frozen=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class AdminPagesController(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/", sync_to_thread=True, opt={"action": "list_tenants"})
    def tenants(
        self,
        request: Request[Any, Any, Any],
        tenant_queries: NamedDependency[TenantQueries],
        status: Annotated[str, QueryParameter(pattern="^(|active|suspended|offboarded)$")] = "",
        after: Annotated[str | None, QueryParameter(max_length=63)] = None,
    ) -> Template:
        """Every tenant by slug, a page at a time, with the onboarding form."""
        identity: Identity = request.auth
        only = None if identity.platform_admin else identity.tenant_id or "-"  # as GET /v1/tenants: own tenant only
        found = tenant_queries.page(status or None, after, 100, only)
        return page(
            "tenants.html", request, tenants=found.items, next_after=found.next_after, status=status, plans=PLANS
        )

    @post("/tenants", sync_to_thread=True, opt={"action": "onboard_tenant"})
    def onboard(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        tenants: NamedDependency[TenantService],
        data: Annotated[OnboardForm, Form],
    ) -> Redirect:
        """Onboard a tenant (the API's onboard_tenant)."""
        result = tenants.onboard_tenant(command_context(request), data.slug, data.display_name, data.plan)
        return pages.after_command(result, "/admin/")

    @post("/tenants/{tenant_id:str}/suspend", sync_to_thread=True, opt={"action": "suspend_tenant"})
    def suspend(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        tenants: NamedDependency[TenantService],
        tenant_id: FromPath[str],
        data: Annotated[ReasonForm, Form],
    ) -> Redirect:
        """Suspend an active tenant, with a reason."""
        result = tenants.suspend_tenant(command_context(request), tenant_in_path(tenant_id), data.reason)
        return pages.after_command(result, "/admin/")

    @post("/tenants/{tenant_id:str}/reinstate", sync_to_thread=True, opt={"action": "reinstate_tenant"})
    def reinstate(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        tenants: NamedDependency[TenantService],
        tenant_id: FromPath[str],
    ) -> Redirect:
        """Reinstate a suspended tenant."""
        result = tenants.reinstate_tenant(command_context(request), tenant_in_path(tenant_id))
        return pages.after_command(result, "/admin/")
