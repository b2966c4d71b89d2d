"""Dead letters over HTTP: list, inspect, retry and discard failed work (each action an event).

Platform admins see every tenant's; a tenant's admins and data engineers see and handle their own tenant's only
(another tenant's dead letter answers 404).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.deadletters import DeadLetterService
from domain.errors import NotFoundError
from interfaces.http.context import command_context, id_in_path
from projections.deadletters import DeadLetterPage, DeadLetterQueries, DeadLetterView

MAX_PAGE = 200


class Discard(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


def _visible_tenant(request: Request[Any, Any, Any]) -> str | None:
    """None for platform admins (every tenant); else the caller's own tenant."""
    identity = request.auth
    return None if identity.platform_admin else (identity.tenant_id or "")


class DeadLetterHandled(msgspec.Struct):
    dead_letter_id: str
    status: str
    position: int


def _visible(request: Request[Any, Any, Any], queries: DeadLetterQueries, dead_letter_id: str) -> DeadLetterView:
    """The dead letter, when the caller may see it (else 404, as for one that does not exist)."""
    found = queries.dead_letter(str(id_in_path(dead_letter_id, "dead letter")))
    tenant = _visible_tenant(request)
    if found is None or (tenant is not None and found.tenant_id != tenant):
        raise NotFoundError(f"no such dead letter: {dead_letter_id}")
    return found


class DeadLetterController(Controller):
    path = "/v1/dead-letters"
    tags = ["dead letters"]

    @get("/", sync_to_thread=True, opt={"action": "list_dead_letters"})
    def list_dead_letters(
        self,
        request: Request[Any, Any, Any],
        dead_letter_views: NamedDependency[DeadLetterQueries],
        source: Annotated[str | None, QueryParameter(max_length=16)] = None,
        status: Annotated[str | None, QueryParameter(pattern="^(open|retrying|resolved|discarded)$")] = None,
        tenant: Annotated[str | None, QueryParameter(max_length=36)] = None,
        before: Annotated[int | None, QueryParameter(ge=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> DeadLetterPage:
        """Dead letters newest first, by source (pipeline, webhook, ...) and status; ``before`` pages."""
        visible = _visible_tenant(request)
        if visible is None and tenant:
            visible = str(id_in_path(tenant))
        return dead_letter_views.page(visible, source, status, before, limit)

    @get("/{dead_letter_id:str}", sync_to_thread=True, opt={"action": "read_dead_letter"})
    def read_dead_letter(
        self,
        request: Request[Any, Any, Any],
        dead_letter_views: NamedDependency[DeadLetterQueries],
        dead_letter_id: FromPath[str],
    ) -> DeadLetterView:
        """One dead letter: the error, attempts, the event that caused the work, and what was done with it."""
        return _visible(request, dead_letter_views, dead_letter_id)

    @post("/{dead_letter_id:str}/retry", sync_to_thread=True, status_code=202, opt={"action": "retry_dead_letter"})
    def retry(
        self,
        request: Request[Any, Any, Any],
        dead_letters: NamedDependency[DeadLetterService],
        dead_letter_views: NamedDependency[DeadLetterQueries],
        dead_letter_id: FromPath[str],
    ) -> DeadLetterHandled:
        """Hand the work back to its source (a pipeline step runs again; a parked event is re-applied to its read
        model at once, which resolves the dead letter); 409 when it is not open, or the parked event still fails."""
        found = _visible(request, dead_letter_views, dead_letter_id)
        letter_id = id_in_path(found.dead_letter_id)
        result = dead_letters.retry(command_context(request), letter_id)
        return DeadLetterHandled(found.dead_letter_id, dead_letters.get(letter_id).status, result.position)

    @post("/{dead_letter_id:str}/discard", sync_to_thread=True, status_code=202, opt={"action": "discard_dead_letter"})
    def discard(
        self,
        request: Request[Any, Any, Any],
        dead_letters: NamedDependency[DeadLetterService],
        dead_letter_views: NamedDependency[DeadLetterQueries],
        dead_letter_id: FromPath[str],
        data: JSONBody[Discard],
    ) -> DeadLetterHandled:
        """Give up on the work for good, saying why."""
        found = _visible(request, dead_letter_views, dead_letter_id)
        result = dead_letters.discard(command_context(request), id_in_path(found.dead_letter_id), data.reason)
        return DeadLetterHandled(found.dead_letter_id, "discarded", result.position)
