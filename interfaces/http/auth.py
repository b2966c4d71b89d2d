"""Authentication middleware and the authorization guard: every route needs an identity and Cedar's permit.

A route names its Cedar action in ``opt={"action": ...}``; a route without one is refused (deny by default).
A principal asking about another tenant gets 404, not 403, so tenants cannot probe for each other.
Refused commands are recorded as Denial events.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware

from adapters.auth.cedar import Decision, Resource
from adapters.auth.identity import ANONYMOUS_ADMIN, AuthenticationError, Identity
from adapters.auth.refusals import unmet_conditions
from domain.errors import NotFoundError
from interfaces.bootstrap import Platform
from interfaces.http.context import CONSISTENT_POSITION, command_context, id_in_path, wait_for_consistency
from projections.tenant_directory import get_query

log = logging.getLogger(__name__)
PUBLIC_PATHS = ("/health", "/schema", "/ready", "/metrics")  # /metrics checks its credentials itself
COMMAND_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _platform(connection: ASGIConnection[Any, Any, Any, Any]) -> Platform:
    platform: Platform = connection.app.state.platform
    return platform


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        platform = _platform(connection)
        if platform.settings.auth == "off":
            return AuthenticationResult(user=ANONYMOUS_ADMIN, auth=ANONYMOUS_ADMIN)
        authorization, api_key = connection.headers.get("authorization"), connection.headers.get("x-api-key")
        identity = platform.authenticator.recently_proven(authorization, api_key)
        if identity is not None:
            return AuthenticationResult(user=identity, auth=identity)
        try:
            identity = await anyio.to_thread.run_sync(platform.authenticator.authenticate, authorization, api_key)
        except AuthenticationError as error:
            log.info("authentication failed on %s %s: %s", connection.scope.get("method"), connection.url.path, error)
            challenge = 'Bearer realm="platform", error="invalid_token"' if authorization or api_key else "Bearer"
            raise NotAuthorizedException(
                "valid credentials are required", headers={"WWW-Authenticate": challenge}
            ) from None
        return AuthenticationResult(user=identity, auth=identity)


def authentication_middleware() -> DefineMiddleware:
    return DefineMiddleware(AuthenticationMiddleware, exclude=[f"^{path}" for path in PUBLIC_PATHS])


def resolve_resource(platform: Platform, path_params: dict[str, Any], command: bool) -> Resource:
    """The resource a route acts on: the tenant named in its path, else the platform.

    Commands see the tenant as its events say now; queries see the read model they are about to read.
    """
    if "tenant_id" not in path_params:
        return Resource.platform()
    raw = str(path_params["tenant_id"])
    tenant_id = id_in_path(raw)
    if command:
        tenant = platform.tenants.current_tenant(tenant_id)
        if tenant is None:
            raise NotFoundError(f"no such tenant: {raw}")
        return Resource.tenant(str(tenant_id), tenant.status, list(tenant.features))
    with platform.read_models.engine.connect() as connection:
        row = connection.execute(get_query(str(tenant_id))).first()
    if row is None:
        raise NotFoundError(f"no such tenant: {raw}")
    return Resource.tenant(str(tenant_id), row.status, list(row.features))


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


async def _resource(connection: ASGIConnection[Any, Any, Any, Any], platform: Platform, command: bool) -> Resource:
    params = dict(connection.path_params)
    recent: RecentResources = connection.app.state.recent_resources
    cacheable = not command and "tenant_id" in params and CONSISTENT_POSITION not in connection.headers
    found = recent.get(str(params["tenant_id"])) if cacheable else None
    if found is None:
        found = await anyio.to_thread.run_sync(resolve_resource, platform, params, command)
        if cacheable:
            recent.put(found)
    return found


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The guard on every route: honours X-Consistent-Position, then Cedar decides; deny by default."""
    platform = _platform(connection)
    if CONSISTENT_POSITION in connection.headers:
        await anyio.to_thread.run_sync(wait_for_consistency, connection, platform)
    if platform.settings.auth == "off" or connection.url.path.startswith(PUBLIC_PATHS):
        return
    identity: Identity = connection.auth
    action = handler.opt.get("action")
    if not action:
        raise PermissionDeniedException("this route declares no action, so nobody may use it")
    command = connection.scope.get("method") in COMMAND_METHODS
    resource = await _resource(connection, platform, command)
    decision = platform.policies.authorize(identity, action, resource)
    platform.decisions.record(identity, action, resource, decision)
    connection.state.decision = decision
    if decision.allowed:
        return
    await record_denial(connection, platform, identity, action, resource, _reasons(decision))
    if resource.type == "Tenant" and not identity.platform_admin and identity.tenant_id != resource.id:
        raise NotFoundError(f"no such tenant: {resource.id}")
    unmet = "; ".join(unmet_conditions(decision, resource))
    raise PermissionDeniedException(f"{action} is not permitted here" + (f": {unmet}" if unmet else ""))


def _reasons(decision: Decision) -> list[str]:
    if decision.policy_ids:
        return [f"forbidden by {policy}" for policy in decision.policy_ids]
    return ["no policy permits it", *decision.errors]


async def record_denial(
    connection: ASGIConnection[Any, Any, Any, Any],
    platform: Platform,
    identity: Identity,
    action: str,
    resource: Resource,
    reasons: list[str],
) -> None:
    if connection.scope.get("method") not in COMMAND_METHODS:
        return
    context = command_context(connection)
    tenant_id = resource.id if resource.type == "Tenant" else identity.tenant_id
    await anyio.to_thread.run_sync(
        lambda: platform.access.record_denial(
            context, identity.principal_id, action, resource.label, reasons, tenant_id
        )
    )
