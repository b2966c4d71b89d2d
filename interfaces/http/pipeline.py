"""Ingestion and runs over HTTP: batches in (streamed, not buffered) and each run's steps.

The route's guard asks whether this principal may feed the pipeline; everything after it (the data policy, the
contract, the bytes landing, the run recorded) is ``IngestionService.ingest`` (application/ingestion.py). This
module only turns the request into that call and its result into the answer.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter

from application.ingestion import Batch, Ingested, IngestionService
from domain.errors import NotFoundError
from domain.values import TenantId
from interfaces.http.context import command_context, id_in_path, tenant_in_path
from interfaces.http.erased import TENANT_DATA
from projections.runs import Run, RunPage, RunQueries

PATH = "/v1/tenants/{tenant_id:str}"
MAX_PAGE = 200


class BatchAccepted(Ingested, frozen=True):
    """What became of the batch, and where its run is read."""

    location: str


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


def _accepted(tenant_id: str, ingested: Ingested) -> Response[BatchAccepted]:
    """202 for a new run, 200 for bytes that already had one; Location names the run either way."""
    location = f"/v1/tenants/{tenant_id}/runs/{ingested.run_id}"
    body = BatchAccepted(**msgspec.structs.asdict(ingested), location=location)
    return Response(body, status_code=200 if ingested.duplicate else 202, headers={"Location": location})


class PipelineController(Controller):
    path = PATH
    opt = {TENANT_DATA: True}
    tags = ["pipeline"]

    @post(
        "/contracts/{contract:str}/batches",
        status_code=202,
        opt={"action": "ingest_batch", "accepts_data": True},
        request_max_body_size=None,
        responses={200: ResponseSpec(BatchAccepted, description="The same bytes again: the existing run")},
    )
    async def ingest(
        self,
        request: Request[Any, Any, Any],
        ingestion: NamedDependency[IngestionService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        object_name: Annotated[str | None, QueryParameter(name="object")] = None,
        source: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Response[BatchAccepted]:
        """Upload a batch for a contract: CSV, NDJSON, Parquet or Arrow IPC, as the body (streamed, not buffered).

        The same bytes again find their existing run (200, duplicate true); an Idempotency-Key makes retries safe.
        """
        tenant = _tenant(tenant_id)
        origin = source or f"http:{request.headers.get('user-agent', 'unknown')[:100]}"
        batch = Batch(tenant, contract, object_name, origin, request.headers.get("content-type"), request.stream())
        ingested = await ingestion.ingest(request.auth, batch, lambda: command_context(request))
        return _accepted(tenant, ingested)

    @get("/runs", sync_to_thread=True, opt={"action": "list_runs"})
    def list_runs(
        self,
        runs: NamedDependency[RunQueries],
        tenant_id: FromPath[str],
        status: FromQuery[str | None] = None,
        before: Annotated[int | None, QueryParameter(ge=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> RunPage:
        """A tenant's runs, newest first; ``before`` is the ``next_before`` of the previous page."""
        return runs.page(_tenant(tenant_id), status, before, limit)

    @get("/runs/{run_id:str}", sync_to_thread=True, opt={"action": "read_run"})
    def read_run(self, runs: NamedDependency[RunQueries], tenant_id: FromPath[str], run_id: FromPath[str]) -> Run:
        """One run: each step with its status, duration, row counts, rejects, errors, inputs and outputs, and the
        position of its latest event (send it as X-Consistent-Position to read what the run produced)."""
        found = runs.run(_tenant(tenant_id), str(id_in_path(run_id, "run")))
        if found is None:
            raise NotFoundError(f"no such run: {run_id}")
        return found
