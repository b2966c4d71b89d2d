"""Observability routes: ``/metrics`` for Prometheus, ``/ready``, and the request metrics middleware.

- ``GET /ready`` is public, like ``/health``: 200 when the event store answers, no read model is more than
  PLATFORM_READY_MAX_LAG events behind the log, and none has a parked event or is stuck behind it for longer than
  PLATFORM_READ_MODEL_STALL_AFTER seconds; else 503 problem+json listing what is wrong, naming each read model.
- ``GET /metrics`` (Prometheus text format) takes either the scrape token (``Authorization: Bearer
  <PLATFORM_METRICS_TOKEN>``, for a Prometheus server that is no principal) or a credential whose principal
  Cedar permits ``read_metrics`` (platform admins). It is listed among the authentication middleware's public
  paths so that the scrape token gets through; the route checks credentials itself.
- ``metrics_middleware(telemetry)`` counts and times every routed request by route template, module, kind and
  status: place it first (outermost) in the app's middleware.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import anyio
import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from application.authentication import Authentication, AuthenticationError
from application.authorization import Authorization, Identity, Resource
from interfaces.bootstrap import CONTENT_TYPE, Readiness, Telemetry, module_of
from interfaces.http.problems import problem

METRICS_PATH, READY_PATH = "/metrics", "/ready"
PUBLIC_PATHS = (METRICS_PATH, READY_PATH)
"""Paths the authentication middleware must let through (``/metrics`` checks its credentials itself)."""
READ_METRICS = "read_metrics"
READY_TIMEOUT = 2.0
"""Seconds /ready waits for the event store and read models before it answers that they do not answer."""
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def _identity(request: Request[Any, Any, Any], authenticator: Authentication) -> Identity:
    """The caller's identity: the one authentication found, else proven here (401 when none is valid)."""
    found = request.scope.get("auth")
    if isinstance(found, Identity):
        return found
    authorization, api_key = request.headers.get("authorization"), request.headers.get("x-api-key")
    identity = authenticator.recently_proven(authorization, api_key)
    if identity is not None:
        return identity
    try:
        return await anyio.to_thread.run_sync(authenticator.authenticate, authorization, api_key)
    except AuthenticationError:
        challenge = 'Bearer realm="platform", error="invalid_token"' if authorization or api_key else "Bearer"
        raise NotAuthorizedException(
            "a scrape token or a credential permitted to read metrics is required",
            headers={"WWW-Authenticate": challenge},
        ) from None


def _scrape_token_matches(request: Request[Any, Any, Any], token: str) -> bool:
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())


@get(METRICS_PATH, tags=["operations"], media_type=CONTENT_TYPE, opt={"action": READ_METRICS})
async def metrics(
    request: Request[Any, Any, Any],
    telemetry: NamedDependency[Telemetry],
    authenticator: NamedDependency[Authentication],
    authorization: NamedDependency[Authorization],
) -> Response[bytes]:
    """Prometheus metrics of the platform (text exposition format): the SLO indicators and their burn rates.

    The scrape token gets through, or a principal Cedar permits ``read_metrics``; else 401 or 403."""
    if not _scrape_token_matches(request, telemetry.scrape_token):
        identity = await _identity(request, authenticator)
        authorization.require(identity, READ_METRICS, Resource.platform())
    body = await anyio.to_thread.run_sync(telemetry.scrape)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


class Ready(msgspec.Struct, frozen=True):
    status: str
    log_end: int | None
    max_lag_events: int | None
    """How far the furthest read model is behind the end of the log."""


@get(READY_PATH, tags=["operations"], opt={"public": True, "problems": (503,)})
async def ready(request: Request[Any, Any, Any], telemetry: NamedDependency[Telemetry]) -> Response[Ready]:
    """Ready to serve: the event store answers, the read models are within PLATFORM_READY_MAX_LAG events, and none
    has a parked event or is stuck (PLATFORM_READ_MODEL_STALL_AFTER)."""
    readiness = Readiness((f"the event store and read models did not answer within {READY_TIMEOUT} s",))
    with anyio.move_on_after(READY_TIMEOUT):
        readiness = await anyio.to_thread.run_sync(telemetry.readiness, abandon_on_cancel=True)
    if not readiness.ready:
        detail = "; ".join(readiness.problems)
        return problem(request, 503, "not-ready", detail, problems=list(readiness.problems))
    body = Ready("ready", readiness.log_end, readiness.max_lag_events)
    return Response(body, headers={"Cache-Control": "no-store"})


def request_kind(scope: Scope, route: str) -> str:
    """command, query, ingest (batch uploads: their time grows with their size) or operations."""
    handler = scope.get("route_handler")
    opt = getattr(handler, "opt", None) or {}
    if opt.get("accepts_data"):
        return "ingest"
    if module_of(route) == "Observability" or route.startswith("/schema"):
        return "operations"
    return "command" if scope.get("method") in COMMAND_METHODS else "query"


def metrics_middleware(telemetry: Telemetry) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware counting and timing each request by route template (not path: ids stay out of labels)."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            started, status = time.perf_counter(), 500

            async def send_with_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_with_status)
            finally:
                route = str(scope.get("path_template") or "unrouted")
                method = str(scope.get("method", ""))
                telemetry.request_done(method, route, request_kind(scope, route), status, time.perf_counter() - started)

        return middleware

    return factory
