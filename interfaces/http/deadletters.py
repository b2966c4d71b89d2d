"""Dead letters over HTTP: list, inspect, retry and discard failed work (each action an event).

Platform admins see every tenant's; a tenant's admins and data engineers see and handle their own tenant's only
(another tenant's dead letter answers 404).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from domain.errors import NotFoundError
from interfaces.http.context import command_context, id_in_path, platform_of
from projections.deadletters import get_query, list_query

MAX_PAGE = 200


class Discard(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


def _visible_tenant(request: Request[Any, Any, Any]) -> str | None:
    """None for platform admins (every tenant); else the caller's own tenant."""
    identity = request.auth
    return None if identity.platform_admin else (identity.tenant_id or "")


def _row(state: State, request: Request[Any, Any, Any], dead_letter_id: str) -> dict[str, Any]:
    found = str(id_in_path(dead_letter_id, "dead letter"))
    with platform_of(state).read_models.engine.connect() as connection:
        row = connection.execute(get_query(found)).mappings().first()
    tenant = _visible_tenant(request)
    if row is None or (tenant is not None and row["tenant_id"] != tenant):
        raise NotFoundError(f"no such dead letter: {dead_letter_id}")
    return dict(row)


class DeadLetterController(Controller):
    path = "/v1/dead-letters"
    tags = ["dead letters"]

    @get("/", sync_to_thread=True, opt={"action": "list_dead_letters"})
    def list_dead_letters(
        self,
        request: Request[Any, Any, Any],
        state: State,
        source: Annotated[str | None, QueryParameter(max_length=16)] = None,
        status: Annotated[str | None, QueryParameter(pattern="^(open|retrying|resolved|discarded)$")] = None,
        tenant: Annotated[str | None, QueryParameter(max_length=36)] = None,
        before: Annotated[int | None, QueryParameter(ge=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        """Dead letters newest first, by source (pipeline, webhook, ...) and status; ``before`` pages."""
        visible = _visible_tenant(request)
        if visible is None and tenant:
            visible = str(id_in_path(tenant))
        with platform_of(state).read_models.engine.connect() as connection:
            rows = connection.execute(list_query(visible, source, status, before, limit)).mappings().all()
        next_before = rows[-1]["position"] if len(rows) == limit else None
        return {"dead_letters": [dict(r) for r in rows], "next_before": next_before}

    @get("/{dead_letter_id:str}", sync_to_thread=True, opt={"action": "read_dead_letter"})
    def read_dead_letter(self, request: Request[Any, Any, Any], state: State, dead_letter_id: FromPath[str]) -> Any:
        """One dead letter: the error, attempts, the event that caused the work, and what was done with it."""
        return _row(state, request, dead_letter_id)

    @post("/{dead_letter_id:str}/retry", sync_to_thread=True, status_code=202, opt={"action": "retry_dead_letter"})
    def retry(self, request: Request[Any, Any, Any], state: State, dead_letter_id: FromPath[str]) -> dict[str, Any]:
        """Hand the work back to its source (a pipeline step runs again; a parked event is re-applied to its read
        model at once, which resolves the dead letter); 409 when it is not open, or the parked event still fails."""
        row = _row(state, request, dead_letter_id)
        platform = platform_of(state)
        letter_id = id_in_path(row["dead_letter_id"])
        result = platform.dead_letters.retry(command_context(request), letter_id)
        status = platform.dead_letters.get(letter_id).status
        return {"dead_letter_id": row["dead_letter_id"], "status": status, "position": result.position}

    @post("/{dead_letter_id:str}/discard", sync_to_thread=True, status_code=202, opt={"action": "discard_dead_letter"})
    def discard(
        self, request: Request[Any, Any, Any], state: State, dead_letter_id: FromPath[str], data: JSONBody[Discard]
    ) -> Response[dict[str, Any]]:
        """Give up on the work for good, saying why."""
        row = _row(state, request, dead_letter_id)
        context = command_context(request)
        result = platform_of(state).dead_letters.discard(context, id_in_path(row["dead_letter_id"]), data.reason)
        body = {"dead_letter_id": row["dead_letter_id"], "status": "discarded", "position": result.position}
        return Response(body, status_code=202)
