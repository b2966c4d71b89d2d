"""Tenant Management over HTTP: the command API and the query API for tenants."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from application.authorization import Identity
from application.commands import CommandResult
from application.keys import ERASURE_NOTE
from domain.errors import NotFoundError
from interfaces.http.context import command_context, id_in_path, platform_of, tenant_in_path
from projections.tenant_directory import get_query, list_query


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


class TenantView(msgspec.Struct, frozen=True):
    tenant_id: str
    slug: str
    display_name: str
    plan: str
    status: str
    status_reason: str | None
    features: list[str]
    quotas: dict[str, int]
    onboarded_at: str
    updated_at: str
    version: int
    position: int


class TenantPage(msgspec.Struct, frozen=True):
    items: list[TenantView]
    next_after: str | None


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
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[OnboardTenant]
    ) -> Response[Accepted]:
        """Onboard a tenant under a new slug."""
        tenants = platform_of(state).tenants
        result = tenants.onboard_tenant(command_context(request), data.slug, data.display_name, data.plan)
        return _accepted(result, 201)

    @post("/{tenant_id:str}/entitlements", sync_to_thread=True, status_code=202, opt={"action": "change_entitlements"})
    def change_entitlements(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        data: JSONBody[ChangeEntitlements],
    ) -> Response[Accepted]:
        """Replace a tenant's features and quotas."""
        tenants = platform_of(state).tenants
        result = tenants.change_entitlements(
            command_context(request), tenant_in_path(tenant_id), list(data.features), dict(data.quotas)
        )
        return _accepted(result, 202)

    @post("/{tenant_id:str}/suspend", sync_to_thread=True, status_code=202, opt={"action": "suspend_tenant"})
    def suspend(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], data: JSONBody[Reason]
    ) -> Response[Accepted]:
        """Suspend an active tenant."""
        tenants = platform_of(state).tenants
        result = tenants.suspend_tenant(command_context(request), tenant_in_path(tenant_id), data.reason)
        return _accepted(result, 202)

    @post("/{tenant_id:str}/reinstate", sync_to_thread=True, status_code=202, opt={"action": "reinstate_tenant"})
    def reinstate(self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str]) -> Response[Accepted]:
        """Reinstate a suspended tenant."""
        tenants = platform_of(state).tenants
        return _accepted(tenants.reinstate_tenant(command_context(request), tenant_in_path(tenant_id)), 202)

    @post("/{tenant_id:str}/offboard", sync_to_thread=True, status_code=202, opt={"action": "offboard_tenant"})
    def offboard(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], data: JSONBody[Offboard]
    ) -> Response[Offboarded]:
        """Offboard an active tenant for good; with erase, its data key is destroyed (crypto-shredding), and the
        answer says how to complete the erasure (rotate the key-encryption key, retire the old one)."""
        tenants = platform_of(state).tenants
        context = command_context(request)
        result = tenants.offboard_tenant(context, tenant_in_path(tenant_id), data.reason, erase=data.erase)
        erasure = ERASURE_NOTE if data.erase else None
        return Response(Offboarded(str(result.aggregate_id), result.position, erasure), status_code=202)

    # Queries, served from the tenant directory read model

    @get("/", sync_to_thread=True, opt={"action": "list_tenants"})
    def list_tenants(
        self,
        request: Request[Any, Any, Any],
        state: State,
        status: Annotated[str | None, QueryParameter(pattern="^(active|suspended|offboarded)$")] = None,
        after: Annotated[str | None, QueryParameter(max_length=63)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> TenantPage:
        """List tenants by slug (a tenant's own principals see only their tenant); page on with next_after."""
        platform = platform_of(state)
        identity: Identity = request.auth
        only = None if identity.platform_admin else identity.tenant_id or "-"
        with platform.read_models.engine.connect() as connection:
            rows = connection.execute(list_query(status, after, limit, only)).all()
        items = [msgspec.convert(row, TenantView, from_attributes=True) for row in rows]
        return TenantPage(items=items, next_after=items[-1].slug if len(items) == limit else None)

    @get("/{tenant_id:str}", sync_to_thread=True, opt={"action": "read_tenant"})
    def get_tenant(self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str]) -> TenantView:
        """One tenant as the read model has it."""
        platform = platform_of(state)
        with platform.read_models.engine.connect() as connection:
            row = connection.execute(get_query(str(id_in_path(tenant_id)))).first()
        if row is None:
            msg = f"no such tenant: {tenant_id}"
            raise NotFoundError(msg)
        return msgspec.convert(row, TenantView, from_attributes=True)
