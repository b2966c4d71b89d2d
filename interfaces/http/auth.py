"""Authentication middleware and the authorization guard: every route needs an identity and Cedar's permit.

A route names its Cedar action in ``opt={"action": ...}``; a route without one is refused (deny by default).
The decision is the one authorization path's (``application/authorization.py``): a principal asking about another
tenant gets 404, not 403, exactly as for a tenant that does not exist, so tenants cannot probe for each other;
refused commands are recorded as Denial events (about another tenant: in the platform's).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Guard

from adapters.keys import EnvelopeCipher
from application.authentication import Authentication, AuthenticationError
from application.authorization import Authorization, Decision, Identity, Resource, TenantHidden, sees
from interfaces.bootstrap import Platform
from interfaces.http.context import CONSISTENT_POSITION, command_context, id_in_path, wait_for_consistency
from interfaces.http.erased import TENANT_DATA, erased, gone
from projections.tenant_directory import TenantQueries

log = logging.getLogger(__name__)
PUBLIC_PATHS = ("/health", "/schema", "/ready", "/metrics", "/web")  # /metrics checks its credentials itself;
# /web: the apps' sign-in pages and static files (interfaces/web)
COMMAND_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, authenticator: Authentication, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude)
        self.authenticator = authenticator

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        authorization, api_key = connection.headers.get("authorization"), connection.headers.get("x-api-key")
        tenant_id = _path_tenant(connection)
        identity = self.authenticator.recently_proven(authorization, api_key, tenant_id)
        if identity is not None:
            return AuthenticationResult(user=identity, auth=identity)
        try:
            identity = await anyio.to_thread.run_sync(
                self.authenticator.authenticate, authorization, api_key, tenant_id
            )
        except AuthenticationError as error:
            log.info("authentication failed on %s %s: %s", connection.scope.get("method"), connection.url.path, error)
            challenge = 'Bearer realm="platform", error="invalid_token"' if authorization or api_key else "Bearer"
            raise NotAuthorizedException(
                "valid credentials are required", headers={"WWW-Authenticate": challenge}
            ) from None
        return AuthenticationResult(user=identity, auth=identity)


def _path_tenant(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The tenant a request is about (its path's ``tenant_id``, canonical), whose membership the caller acts through."""
    raw = connection.path_params.get("tenant_id")
    try:
        return str(uuid.UUID(str(raw))) if raw is not None else None
    except ValueError:
        return None


def authentication_middleware(authenticator: Authentication) -> DefineMiddleware:
    return DefineMiddleware(
        AuthenticationMiddleware, authenticator=authenticator, exclude=[f"^{path}" for path in PUBLIC_PATHS]
    )


class RecentResources:
    """Tenants as queries last saw them, for at most ``seconds``: a query's authorization needs no extra read.

    Commands never use it (they see the tenant as its events say now), nor does a query that asks for
    X-Consistent-Position (it sees the read model it waited for).
    """

    def __init__(self, seconds: float = 1.0, size: int = 10_000) -> None:
        self.seconds, self.size = seconds, size
        self._found: dict[str, tuple[float, Resource]] = {}

    def get(self, tenant_id: str) -> Resource | None:
        found = self._found.get(tenant_id)
        return found[1] if found is not None and found[0] > time.monotonic() else None

    def put(self, resource: Resource) -> None:
        if len(self._found) >= self.size:
            self._found.clear()
        self._found[resource.id] = (time.monotonic() + self.seconds, resource)


