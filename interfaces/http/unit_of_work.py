"""One unit of work per HTTP request: the route's guard, its data policies and its commands load each aggregate once."""

from __future__ import annotations

from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from application.commands import CommandRunner


def unit_of_work_middleware(runner: CommandRunner) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware opening ``runner.unit_of_work()`` around each HTTP request (it reaches the guard, the handler and
    the worker threads they call, which copy the request's context)."""

    def middleware(app: ASGIApp) -> ASGIApp:
        async def in_unit(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            with runner.unit_of_work():
                await app(scope, receive, send)

        return in_unit

    return middleware
