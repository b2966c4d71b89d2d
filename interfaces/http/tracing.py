"""A server span per HTTP request, continuing the caller's W3C traceparent when it sends one."""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from opentelemetry import context, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_tracer = trace.get_tracer("platform.http")
_propagator = TraceContextTextMapPropagator()


def tracing_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        parent = _propagator.extract(carrier)
        name = f"HTTP {scope.get('method', '')} {scope.get('path', '')}"
        with _tracer.start_as_current_span(name, context=parent, kind=trace.SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", str(scope.get("method", "")))
            span.set_attribute("url.path", str(scope.get("path", "")))

            async def send_with_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            token = context.attach(trace.set_span_in_context(span))
            try:
                await app(scope, receive, send_with_status)
            finally:
                context.detach(token)

    return middleware
