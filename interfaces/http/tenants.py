"""Tenant Management over HTTP: the command API and the query API for tenants."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.authorization import Identity
from application.commands import CommandResult
from application.keys import ERASURE_NOTE
from application.tenants import TenantService
from domain.errors import NotFoundError
from interfaces.http.context import command_context, tenant_in_path
from projections.tenant_directory import TenantPage, TenantQueries, TenantView


class OnboardTenant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    slug: Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    plan: str = "trial"


class ChangeEntitlements(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    features: Annotated[list[str], msgspec.Meta(max_length=200)] = []
    quotas: dict[str, int] = {}


class Reason(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class Offboard(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    erase: bool = False


class Accepted(msgspec.Struct, frozen=True):
    tenant_id: str
    position: int


class Offboarded(msgspec.Struct, frozen=True, omit_defaults=True):
    tenant_id: str
    position: int
    erasure: str | None = None
    """With erase: how the erasure is completed (rotate the KEK, retire the old ones)."""


def _accepted(result: CommandResult, status: int) -> Response[Accepted]:
    headers = {"Location": f"/v1/tenants/{result.aggregate_id}"} if status == 201 else {}
    return Response(Accepted(str(result.aggregate_id), result.position), status_code=status, headers=headers)


class TenantController(Controller):
    """Commands answer with the position of their last event; queries honour X-Consistent-Position."""

    path = "/v1/tenants"
    tags = ["tenants"]

    # Commands

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "onboard_tenant"})
    def onboard(
        self, request: Request[Any, Any, Any], tenants: NamedDependency[TenantService], data: JSONBody[OnboardTenant]
    ) -> Response[Accepted]:
        """Onboard a tenant under a new slug."""
        result = tenants.onboard_tenant(command_context(request), data.slug, data.display_name, data.plan)
        return _accepted(result, 201)

    @post("/{tenant_id:str}/entitlements", sync_to_thread=True, status_code=202, opt={"action": "change_entitlements"})
    def change_entitlements(
        self,
        request: Request[Any, Any, Any],
        tenants: NamedDependency[TenantService],
        tenant_id: FromPath[str],
        data: JSONBody[ChangeEntitlements],
    ) -> Response[Accepted]:
        """Replace a tenant's features and quotas."""
        result = tenants.change_entitlements(
            command_context(request), tenant_in_path(tenant_id), list(data.features), dict(data.quotas)
        )
        return _accepted(result, 202)

    @post("/{tenant_id:str}/suspend", sync_to_thread=True, status_code=202, opt={"action": "suspend_tenant"})
    def suspend(
        self,
        request: Request[Any, Any, Any],
        tenants: NamedDependency[TenantService],
        tenant_id: FromPath[str],
        data: JSONBody[Reason],
    ) -> Response[Accepted]:
        """Suspend an active tenant."""
        result = tenants.suspend_tenant(command_context(request), tenant_in_path(tenant_id), data.reason)
        return _accepted(result, 202)

    @post("/{tenant_id:str}/reinstate", sync_to_thread=True, status_code=202, opt={"action": "reinstate_tenant"})
    def reinstate(
        self, request: Request[Any, Any, Any], tenants: NamedDependency[TenantService], tenant_id: FromPath[str]
    ) -> Response[Accepted]:
        """Reinstate a suspended tenant."""
        return _accepted(tenants.reinstate_tenant(command_context(request), tenant_in_path(tenant_id)), 202)

    @post("/{tenant_id:str}/offboard", sync_to_thread=True, status_code=202, opt={"action": "offboard_tenant"})
    def offboard(
        self,
        request: Request[Any, Any, Any],
        tenants: NamedDependency[TenantService],
        tenant_id: FromPath[str],
        data: JSONBody[Offboard],
    ) -> Response[Offboarded]:
        """Offboard an active tenant for good; with erase, its data key is destroyed (crypto-shredding), and the
        answer says how to complete the erasure (rotate the key-encryption key, retire the old one)."""
        context = command_context(request)
        result = tenants.offboard_tenant(context, tenant_in_path(tenant_id), data.reason, erase=data.erase)
        erasure = ERASURE_NOTE if data.erase else None
        return Response(Offboarded(str(result.aggregate_id), result.position, erasure), status_code=202)

    # Queries, served from the tenant directory read model

    @get("/", sync_to_thread=True, opt={"action": "list_tenants"})
    def list_tenants(
        self,
        request: Request[Any, Any, Any],
        tenant_queries: NamedDependency[TenantQueries],
        status: Annotated[str | None, QueryParameter(pattern="^(active|suspended|offboarded)$")] = None,
        after: Annotated[str | None, QueryParameter(max_length=63)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> TenantPage:
        """List tenants by slug (a tenant's own principals see only their tenant); page on with next_after."""
        identity: Identity = request.auth
        only = None if identity.platform_admin else identity.tenant_id or "-"
        return tenant_queries.page(status, after, limit, only)

    @get("/{tenant_id:str}", sync_to_thread=True, opt={"action": "read_tenant"})
    def get_tenant(self, tenant_queries: NamedDependency[TenantQueries], tenant_id: FromPath[str]) -> TenantView:
        """One tenant as the read model has it."""
        found = tenant_queries.tenant(str(tenant_in_path(tenant_id)))
        if found is None:
            msg = f"no such tenant: {tenant_id}"
            raise NotFoundError(msg)
        return found
