"""Ingestion and runs over HTTP: batches in (streamed to disk) and each run's steps.

A batch goes through, in this order: the route's guard (may this principal feed the pipeline?), the data policy
``land_batch`` (is the tenant active and entitled, is the contract in force?), the media type, the body streamed
to a staging file under the size limit, the header checked against the contract and what the file declares
(rows, decoded size) against the bounds on the work of one batch, and only then the bytes land in the raw store
and the run is recorded. Every refusal before landing is a 4xx and records nothing but its denial; after
landing, the bytes are kept and problems show in the run.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter

from adapters.auth.refusals import unmet_conditions
from adapters.compute.normalize import column_problems
from adapters.datasets.bounds import Bounds
from adapters.datasets.formats import SUFFIX, format_for, inspect
from adapters.datasets.store import Upload
from adapters.readmodels import ReadModelStore
from application.pipeline import Target
from domain.errors import InvalidValueError, NotFoundError
from domain.pipeline import manifest
from domain.values import TenantId
from interfaces.bootstrap import Platform, utc_now
from interfaces.http.auth import record_denial, resolve_resource
from interfaces.http.context import command_context, id_in_path, platform_of, tenant_in_path
from interfaces.http.erased import TENANT_DATA
from projections.runs import STEP_ORDER, list_query, run_query, steps_query

PATH = "/v1/tenants/{tenant_id:str}"
MAX_PAGE = 200


class BatchAccepted(msgspec.Struct):
    run_id: str
    contract: str
    contract_version: str
    object: str
    sha256: str
    bytes: int
    format: str
    rows: int | None
    duplicate: bool
    position: int
    location: str


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


async def _check_data_policy(
    request: Request[Any, Any, Any], platform: Platform, tenant_id: TenantId, contract: str
) -> None:
    """The data policy of ingestion (``land_batch``), with the contract's state as Cedar context."""
    found = await anyio.to_thread.run_sync(platform.contracts.current_contract, tenant_id, contract)
    if found is None:
        raise NotFoundError(f"no such contract: {contract}")
    status = "active" if found.current is not None else "none"
    resource = await anyio.to_thread.run_sync(resolve_resource, platform, {"tenant_id": tenant_id}, True)
    identity = request.auth
    decision = platform.policies.authorize(identity, "land_batch", resource, {"contract_status": status})
    platform.decisions.record(identity, "land_batch", resource, decision)
    if decision.allowed:
        return
    reasons = [f"forbidden by {p}" for p in decision.policy_ids] or ["no policy permits it", *decision.errors]
    await record_denial(request, platform, identity, "land_batch", resource, reasons)
    why = "; ".join(unmet_conditions(decision, resource, {"contract_status": status})) or "the tenant may not ingest"
    raise PermissionDeniedException(f"this batch may not land: {why} ({'; '.join(reasons)})")


async def _receive(request: Request[Any, Any, Any], upload: Upload) -> None:
    async for chunk in request.stream():
        if chunk:
            upload.write(chunk)


def _check_upload(upload: Upload, fmt: str, target: Target, bounds: Bounds) -> int | None:
    """The header against the contract, and what the file declares against the bounds; its row count if known."""
    found = inspect(upload.path, fmt)
    problems = column_problems(found.columns, target.object)
    if problems:
        raise InvalidValueError("; ".join(problems))
    bounds.check_declared(found, upload.bytes)
    return found.rows


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
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        object_name: Annotated[str | None, QueryParameter(query="object")] = None,
        source: Annotated[str | None, QueryParameter(query="source", max_length=200)] = None,
    ) -> Response[BatchAccepted]:
        """Upload a batch for a contract: CSV, NDJSON, Parquet or Arrow IPC, as the body (streamed, not buffered).

        The same bytes again find their existing run (200, duplicate true); an Idempotency-Key makes retries safe.
        """
        platform = platform_of(state)
        tenant = _tenant(tenant_id)
        command_context(request)  # its headers are checked before a byte lands
        at = utc_now().isoformat()
        await _check_data_policy(request, platform, tenant, contract)
        target = await anyio.to_thread.run_sync(platform.pipeline.target, tenant, contract, object_name)
        fmt = format_for(request.headers.get("content-type"))
        with platform.datasets.receive(platform.settings.max_ingest_bytes, tenant) as upload:
            await _receive(request, upload)
            upload.finish()
            bounds = platform.compute.bounds
            rows = await anyio.to_thread.run_sync(_check_upload, upload, fmt, target, bounds)
            stored = await anyio.to_thread.run_sync(platform.datasets.land, upload, tenant, "raw", SUFFIX[fmt])
        context = command_context(request)  # now that the body is read: an Idempotency-Key's fingerprint covers it
        raw = manifest(stored.key, stored.sha256, stored.bytes, rows, fmt)
        origin = source or f"http:{request.headers.get('user-agent', 'unknown')[:100]}"
        result, duplicate = await anyio.to_thread.run_sync(platform.pipeline.ingest, context, target, origin, raw, at)
        location = f"/v1/tenants/{tenant}/runs/{result.aggregate_id}"
        body = BatchAccepted(
            str(result.aggregate_id),
            contract,
            target.version,
            target.object["name"],
            stored.sha256,
            stored.bytes,
            fmt,
            rows,
            duplicate,
            result.position,
            location,
        )
        return Response(body, status_code=200 if duplicate else 202, headers={"Location": location})

    @get("/runs", sync_to_thread=True, opt={"action": "list_runs"})
    def list_runs(
        self,
        read_models: ReadModelStore,
        tenant_id: FromPath[str],
        status: Annotated[str | None, QueryParameter(query="status")] = None,
        before: Annotated[int | None, QueryParameter(query="before", ge=0)] = None,
        limit: Annotated[int, QueryParameter(query="limit", ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        """A tenant's runs, newest first; ``before`` is the ``next_before`` of the previous page."""
        with read_models.engine.connect() as connection:
            rows = connection.execute(list_query(_tenant(tenant_id), status, before, limit)).mappings().all()
        runs = [dict(row) for row in rows]
        next_before = rows[-1]["position"] if len(rows) == limit else None
        return {"runs": runs, "next_before": next_before}

    @get("/runs/{run_id:str}", sync_to_thread=True, opt={"action": "read_run"})
    def read_run(self, state: State, tenant_id: FromPath[str], run_id: FromPath[str]) -> dict[str, Any]:
        """One run: each step with its status, duration, row counts, rejects, errors, inputs and outputs, and the
        position of its latest event (send it as X-Consistent-Position to read what the run produced)."""
        run = str(id_in_path(run_id, "run"))
        with platform_of(state).read_models.engine.connect() as connection:
            row = connection.execute(run_query(_tenant(tenant_id), run)).mappings().first()
            if row is None:
                raise NotFoundError(f"no such run: {run_id}")
            steps = connection.execute(steps_query(run)).mappings().all()
        ordered = sorted((dict(s) for s in steps), key=lambda s: STEP_ORDER.get(s["step"], 9))
        for step in ordered:
            step.pop("run_id", None)
            step.pop("tenant_id", None)
        return dict(row) | {"steps": ordered}
