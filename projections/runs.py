"""Pipeline runs: each run with its steps (status, duration, row counts, rejects, errors, inputs, outputs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Integer, String, Table, Text, select

from domain.pipeline import PipelineRun
from domain.values import STEPS, RunStatus, Step, StepStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata, plain

runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("contract", String(200), nullable=False),
    Column("contract_version", String(100), nullable=False),
    Column("object", String(200), nullable=False),
    Column("source", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("raw", JSON, nullable=False),
    Column("rows_in", BigInteger),
    Column("rows_out", BigInteger),
    Column("rejected", BigInteger),
    Column("duplicates", BigInteger),
    Column("quality", JSON),
    Column("reasons", JSON),
    Column("product", String(200)),
    Column("product_version", Integer),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

steps = Table(
    "pipeline_run_steps",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("step", String(16), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("duration_ms", BigInteger),
    Column("rows_in", BigInteger),
    Column("rows_out", BigInteger),
    Column("rejected", BigInteger),
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    Column("inputs", JSON),
    Column("outputs", JSON),
)

STEP_ORDER = {str(step): order for order, step in enumerate(STEPS)}


def _ms(started: str | None, finished: str | None) -> int | None:
    if not started or not finished:
        return None
    return round((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds() * 1000)


def _step(
    run_id: str,
    step: str,
    status: StepStatus,
    times: tuple[str, str],
    values: dict[str, Any],
    io: tuple[list[Any], list[Any]],
) -> Upsert:
    """A finished step: its status, times and duration, counts, and its inputs and outputs (lineage)."""
    started, finished = times
    row = {
        "status": status,
        "started_at": started,
        "finished_at": finished,
        "duration_ms": _ms(started, finished),
        "attempts": 1,
        "error": None,
        "inputs": [dict(m) for m in io[0]],
        "outputs": [dict(m) for m in io[1]],
    }
    return Upsert(steps, {"run_id": run_id, "step": step}, row | values)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    if not isinstance(event, PipelineRun.Event):
        return []
    at = recorded.recorded_at.isoformat()
    run_id = str(event.originator_id)
    key = {"run_id": run_id}
    times = (getattr(event, "started_at", ""), getattr(event, "finished_at", ""))
    stamp = {"updated_at": at, "position": recorded.position}
    tenant = {"tenant_id": recorded.tenant_id or ""}
    match event:
        case PipelineRun.Ingested():
            row = {
                "tenant_id": event.tenant_id,
                "contract": event.contract,
                "contract_version": event.contract_version,
                "object": event.object,
                "source": event.source,
                "status": RunStatus.RUNNING,
                "raw": dict(event.raw),
                "created_at": at,
            }
            raw = dict(event.raw)
            ingest = _step(
                run_id,
                Step.INGEST,
                StepStatus.SUCCEEDED,
                (event.at, at),
                tenant | {"rows_in": raw["rows"]},
                ([], [raw]),
            )
            return [Upsert(runs, key, row | stamp), ingest]
        case PipelineRun.StepFailed():
            status = StepStatus.RETRYING if event.retry_in > 0 else StepStatus.FAILED
            failed = Upsert(
                steps,
                {"run_id": run_id, "step": event.step},
                {"status": status, "attempts": event.attempt, "error": event.error} | tenant,
            )
            return [failed, Update(runs, key, stamp)]
        case PipelineRun.DeadLettered():
            return [
                Update(runs, key, {"status": RunStatus.DEAD_LETTERED, "reasons": [event.error]} | stamp),
                Update(steps, {"run_id": run_id, "step": event.step}, {"status": StepStatus.DEAD_LETTERED}),
            ]
        case PipelineRun.StepDenied():
            denied = {"status": StepStatus.DENIED, "attempts": 0, "error": "; ".join(event.reasons)} | tenant
            return [
                Update(runs, key, {"status": RunStatus.DENIED, "reasons": event.reasons} | stamp),
                Upsert(steps, {"run_id": run_id, "step": event.step}, denied),
            ]
        case PipelineRun.Revived():
            return [
                Update(runs, key, {"status": RunStatus.RUNNING, "reasons": None} | stamp),
                Update(steps, {"run_id": run_id, "step": event.step}, {"status": StepStatus.RETRYING, "attempts": 0}),
            ]
        case PipelineRun.Normalized():
            counts: dict[str, Any] = {"rows_in": event.rows_in, "rows_out": event.rows_out, "rejected": event.rejected}
            outputs = [event.gdp, *([event.quarantine] if event.quarantine else [])]
            step = _step(run_id, Step.NORMALIZE, StepStatus.SUCCEEDED, times, tenant | counts, (event.inputs, outputs))
            run: dict[str, Any] = counts | {"duplicates": event.duplicates, "quality": event.quality}
            return [Update(runs, key, run | stamp), step]
        case PipelineRun.Rejected():
            counts = {"rows_in": event.rows_in, "rejected": event.rejected}
            outputs = [event.quarantine] if event.quarantine else []
            detail = tenant | counts | {"error": "; ".join(event.reasons)}
            step = _step(run_id, event.step, StepStatus.REJECTED, times, detail, (event.inputs, outputs))
            run = {"status": RunStatus.REJECTED, "reasons": event.reasons, "quality": event.quality}
            run |= counts
            return [Update(runs, key, run | stamp), step]
        case PipelineRun.KpisBuilt():
            counts = {"rows_in": sum(m["rows"] or 0 for m in event.inputs), "rows_out": event.rows}
            step = _step(
                run_id, Step.BUILD_KPIS, StepStatus.SUCCEEDED, times, tenant | counts, (event.inputs, [event.kpis])
            )
            return [Update(runs, key, stamp), step]
        case PipelineRun.Published():
            step = _step(run_id, Step.PUBLISH, StepStatus.SUCCEEDED, times, tenant, (event.inputs, event.outputs))
            run = {"status": RunStatus.SUCCEEDED, "product": event.product, "product_version": event.product_version}
            return [Update(runs, key, run | stamp), step]
    return []


projection = Projection("pipeline_runs", (runs, steps), evolve)


class RunStep(msgspec.Struct):
    """One step of a run, as ``GET …/runs/{r}`` lists it."""

    step: str
    status: str
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    rows_in: int | None
    rows_out: int | None
    rejected: int | None
    attempts: int
    error: str | None
    inputs: list[dict[str, Any]] | None
    outputs: list[dict[str, Any]] | None


class RunSummary(msgspec.Struct):
    """A run without its steps, as the runs list shows it."""

    run_id: str
    tenant_id: str
    contract: str
    contract_version: str
    object: str
    source: str
    status: str
    raw: dict[str, Any]
    rows_in: int | None
    rows_out: int | None
    rejected: int | None
    duplicates: int | None
    quality: list[dict[str, Any]] | None
    reasons: list[str] | None
    product: str | None
    product_version: int | None
    created_at: str
    updated_at: str
    position: int


class Run(RunSummary):
    """A run with its steps, in pipeline order."""

    steps: list[RunStep]


class RunPage(msgspec.Struct):
    """A page of a tenant's runs, newest first; ``next_before`` asks for the next page (None on the last)."""

    runs: list[RunSummary]
    next_before: int | None


class RunQueries:
    """The runs read model, read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, tenant_id: str, status: str | None, before: int | None, limit: int) -> RunPage:
        """A tenant's runs (of ``status``, when given) older than position ``before``, newest first."""
        query = select(runs).where(runs.c.tenant_id == tenant_id)
        if status:
            query = query.where(runs.c.status == status)
        if before is not None:
            query = query.where(runs.c.position < before)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(runs.c.position.desc()).limit(limit)).mappings().all()
        found = [msgspec.convert(plain(row), RunSummary) for row in rows]
        return RunPage(found, found[-1].position if len(found) == limit else None)

    def run(self, tenant_id: str, run_id: str) -> Run | None:
        """One run of the tenant with its steps; None when the tenant has no such run."""
        with self.engine.connect() as connection:
            row = connection.execute(select(runs).where(runs.c.tenant_id == tenant_id, runs.c.run_id == run_id))
            found = row.mappings().first()
            if found is None:
                return None
            listed = connection.execute(select(steps).where(steps.c.run_id == run_id)).mappings().all()
        run = msgspec.convert(plain(found) | {"steps": [plain(step) for step in listed]}, Run)
        run.steps.sort(key=lambda step: STEP_ORDER.get(step.step, 9))
        return run
