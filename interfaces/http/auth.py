"""Authentication middleware and the authorization guard: every route needs an identity and Cedar's permit.

A route names its Cedar action in ``opt={"action": ...}``; a route without one is refused (deny by default).
A principal asking about another tenant gets 404, not 403, exactly as for a tenant that does not exist, so tenants
cannot probe for each other. Refused commands are recorded as Denial events (about another tenant: in the platform's).
"""

from __future__ import annotations

import logging
import time
import uuid
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
from domain.values import tenant_id_of, tenant_id_or_none
from interfaces.bootstrap import Platform
from interfaces.http.context import CONSISTENT_POSITION, command_context, id_in_path, wait_for_consistency
from interfaces.http.erased import TENANT_DATA, erased, gone
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
        tenant_id = _path_tenant(connection)
        identity = platform.authenticator.recently_proven(authorization, api_key, tenant_id)
        if identity is not None:
            return AuthenticationResult(user=identity, auth=identity)
        try:
            identity = await anyio.to_thread.run_sync(
                platform.authenticator.authenticate, authorization, api_key, tenant_id
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


def authentication_middleware() -> DefineMiddleware:
    return DefineMiddleware(AuthenticationMiddleware, exclude=[f"^{path}" for path in PUBLIC_PATHS])


def resolve_resource(platform: Platform, path_params: dict[str, Any], command: bool) -> Resource:
    """The resource a route acts on: the tenant named in its path, else the platform (404 for no such tenant)."""
    resource = find_resource(platform, path_params, command)
    if resource is None:
        raise no_such_tenant(str(path_params["tenant_id"]))
    return resource


def find_resource(platform: Platform, path_params: dict[str, Any], command: bool) -> Resource | None:
    """The tenant named in the path (None when there is no such tenant), else the platform.

    Commands see the tenant as its events say now; queries see the read model they are about to read.
    """
    if "tenant_id" not in path_params:
        return Resource.platform()
    tenant_id = id_in_path(str(path_params["tenant_id"]))
    if command:
        tenant = platform.tenants.current_tenant(tenant_id_of(tenant_id))
        return None if tenant is None else Resource.tenant(str(tenant_id), tenant.status, list(tenant.features))
    with platform.read_models.engine.connect() as connection:
        row = connection.execute(get_query(str(tenant_id))).first()
    return None if row is None else Resource.tenant(str(tenant_id), row.status, list(row.features))


def no_such_tenant(raw: str) -> NotFoundError:
    """The one answer about a tenant the caller cannot see, whether it exists or not: the path segment as given."""
    return NotFoundError(f"no such tenant: {raw}")


def sees(identity: Identity, resource: Resource) -> bool:
    """Whether the resource is one the caller may know of: the platform, their own tenant, or (admins) any."""
    return resource.type != "Tenant" or identity.platform_admin or identity.tenant_id == resource.id


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


async def _resource(
    connection: ASGIConnection[Any, Any, Any, Any], platform: Platform, command: bool
) -> tuple[Resource, bool]:
    """The resource and whether it exists; a tenant that does not is asked about as one of status "unknown"."""
    params = dict(connection.path_params)
    recent: RecentResources = connection.app.state.recent_resources
    cacheable = not command and "tenant_id" in params and CONSISTENT_POSITION not in connection.headers
    found = recent.get(str(params["tenant_id"])) if cacheable else None
    if found is None:
        found = await anyio.to_thread.run_sync(find_resource, platform, params, command)
        if found is None:
            return Resource.tenant(str(id_in_path(str(params["tenant_id"]))), "unknown", []), False
        if cacheable:
            recent.put(found)
    return found, True


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The guard on every route: honours X-Consistent-Position, then Cedar decides; deny by default.

    A tenant the caller cannot see is answered 404 whether it exists or not, with the same work on both paths:
    Cedar is asked, and a refused command is recorded in the platform's log, never in that tenant's.
    """
    platform = _platform(connection)
    if CONSISTENT_POSITION in connection.headers:
        await anyio.to_thread.run_sync(wait_for_consistency, connection, platform)
    if connection.url.path.startswith(PUBLIC_PATHS):
        return
    command = connection.scope.get("method") in COMMAND_METHODS
    if platform.settings.auth == "off":
        if _serves_tenant_data(connection, handler):
            await _refuse_erased(platform, ANONYMOUS_ADMIN, *await _resource(connection, platform, command))
        return
    identity: Identity = connection.auth
    action = handler.opt.get("action")
    if not action:
        raise PermissionDeniedException("this route declares no action, so nobody may use it")
    resource, exists = await _resource(connection, platform, command)
    if _serves_tenant_data(connection, handler):
        exists = await _refuse_erased(platform, identity, resource, exists)
    decision = platform.policies.authorize(identity, action, resource)
    platform.decisions.record(identity, action, resource, decision)
    connection.state.decision = decision
    if decision.allowed and exists:
        return
    if not sees(identity, resource):
        await record_denial(connection, platform, identity, action, resource, [HIDDEN_REASON])
    if not exists or not sees(identity, resource):
        raise no_such_tenant(str(connection.path_params["tenant_id"]))
    await record_denial(connection, platform, identity, action, resource, _reasons(decision))
    unmet = "; ".join(unmet_conditions(decision, resource))
    raise PermissionDeniedException(f"{action} is not permitted here" + (f": {unmet}" if unmet else ""))


HIDDEN_REASON = "the tenant is not one the principal may see"


def _serves_tenant_data(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> bool:
    return bool(handler.opt.get(TENANT_DATA)) and "tenant_id" in connection.path_params


async def _refuse_erased(platform: Platform, identity: Identity, resource: Resource, exists: bool) -> bool:
    """410 to a platform admin when the tenant was erased. Whether the tenant is to be treated as existing: not
    when it was erased and the caller is anyone else, who is answered as about no tenant at all (the one 404)."""
    if not exists or not await anyio.to_thread.run_sync(erased, platform.cipher, resource):
        return exists
    if identity.platform_admin:
        raise gone(resource.id)
    return False


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
    """Records a refused command: in the log of the tenant it was about, when the caller may see that tenant;
    else (a tenant not theirs) in the platform's own log; a platform-level refusal in the caller's tenant's log."""
    if connection.scope.get("method") not in COMMAND_METHODS:
        return
    context = command_context(connection)
    tenant_id = identity.tenant_id if resource.type != "Tenant" else resource.id if sees(identity, resource) else None
    await anyio.to_thread.run_sync(
        lambda: platform.access.record_denial(
            context, identity.principal_id, action, resource.label, reasons, tenant_id_or_none(tenant_id)
        )
    )
