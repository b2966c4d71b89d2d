"""Schedules and their runs: each schedule with its job, timing and status, and each slot's run with its outcome."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Integer, Select, String, Table, Text, select

from domain.schedules import JobRun, Schedule
from domain.values import JobRunStatus, ScheduleStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata, plain

schedules = Table(
    "schedules",
    metadata,
    Column("schedule_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("job", JSON, nullable=False),
    Column("cron", String(200)),
    Column("at", String(40)),
    Column("timezone", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("starts_at", String(40), nullable=False),
    Column("resumed_at", String(40)),
    Column("created_by", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("last_slot", String(40)),
    Column("last_run_id", String(36)),
    Column("position", BigInteger, nullable=False),
)

schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("schedule_id", String(36), nullable=False, index=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("slot", String(40), nullable=False),
    Column("missed", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("started_by", String(200)),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("outcome", JSON),
    Column("error", Text),
    Column("position", BigInteger, nullable=False),
)


def _schedule(recorded: EventView, event: Any) -> list[Change]:
    at = recorded.recorded_at.isoformat()
    key = {"schedule_id": str(event.originator_id)}
    stamp = {"updated_at": at, "position": recorded.position}
    match event:
        case Schedule.Created():
            row = {
                "tenant_id": event.tenant_id,
                "name": event.name,
                "kind": event.job["kind"],
                "job": event.job,
                "cron": event.cron,
                "at": event.at,
                "timezone": event.timezone,
                "status": ScheduleStatus.ACTIVE,
                "starts_at": event.starts_at,
                "created_by": event.by,
                "created_at": at,
            }
            return [Upsert(schedules, key, row | stamp)]
        case Schedule.Paused():
            return [Update(schedules, key, {"status": ScheduleStatus.PAUSED} | stamp)]
        case Schedule.Resumed():
            return [Update(schedules, key, {"status": ScheduleStatus.ACTIVE, "resumed_at": event.at} | stamp)]
        case Schedule.Deleted():
            return [Update(schedules, key, {"status": ScheduleStatus.DELETED} | stamp)]
    return []


def _run(recorded: EventView, event: Any) -> list[Change]:
    key = {"run_id": str(event.originator_id)}
    stamp = {"position": recorded.position}
    match event:
        case JobRun.Due():
            row = {
                "schedule_id": event.schedule_id,
                "tenant_id": event.tenant_id,
                "kind": event.job["kind"],
                "slot": event.slot,
                "missed": event.missed,
                "status": JobRunStatus.DUE,
                "attempts": 0,
            }
            last = {"last_slot": event.slot, "last_run_id": key["run_id"]}
            return [
                Upsert(schedule_runs, key, row | stamp),
                Update(schedules, {"schedule_id": event.schedule_id}, last),
            ]
        case JobRun.Started():
            started = {
                "status": JobRunStatus.STARTED,
                "attempts": event.attempt,
                "started_by": event.by,
                "started_at": event.at,
            }
            return [Update(schedule_runs, key, started | stamp)]
        case JobRun.Succeeded():
            done = {"status": JobRunStatus.SUCCEEDED, "finished_at": event.at, "outcome": event.outcome, "error": None}
            return [Update(schedule_runs, key, done | stamp)]
        case JobRun.Failed():
            failed = {"status": JobRunStatus.FAILED, "finished_at": event.at, "error": event.error}
            return [Update(schedule_runs, key, failed | stamp)]
    return []


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    if isinstance(event, Schedule.Event):
        return _schedule(recorded, event)
    if isinstance(event, JobRun.Event):
        return _run(recorded, event)
    return []


projection = Projection("schedules", (schedules, schedule_runs), evolve)


def list_query(tenant_id: str, status: str | None, limit: int) -> Select[Any]:
    """A tenant's schedules, newest first; deleted ones only when asked for by status."""
    query = select(schedules).where(schedules.c.tenant_id == tenant_id)
    query = (
        query.where(schedules.c.status == status)
        if status
        else query.where(schedules.c.status != ScheduleStatus.DELETED)
    )
    return query.order_by(schedules.c.created_at.desc(), schedules.c.schedule_id).limit(limit)


def schedule_query(tenant_id: str, schedule_id: str) -> Select[Any]:
    return select(schedules).where(schedules.c.tenant_id == tenant_id, schedules.c.schedule_id == schedule_id)


def runs_query(schedule_id: str, limit: int) -> Select[Any]:
    """A schedule's runs, latest slot first."""
    query = select(schedule_runs).where(schedule_runs.c.schedule_id == schedule_id)
    return query.order_by(schedule_runs.c.slot.desc()).limit(limit)


class ScheduleRow(msgspec.Struct):
    """A schedule as stored: its job, when it fires (cron or once at), its status and its latest slot."""

    schedule_id: str
    tenant_id: str
    name: str
    kind: str
    job: dict[str, Any]
    cron: str | None
    at: str | None
    timezone: str
    status: str
    starts_at: str
    resumed_at: str | None
    created_by: str
    created_at: str
    updated_at: str
    last_slot: str | None
    last_run_id: str | None


class ScheduleRunRow(msgspec.Struct):
    """One firing of a schedule: its slot, attempts, and outcome or error."""

    run_id: str
    kind: str
    slot: str
    missed: int
    status: str
    attempts: int
    started_by: str | None
    started_at: str | None
    finished_at: str | None
    outcome: dict[str, Any] | None
    error: str | None


class ScheduleQueries:
    """The schedules read model, read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest(self, tenant_id: str, status: str | None, limit: int) -> list[ScheduleRow]:
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_id, status, limit)).mappings().all()
        return [msgspec.convert(plain(row), ScheduleRow) for row in rows]

    def schedule(self, tenant_id: str, schedule_id: str) -> ScheduleRow | None:
        with self.engine.connect() as connection:
            row = connection.execute(schedule_query(tenant_id, schedule_id)).mappings().first()
        return None if row is None else msgspec.convert(plain(row), ScheduleRow)

    def runs(self, schedule_id: str, limit: int) -> list[ScheduleRunRow]:
        """A schedule's latest runs, latest slot first."""
        with self.engine.connect() as connection:
            rows = connection.execute(runs_query(schedule_id, limit)).mappings().all()
        return [msgspec.convert(plain(row), ScheduleRunRow) for row in rows]
