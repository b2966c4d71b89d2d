"""Secrets over HTTP: a tenant stores, lists and deletes named secrets. No response ever carries a value."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.secrets import SecretService, SecretWritten
from domain.secrets import MAX_VALUE_CHARS
from interfaces.http.context import command_context, tenant_in_path
from projections.secrets import SecretPage, SecretQueries


class PutSecret(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    value: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_VALUE_CHARS)]


class SecretAccepted(msgspec.Struct, frozen=True):
    name: str
    version: int
    position: int


def _accepted(written: SecretWritten) -> SecretAccepted:
    return SecretAccepted(written.name, written.version, written.result.position)


class SecretController(Controller):
    """A tenant's secrets: values go in, only names, versions and fingerprints come out."""

    path = "/v1/tenants/{tenant_id:str}/secrets"
    tags = ["secrets"]

    @put(
        "/{name:str}",
        sync_to_thread=True,
        status_code=202,
        opt={"action": "put_secret", "opaque_fields": ("/value",)},  # the input guard refuses only NUL in it
    )
    def put_secret(
        self,
        request: Request[Any, Any, Any],
        secrets: NamedDependency[SecretService],
        tenant_id: FromPath[str],
        name: FromPath[str],
        data: JSONBody[PutSecret],
    ) -> SecretAccepted:
        """Store a secret under a name, or give it a new value (a new version). The value is never echoed."""
        return _accepted(secrets.put_secret(command_context(request), tenant_in_path(tenant_id), name, data.value))

    @delete("/{name:str}", sync_to_thread=True, status_code=202, opt={"action": "delete_secret"})
    def delete_secret(
        self,
        request: Request[Any, Any, Any],
        secrets: NamedDependency[SecretService],
        tenant_id: FromPath[str],
        name: FromPath[str],
    ) -> SecretAccepted:
        """Delete a secret."""
        return _accepted(secrets.delete_secret(command_context(request), tenant_in_path(tenant_id), name))

    @get("/", sync_to_thread=True, opt={"action": "list_secrets"})
    def list_secrets(
        self,
        secret_queries: NamedDependency[SecretQueries],
        tenant_id: FromPath[str],
        after: Annotated[str | None, QueryParameter(max_length=128)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> SecretPage:
        """List a tenant's secrets by name (names, versions and fingerprints only); page on with next_after."""
        return secret_queries.page(str(tenant_in_path(tenant_id)), after, limit)
