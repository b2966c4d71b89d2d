"""Access over HTTP: a tenant's principals, their roles and API keys, and the denials recorded for it (and the
platform's own)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.access import PLATFORM_ISSUER, IssuedKey
from application.tenant_access import TenantAccess
from domain.errors import NotFoundError
from domain.values import TenantId
from interfaces.http.context import command_context, id_in_path, tenant_in_path
from projections.access import AccessQueries, DenialView, KeyView, PrincipalView


class RegisterPrincipal(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: str
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    issuer: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] = PLATFORM_ISSUER


class GrantRole(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: str


class RotateKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    overlap_seconds: Annotated[int, msgspec.Meta(ge=0, le=30 * 24 * 3600)] = 3600


class RevokeKey(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class PrincipalAccepted(msgspec.Struct, frozen=True):
    principal_id: str
    position: int


class KeyIssued(msgspec.Struct, frozen=True):
    key_id: str
    api_key: str | None
    """The key's secret, in this answer only (none when a repeated Idempotency-Key replays the command)."""
    position: int


class KeyAccepted(msgspec.Struct, frozen=True):
    key_id: str
    position: int


def _issued(issued: IssuedKey) -> KeyIssued:
    return KeyIssued(str(issued.key_id), issued.token or None, issued.result.position)


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


class AccessController(Controller):
    """Principals, roles and API keys of one tenant (tenant admins and platform admins)."""

    path = "/v1/tenants/{tenant_id:str}"
    tags = ["access"]

    @post("/principals", sync_to_thread=True, status_code=201, opt={"action": "register_principal"})
    def register(
        self,
        request: Request[Any, Any, Any],
        tenant_access: NamedDependency[TenantAccess],
        tenant_id: FromPath[str],
        data: JSONBody[RegisterPrincipal],
    ) -> PrincipalAccepted:
        """Register a person (by identity-provider issuer and subject) or a service of this tenant."""
        context, tenant = command_context(request), _tenant(tenant_id)
        result = tenant_access.register_principal(
            context, tenant, data.kind, data.issuer, data.subject, data.display_name
        )
        return PrincipalAccepted(str(result.aggregate_id), result.position)

    @get("/principals", sync_to_thread=True, opt={"action": "list_principals"})
    def list_principals(
        self, access_queries: NamedDependency[AccessQueries], tenant_id: FromPath[str]
    ) -> list[PrincipalView]:
        """The tenant's principals and their roles."""
        return access_queries.principals(_tenant(tenant_id))

    @get("/principals/{principal_id:str}", sync_to_thread=True, opt={"action": "read_principal"})
    def read_principal(
        self, access_queries: NamedDependency[AccessQueries], tenant_id: FromPath[str], principal_id: FromPath[str]
    ) -> PrincipalView:
        found = access_queries.principal(_tenant(tenant_id), str(id_in_path(principal_id, "principal")))
        if found is None:
            raise NotFoundError(f"no such principal: {principal_id}")
        return found

    @post("/principals/{principal_id:str}/roles", sync_to_thread=True, status_code=202, opt={"action": "grant_role"})
    def grant_role(
        self,
        request: Request[Any, Any, Any],
        tenant_access: NamedDependency[TenantAccess],
        tenant_id: FromPath[str],
        principal_id: FromPath[str],
        data: JSONBody[GrantRole],
    ) -> PrincipalAccepted:
        """Grant a role to one of the tenant's principals."""
        principal = id_in_path(principal_id, "principal")
        result = tenant_access.grant_role(command_context(request), _tenant(tenant_id), principal, data.role)
        return PrincipalAccepted(principal_id, result.position)

    @delete(
        "/principals/{principal_id:str}/roles/{role:str}",
        sync_to_thread=True,
        status_code=202,
        opt={"action": "revoke_role"},
    )
    def revoke_role(
        self,
        request: Request[Any, Any, Any],
        tenant_access: NamedDependency[TenantAccess],
        tenant_id: FromPath[str],
        principal_id: FromPath[str],
        role: FromPath[str],
    ) -> Response[PrincipalAccepted]:
        """Take a role away from one of the tenant's principals."""
        principal = id_in_path(principal_id, "principal")
        result = tenant_access.revoke_role(command_context(request), _tenant(tenant_id), principal, role)
        return Response(PrincipalAccepted(principal_id, result.position), status_code=202)

    @post(
        "/principals/{principal_id:str}/api-keys",
        sync_to_thread=True,
        status_code=201,
        opt={"action": "create_api_key"},
    )
    def create_key(
        self,
        request: Request[Any, Any, Any],
        tenant_access: NamedDependency[TenantAccess],
        tenant_id: FromPath[str],
        principal_id: FromPath[str],
    ) -> KeyIssued:
        """Issue an API key; its secret is in this answer only (a repeated Idempotency-Key gets no secret)."""
        principal = id_in_path(principal_id, "principal")
        return _issued(tenant_access.create_api_key(command_context(request), _tenant(tenant_id), principal))

    @get("/api-keys", sync_to_thread=True, opt={"action": "list_principals"})
    def list_keys(self, access_queries: NamedDependency[AccessQueries], tenant_id: FromPath[str]) -> list[KeyView]:
        """The tenant's API keys (prefixes and status; never secrets)."""
        return access_queries.keys(_tenant(tenant_id))

    @post("/api-keys/{key_id:str}/rotate", sync_to_thread=True, status_code=201, opt={"action": "rotate_api_key"})
    def rotate_key(
        self,
        request: Request[Any, Any, Any],
        tenant_access: NamedDependency[TenantAccess],
        tenant_id: FromPath[str],
        key_id: FromPath[str],
        data: JSONBody[RotateKey],
    ) -> KeyIssued:
        """Issue a successor key; the old one keeps working for overlap_seconds, then expires."""
        key, overlap = id_in_path(key_id, "API key"), timedelta(seconds=data.overlap_seconds)
        return _issued(tenant_access.rotate_api_key(command_context(request), _tenant(tenant_id), key, overlap))

    @post("/api-keys/{key_id:str}/revoke", sync_to_thread=True, status_code=202, opt={"action": "revoke_api_key"})
    def revoke_key(
        self,
        request: Request[Any, Any, Any],
        tenant_access: NamedDependency[TenantAccess],
        tenant_id: FromPath[str],
        key_id: FromPath[str],
        data: JSONBody[RevokeKey],
    ) -> KeyAccepted:
        """Revoke an API key at once."""
        key = id_in_path(key_id, "API key")
        result = tenant_access.revoke_api_key(command_context(request), _tenant(tenant_id), key, data.reason)
        return KeyAccepted(key_id, result.position)

    @get("/denials", sync_to_thread=True, opt={"action": "list_denials"})
    def list_denials(
        self,
        access_queries: NamedDependency[AccessQueries],
        tenant_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[DenialView]:
        """Refused attempts of this tenant's own principals, newest first."""
        return access_queries.denials(_tenant(tenant_id), limit)


@get("/v1/denials", sync_to_thread=True, tags=["access"], opt={"action": "list_platform_denials"})
def list_platform_denials(
    access_queries: NamedDependency[AccessQueries], limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100
) -> list[DenialView]:
    """Refused attempts recorded in the platform's own log (among them, every attempt on a tenant the caller
    could not see), newest first: platform admins only."""
    return access_queries.denials(None, limit)
