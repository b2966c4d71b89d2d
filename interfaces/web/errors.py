"""Errors on the apps' pages: the platform's one error table decides the status and the words (as for the API),
shown as a page instead of problem JSON; an absent or stale session goes to sign-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response
from litestar.exceptions import NotAuthorizedException
from litestar.response import Redirect, Template

from interfaces.http.problems import EXCEPTION_HANDLERS
from interfaces.web.pages import HEADER_VALUES

SIGN_IN = "/web/sign-in"
Handler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]


def to_sign_in(request: Request[Any, Any, Any], _error: Exception) -> Response[Any]:
    """No signed-in person (or their credential lapsed): sign in, then come back here."""
    return Redirect(f"{SIGN_IN}?next={quote(request.url.path)}", status_code=303)


def as_page(api_handler: Handler) -> Handler:
    """The API's handler for an error, its problem shown as the apps' error page with the same status."""

    def handle(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        problem = api_handler(request, error)
        body = problem.content if isinstance(problem.content, bytes) else msgspec.json.encode(problem.content)
        about: dict[str, Any] = msgspec.json.decode(body) if body else {}
        context = {
            "identity": request.scope.get("auth"),
            "tenant_id": request.path_params.get("tenant_id"),
            "problem": about,
        }
        status = problem.status_code or 500
        return Template("error.html", context=context, status_code=status, headers=HEADER_VALUES)

    return handle


def web_exception_handlers() -> dict[type[Exception] | int, Any]:
    handlers: dict[type[Exception] | int, Any] = {key: as_page(h) for key, h in EXCEPTION_HANDLERS.items()}
    handlers[NotAuthorizedException] = to_sign_in
    handlers[401] = to_sign_in
    return handlers
