"""The Security domain's gateway: request ids, security headers, CORS, body-size limits and rate limits.

Wiring in ``create_app`` (Litestar runs app-level middleware per route, the first in the list outermost)::

    Litestar(
        middleware=[tracing_middleware, *gateway_middleware(s.limits), limits.by_address,
                    authentication_middleware(authenticator), limits.by_principal],
        # limits = RateLimits(s.limits, s.auth, ...), from interfaces/http/ratelimit.py
        before_send=[security_headers_hook],
        cors_config=cors_config(s.http),
        request_max_body_size=s.max_body_bytes,
    )

Responses made outside a route's middleware (404 for an unknown path, 405, and errors a middleware raises, such as
authentication's 401, which the app-level exception handler answers) never pass through that middleware, so the
``before_send`` hook adds the same headers to them; both only add headers that are still missing.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast

from litestar.config.cors import CORSConfig
from litestar.enums import ScopeType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ASGIApp, Message, Middleware, Receive, ReceiveMessage, Scope, Send

from interfaces.http.problems import PROBLEM_JSON, TYPE_BASE
from interfaces.settings.groups import HttpSettings, LimitSettings

Headers = list[tuple[bytes, bytes]]
MiddlewareFactory = Callable[[ASGIApp], ASGIApp]

REQUEST_ID_STATE_KEY = "request_id"
_REQUEST_ID = re.compile(r"[\x20-\x7e]{1,128}")
_CONTRACT_DOCUMENT = re.compile(r"/contracts(/[^/]+/versions)?$")
SCHEMA_PATH = "/schema"
API_PATH = "/v1"
CSP_API = "default-src 'none'; frame-ancestors 'none'"
CSP_SCHEMA = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://cdn.redoc.ly "
    "https://unpkg.com; style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com "
    "https://fonts.googleapis.com; font-src 'self' data: https://fonts.gstatic.com https://cdn.jsdelivr.net "
    "https://unpkg.com; img-src 'self' data: https:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The OpenAPI pages (Swagger UI, ReDoc, RapiDoc, Elements) load scripts and styles from these CDNs and inline."""
CORS_ALLOWED_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-API-Key",
    "X-Request-Id",
    "X-Correlation-Id",
    "X-Consistent-Position",
    "traceparent",
    "tracestate",
]
CORS_EXPOSED_HEADERS = ["X-Request-Id", "Location", "Retry-After", "RateLimit", "RateLimit-Policy"]


def gateway_middleware(limits: LimitSettings) -> list[Middleware]:
    """The gateway's edge middleware, outermost first: place it before authentication (see the module docstring)."""
    return [request_id_and_headers_middleware, options_middleware, body_limit_middleware(limits)]


# Request ids and security headers


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def request_id(scope: Scope) -> str:
    """The request's id, kept in scope["state"]: the caller's valid X-Request-Id, else a fresh uuid4."""
    state = cast("dict[str, Any]", scope).setdefault("state", {})
    current = state.get(REQUEST_ID_STATE_KEY)
    if isinstance(current, str):
        return current
    offered = _header(scope, b"x-request-id")
    value = offered if offered is not None and _REQUEST_ID.fullmatch(offered) else str(uuid.uuid4())
    state[REQUEST_ID_STATE_KEY] = value
    return value


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def security_headers(scope: Scope) -> Headers:
    """The headers every response carries; HSTS only over https, no-store only on the /v1 API."""
    path = str(scope.get("path", ""))
    csp = CSP_SCHEMA if _under(path, SCHEMA_PATH) else CSP_API
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", csp.encode()),
        (b"x-request-id", request_id(scope).encode()),
    ]
    if scope.get("scheme") in ("https", "wss"):
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    if _under(path, API_PATH):
        headers.append((b"cache-control", b"no-store"))
    return headers


def add_missing_headers(message: Message, extra: Headers) -> None:
    """Adds to a response-start message the headers it does not already have (a handler's own choice wins)."""
    current = list(cast("dict[str, Any]", message).get("headers", ()))
    present = {bytes(name).lower() for name, _ in current}
    cast("dict[str, Any]", message)["headers"] = current + [(n, v) for n, v in extra if n not in present]


async def security_headers_hook(message: Message, scope: Scope) -> None:
    """Litestar before_send hook: the security headers on responses no route middleware saw."""
    if scope["type"] == ScopeType.HTTP and message["type"] == "http.response.start":
        add_missing_headers(message, security_headers(scope))


def request_id_and_headers_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id(scope)

        async def send_with_headers(message: Message) -> None:
            await security_headers_hook(message, scope)
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


async def send_problem(scope: Scope, send: Send, status: int, detail: str, headers: Headers | None = None) -> None:
    """Answers with an RFC 9457 problem (slugged as problems.handle_http does) without reading the body."""
    phrase = HTTPStatus(status).phrase
    body = {
        "type": TYPE_BASE + phrase.lower().replace(" ", "-"),
        "title": phrase,
        "status": status,
        "detail": detail,
        "instance": str(scope.get("path", "")),
        "request_id": request_id(scope),
    }
    payload = json.dumps(body, separators=(",", ":")).encode()
    start = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + (headers or [])})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


# OPTIONS


def options_middleware(app: ASGIApp) -> ASGIApp:
    """405 with Allow for OPTIONS: a CORS preflight never gets here (the CORS middleware answers it when CORS is
    configured), and Litestar's own OPTIONS routes would skip authentication and fail in the authorization guard."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        allow = ", ".join(allowed_methods(scope))
        detail = f"OPTIONS is not served here; this resource allows {allow}"
        await send_problem(scope, send, 405, detail, [(b"allow", allow.encode())])

    return middleware


def allowed_methods(scope: Scope) -> list[str]:
    """The methods the routes at this request's path serve, OPTIONS aside."""
    paths = scope["route_handler"].paths
    routes = scope["litestar_app"].routes
    methods = {method for route in routes if route.path in paths for method in getattr(route, "methods", ())}
    return sorted(methods - {"OPTIONS"})


# CORS


def cors_config(http: HttpSettings) -> CORSConfig | None:
    """CORS for the comma-separated PLATFORM_CORS_ORIGINS; None (CORS off) when it is empty."""
    if not http.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(http.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=CORS_ALLOWED_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        allow_credentials=False,
    )


# Body-size limits


def route_body_limit(path: str, limits: LimitSettings) -> int:
    """The largest body a route takes: ingestion routes (…/batches) max_ingest_bytes, routes that take a contract
    document (…/contracts, …/contracts/{c}/versions) twice max_contract_bytes (YAML and indented JSON are wordier
    than the normalized document the registry limits), every other max_body_bytes."""
    route = path.rstrip("/")
    if route.endswith("/batches"):
        return limits.max_ingest_bytes
    if _CONTRACT_DOCUMENT.search(route):
        return max(limits.max_body_bytes, 2 * limits.max_contract_bytes)
    return limits.max_body_bytes


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None  # the server or Litestar answers 400 for it


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def receive_limited() -> ReceiveMessage:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise RequestEntityTooLarge(detail=f"the body is over this route's limit of {limit} bytes")
        return message

    return receive_limited


def body_limit_middleware(limits: LimitSettings) -> MiddlewareFactory:
    """413 on a declared Content-Length over the route's limit before reading; streamed bodies counted as read."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            limit = route_body_limit(scope["path"], limits)
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                detail = f"the body of {declared} bytes is over this route's limit of {limit} bytes"
                await send_problem(scope, send, 413, detail)
                return
            await app(scope, _limited(receive, limit), send)

        return middleware

    return factory