class Resources:
    """What a request acts on, as the one authorization path is asked about it: the tenant its path names, else the
    platform. Commands see the tenant as its events say now; queries see the read model they are about to read
    (``recent`` keeps what queries saw for a second)."""

    def __init__(self, authorization: Authorization, tenants: TenantQueries) -> None:
        self.authorization, self.tenants = authorization, tenants
        self.recent = RecentResources()

    def find(self, path_params: Mapping[str, Any], command: bool) -> Resource | None:
        """The tenant named in the path (None when there is no such tenant), else the platform."""
        if "tenant_id" not in path_params:
            return Resource.platform()
        tenant_id = str(id_in_path(str(path_params["tenant_id"])))
        if command:
            return self.authorization.tenant_now(tenant_id)
        found = self.tenants.tenant(tenant_id)
        return None if found is None else Resource.tenant(tenant_id, found.status, list(found.features))

    def seen_by_queries(self, tenant_id: str) -> Resource:
        """The tenant as queries see it (404 for no such tenant), remembered for the next second."""
        resource = self.recent.get(tenant_id)
        if resource is None:
            resource = self.find({"tenant_id": tenant_id}, False)
            if resource is None:
                raise TenantHidden(tenant_id)
            self.recent.put(resource)  # only a fresh read: what was seen stays at most a second
        return resource

    def allows(self, identity: Identity, action: str, resource: Resource) -> bool:
        return self.authorization.decide(identity, action, resource).allowed


async def _resource(
    connection: ASGIConnection[Any, Any, Any, Any], resources: Resources, command: bool
) -> tuple[Resource, bool]:
    """The resource and whether it exists; a tenant that does not is asked about as one of status "unknown"."""
    params = dict(connection.path_params)
    cacheable = not command and "tenant_id" in params and CONSISTENT_POSITION not in connection.headers
    found = resources.recent.get(str(params["tenant_id"])) if cacheable else None
    if found is None:
        found = await anyio.to_thread.run_sync(resources.find, params, command)
        if found is None:
            return Resource.tenant(str(id_in_path(str(params["tenant_id"]))), "unknown", []), False
        if cacheable:
            resources.recent.put(found)
    return found, True


def authorization_guard(platform: Platform, resources: Resources) -> Guard:
    """The guard on every route: honours X-Consistent-Position, then the one authorization path decides.

    A tenant the caller cannot see is answered 404 whether it exists or not, with the same work on both paths:
    the policy engine is asked, and a refused command is recorded in the platform's log, never in that tenant's.
    """

    async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if CONSISTENT_POSITION in connection.headers:
            await anyio.to_thread.run_sync(wait_for_consistency, connection, platform)
        if connection.url.path.startswith(PUBLIC_PATHS):
            return
        identity: Identity = connection.auth
        action = handler.opt.get("action")
        if not action:
            raise PermissionDeniedException("this route declares no action, so nobody may use it")
        command = connection.scope.get("method") in COMMAND_METHODS
        resource, exists = await _resource(connection, resources, command)
        if _serves_tenant_data(connection, handler):
            exists = await _refuse_erased(platform.cipher, identity, resource, exists)
        decision = platform.authorization.decide(identity, action, resource)
        if not (decision.allowed and exists):
            await _refuse(connection, platform.authorization, (identity, action, resource, decision), exists)

    return authorize


async def _refuse(
    connection: ASGIConnection[Any, Any, Any, Any],
    authorization: Authorization,
    asked: tuple[Identity, str, Resource, Decision],
    exists: bool,
) -> None:
    """The refusal (403, or 404 about a tenant the caller cannot see); refused commands record a denial."""
    identity, action, resource, decision = asked
    recorded = connection.scope.get("method") in COMMAND_METHODS and (exists or not sees(identity, resource))
    context = command_context(connection) if recorded else None
    named = connection.path_params.get("tenant_id")
    await anyio.to_thread.run_sync(
        lambda: authorization.refuse(identity, action, resource, decision, command=context, exists=exists, named=named)
    )


def _serves_tenant_data(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> bool:
    return bool(handler.opt.get(TENANT_DATA)) and "tenant_id" in connection.path_params


async def _refuse_erased(cipher: EnvelopeCipher, identity: Identity, resource: Resource, exists: bool) -> bool:
    """410 to a platform admin when the tenant was erased. Whether the tenant is to be treated as existing: not
    when it was erased and the caller is anyone else, who is answered as about no tenant at all (the one 404)."""
    if not exists or not await anyio.to_thread.run_sync(erased, cipher, resource):
        return exists
    if identity.platform_admin:
        raise gone(resource.id)
    return False
