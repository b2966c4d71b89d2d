"""Access over HTTP: a tenant's principals, their roles and API keys, and the denials recorded for it (and the
platform's own)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import select

from application.access import PLATFORM_ISSUER
from domain.access import ApiKey, Principal
from domain.errors import NotFoundError
from domain.values import tenant_id_of
from interfaces.http.context import command_context, id_in_path, platform_of, tenant_in_path
from projections.access import api_keys, denials, principals


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


class PrincipalView(msgspec.Struct, frozen=True):
    principal_id: str
    kind: str
    issuer: str
    subject: str
    display_name: str
    tenant_id: str | None
    roles: list[str]
    registered_at: str
    position: int


class KeyView(msgspec.Struct, frozen=True):
    key_id: str
    prefix: str
    principal_id: str
    status: str
    expires_at: str | None
    created_at: str


class DenialView(msgspec.Struct, frozen=True):
    denial_id: str
    principal_id: str | None
    action: str
    resource: str
    reasons: list[str]
    recorded_at: str
    position: int


def _owned(state: State, kind: type[Principal] | type[ApiKey], raw_id: str, tenant_id: str) -> Any:
    """The principal or key as its events say now, only if it belongs to the tenant in the path (else 404)."""
    what = "principal" if kind is Principal else "API key"
    found = platform_of(state).access.current(id_in_path(raw_id, what))
    if not isinstance(found, kind) or found.tenant_id != str(id_in_path(tenant_id, "tenant")):
        raise NotFoundError(f"no such {what}: {raw_id}")
    return found


class AccessController(Controller):
    """Principals, roles and API keys of one tenant (tenant admins and platform admins)."""

    path = "/v1/tenants/{tenant_id:str}"
    tags = ["access"]

    @post("/principals", sync_to_thread=True, status_code=201, opt={"action": "register_principal"})
    def register(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], data: JSONBody[RegisterPrincipal]
    ) -> dict[str, Any]:
        """Register a person (by identity-provider issuer and subject) or a service of this tenant."""
        access = platform_of(state).access
        tenant = tenant_in_path(tenant_id)
        result = access.register_principal(
            command_context(request), data.kind, data.issuer, data.subject, data.display_name, tenant
        )
        return {"principal_id": str(result.aggregate_id), "position": result.position}

    @get("/principals", sync_to_thread=True, opt={"action": "list_principals"})
    def list_principals(self, state: State, tenant_id: FromPath[str]) -> list[PrincipalView]:
        """The tenant's principals and their roles."""
        query = select(principals).where(principals.c.tenant_id == str(id_in_path(tenant_id, "tenant")))
        read_models = platform_of(state).read_models
        with read_models.engine.connect() as connection:
            rows = [read_models.opened(principals, row) for row in connection.execute(query).all()]
        # Sorted once opened: the subjects are sealed in the database, so SQL cannot order them.
        rows.sort(key=lambda row: (row["subject"], row["principal_id"]))
        return [msgspec.convert(row, PrincipalView) for row in rows]

    @get("/principals/{principal_id:str}", sync_to_thread=True, opt={"action": "read_principal"})
    def read_principal(self, state: State, tenant_id: FromPath[str], principal_id: FromPath[str]) -> PrincipalView:
        query = select(principals).where(principals.c.principal_id == str(id_in_path(principal_id, "principal")))
        read_models = platform_of(state).read_models
        with read_models.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or row.tenant_id != str(id_in_path(tenant_id, "tenant")):
            raise NotFoundError(f"no such principal: {principal_id}")
        return msgspec.convert(read_models.opened(principals, row), PrincipalView)

    @post("/principals/{principal_id:str}/roles", sync_to_thread=True, status_code=202, opt={"action": "grant_role"})
    def grant_role(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        principal_id: FromPath[str],
        data: JSONBody[GrantRole],
    ) -> dict[str, Any]:
        """Grant a role to one of the tenant's principals."""
        _owned(state, Principal, principal_id, tenant_id)
        result = platform_of(state).access.grant_role(command_context(request), uuid.UUID(principal_id), data.role)
        return {"principal_id": principal_id, "position": result.position}

    @delete(
        "/principals/{principal_id:str}/roles/{role:str}",
        sync_to_thread=True,
        status_code=202,
        opt={"action": "revoke_role"},
    )
    def revoke_role(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        principal_id: FromPath[str],
        role: FromPath[str],
    ) -> Response[dict[str, Any]]:
        """Take a role away from one of the tenant's principals."""
        _owned(state, Principal, principal_id, tenant_id)
        result = platform_of(state).access.revoke_role(command_context(request), uuid.UUID(principal_id), role)
        return Response({"principal_id": principal_id, "position": result.position}, status_code=202)

    @post(
        "/principals/{principal_id:str}/api-keys",
        sync_to_thread=True,
        status_code=201,
        opt={"action": "create_api_key"},
    )
    def create_key(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], principal_id: FromPath[str]
    ) -> dict[str, Any]:
        """Issue an API key; its secret is in this answer only (a repeated Idempotency-Key gets no secret)."""
        _owned(state, Principal, principal_id, tenant_id)
        access = platform_of(state).access
        issued = access.create_api_key(
            command_context(request), uuid.UUID(principal_id), tenant_id_of(uuid.UUID(tenant_id))
        )
        return {"key_id": str(issued.key_id), "api_key": issued.token or None, "position": issued.result.position}

    @get("/api-keys", sync_to_thread=True, opt={"action": "list_principals"})
    def list_keys(self, state: State, tenant_id: FromPath[str]) -> list[KeyView]:
        """The tenant's API keys (prefixes and status; never secrets)."""
        query = select(api_keys).where(api_keys.c.tenant_id == str(id_in_path(tenant_id, "tenant")))
        with platform_of(state).read_models.engine.connect() as connection:
            rows = connection.execute(query.order_by(api_keys.c.created_at)).all()
        return [msgspec.convert(row, KeyView, from_attributes=True) for row in rows]

    @post("/api-keys/{key_id:str}/rotate", sync_to_thread=True, status_code=201, opt={"action": "rotate_api_key"})
    def rotate_key(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        key_id: FromPath[str],
        data: JSONBody[RotateKey],
    ) -> dict[str, Any]:
        """Issue a successor key; the old one keeps working for overlap_seconds, then expires."""
        key = _owned(state, ApiKey, key_id, tenant_id)
        issued = platform_of(state).access.rotate_api_key(
            command_context(request),
            uuid.UUID(key_id),
            uuid.UUID(key.principal_id),
            key.tenant_id,
            timedelta(seconds=data.overlap_seconds),
        )
        return {"key_id": str(issued.key_id), "api_key": issued.token or None, "position": issued.result.position}

    @post("/api-keys/{key_id:str}/revoke", sync_to_thread=True, status_code=202, opt={"action": "revoke_api_key"})
    def revoke_key(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        key_id: FromPath[str],
        data: JSONBody[RevokeKey],
    ) -> dict[str, Any]:
        """Revoke an API key at once."""
        _owned(state, ApiKey, key_id, tenant_id)
        result = platform_of(state).access.revoke_api_key(command_context(request), uuid.UUID(key_id), data.reason)
        return {"key_id": key_id, "position": result.position}

    @get("/denials", sync_to_thread=True, opt={"action": "list_denials"})
    def list_denials(
        self,
        state: State,
        tenant_id: FromPath[str],
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[DenialView]:
        """Refused attempts of this tenant's own principals, newest first."""
        return _denials(state, str(id_in_path(tenant_id, "tenant")), limit)


@get("/v1/denials", sync_to_thread=True, tags=["access"], opt={"action": "list_platform_denials"})
def list_platform_denials(state: State, limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100) -> list[DenialView]:
    """Refused attempts recorded in the platform's own log (among them, every attempt on a tenant the caller
    could not see), newest first: platform admins only."""
    return _denials(state, None, limit)


def _denials(state: State, tenant_id: str | None, limit: int) -> list[DenialView]:
    column = denials.c.tenant_id
    query = select(denials).where(column.is_(None) if tenant_id is None else column == tenant_id)
    with platform_of(state).read_models.engine.connect() as connection:
        rows = connection.execute(query.order_by(denials.c.position.desc()).limit(limit)).all()
    return [msgspec.convert(row, DenialView, from_attributes=True) for row in rows]
