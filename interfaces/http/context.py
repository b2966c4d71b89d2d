"""Request-scoped inputs shared by the controllers: the command context and read-your-writes waits."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.connection import ASGIConnection

from application.commands import CommandContext
from domain.errors import NotFoundError
from domain.values import TenantId, tenant_id_of
from interfaces.bootstrap import Platform
from interfaces.http.fingerprint import request_fingerprint
from interfaces.http.problems import BadRequestError, ReadModelBehindError
from interfaces.input_rules import parse_integer

IDEMPOTENCY_KEY = "idempotency-key"
CORRELATION_ID = "x-correlation-id"
CONSISTENT_POSITION = "x-consistent-position"
MAX_KEY_LENGTH = 200


def command_context(request: ASGIConnection[Any, Any, Any, Any]) -> CommandContext:
    """Idempotency-Key (or a fresh id) names the command; X-Correlation-Id (or the request id) ties it to others.

    With a key, the request's fingerprint goes along (interfaces/http/fingerprint.py): build the context once the
    body has been read."""
    command_id = request.headers.get(IDEMPOTENCY_KEY) or str(uuid.uuid4())
    correlation_id = request.headers.get(CORRELATION_ID) or request.headers.get("x-request-id") or command_id
    for name, value in ((IDEMPOTENCY_KEY, command_id), (CORRELATION_ID, correlation_id)):
        if len(value) > MAX_KEY_LENGTH or not value.isprintable():
            msg = f"{name} must be at most {MAX_KEY_LENGTH} printable characters"
            raise BadRequestError(msg)
    identity = request.scope.get("auth")
    actor = getattr(identity, "principal_id", "anonymous")
    fingerprint = request_fingerprint(request.scope)
    return CommandContext(actor, command_id, correlation_id, request_fingerprint=fingerprint)


def wait_for_consistency(request: ASGIConnection[Any, Any, Any, Any], platform: Platform) -> None:
    """Honours X-Consistent-Position: waits (bounded) until every read model has seen that position."""
    raw = request.headers.get(CONSISTENT_POSITION)
    if raw is None:
        return
    try:
        position = parse_integer(raw)
    except ValueError as error:
        msg = f"{CONSISTENT_POSITION} must be a whole number: {error}"
        raise BadRequestError(msg) from None
    if position < 0 or position > platform.store.last_position():
        msg = f"{CONSISTENT_POSITION} {position} is not a position in the event log"
        raise BadRequestError(msg)
    timeout = platform.settings.consistency_timeout
    if not platform.read_models.wait_for(position, tuple(platform.read_models.projections), timeout):
        msg = f"the read model did not reach position {position} within {timeout:g} s; retry shortly"
        raise ReadModelBehindError(msg)


def tenant_in_path(raw: str) -> TenantId:
    """The path's tenant id in canonical form (404 when it is not a UUID)."""
    return tenant_id_of(id_in_path(raw))


def id_in_path(raw: str, what: str = "tenant") -> uuid.UUID:
    """An id from the path; one that is not a UUID names nothing, so it is a 404 like any unknown id."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFoundError(f"no such {what}: {raw}") from None
