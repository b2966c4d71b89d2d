"""Schedules and their runs as tables: each schedule or run event -> the row changes it causes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.pipeline import PipelineRun
from domain.schedules import JobRun, Schedule, check_job, schedule_id_for
from projections.base import Change, Update, Upsert
from projections.schedules import evolve, schedule_runs, schedules

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
STAMP = WHEN.isoformat()
SLOT = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
JOB = check_job({"kind": "kpi_rebuild", "contract": "retail-sales"})
SCHEDULE_ID = schedule_id_for("t-1", "cmd-1")
KEY = {"schedule_id": str(SCHEDULE_ID)}


@dataclass(frozen=True)
class Seen:
    """An event as the log hands it to a projection."""

    position: int
    event: Any
    recorded_at: datetime = WHEN
    tenant_id: str | None = "t-1"


def schedule_events() -> list[Any]:
    schedule = Schedule.create("t-1", "cmd-1", "nightly", JOB, "0 6 * * *", None, "UTC", WHEN, "user:erin")
    schedule.pause("user:erin")
    schedule.resume("user:erin", WHEN + timedelta(hours=2))
    schedule.delete("user:erin")
    return schedule.collect_events()


def run_events() -> list[Any]:
    run = JobRun.due("t-1", SCHEDULE_ID, SLOT, JOB, 2)
    run.start(1, "scheduler-a", SLOT, 600)
    run.succeed(1, SLOT + timedelta(seconds=3), {"rebuilt": "retail-sales"})
    failing = JobRun.due("t-1", SCHEDULE_ID, SLOT + timedelta(days=1), JOB, 0)
    failing.start(1, "scheduler-a", SLOT + timedelta(days=1), 600)
    failing.fail(1, SLOT + timedelta(days=1, seconds=1), "boom")
    return [*run.collect_events(), *failing.collect_events()[2:]]


CREATED, PAUSED, RESUMED, DELETED = schedule_events()
DUE, STARTED, SUCCEEDED, FAILED = run_events()
RUN = {"run_id": str(DUE.originator_id)}
FAILED_RUN = {"run_id": str(FAILED.originator_id)}


def stamp(position: int) -> dict[str, Any]:
    return {"updated_at": STAMP, "position": position}


TABLE: list[tuple[str, Any, int, list[Change]]] = [
    (
        "created inserts the schedule",
        CREATED,
        10,
        [
            Upsert(
                schedules,
                KEY,
                {
                    "tenant_id": "t-1",
                    "name": "nightly",
                    "kind": "kpi_rebuild",
                    "job": JOB,
                    "cron": "0 6 * * *",
                    "at": None,
                    "timezone": "UTC",
                    "status": "active",
                    "starts_at": STAMP,
                    "created_by": "user:erin",
                    "created_at": STAMP,
                }
                | stamp(10),
            )
        ],
    ),
    ("paused", PAUSED, 11, [Update(schedules, KEY, {"status": "paused"} | stamp(11))]),
    (
        "resumed keeps the resume time",
        RESUMED,
        12,
        [Update(schedules, KEY, {"status": "active", "resumed_at": "2026-03-04T07:06:07+00:00"} | stamp(12))],
    ),
    ("deleted keeps the row", DELETED, 13, [Update(schedules, KEY, {"status": "deleted"} | stamp(13))]),
    (
        "a due run is inserted and becomes its schedule's last",
        DUE,
        20,
        [
            Upsert(
                schedule_runs,
                RUN,
                {
                    "schedule_id": str(SCHEDULE_ID),
                    "tenant_id": "t-1",
                    "kind": "kpi_rebuild",
                    "slot": "2026-03-04T06:00:00+00:00",
                    "missed": 2,
                    "status": "due",
                    "attempts": 0,
                    "position": 20,
                },
            ),
            Update(schedules, KEY, {"last_slot": "2026-03-04T06:00:00+00:00", "last_run_id": RUN["run_id"]}),
        ],
    ),
    (
        "started",
        STARTED,
        21,
        [
            Update(
                schedule_runs,
                RUN,
                {
                    "status": "started",
                    "attempts": 1,
                    "started_by": "scheduler-a",
                    "started_at": "2026-03-04T06:00:00+00:00",
                    "position": 21,
                },
            )
        ],
    ),
    (
        "succeeded with its outcome",
        SUCCEEDED,
        22,
        [
            Update(
                schedule_runs,
                RUN,
                {
                    "status": "succeeded",
                    "finished_at": "2026-03-04T06:00:03+00:00",
                    "outcome": {"rebuilt": "retail-sales"},
                    "error": None,
                    "position": 22,
                },
            )
        ],
    ),
    (
        "failed with why",
        FAILED,
        30,
        [
            Update(
                schedule_runs,
                FAILED_RUN,
                {"status": "failed", "finished_at": "2026-03-05T06:00:01+00:00", "error": "boom", "position": 30},
            )
        ],
    ),
]


@pytest.mark.parametrize(("event", "position", "changes"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_each_event_changes_the_rows_it_should(event: Any, position: int, changes: list[Change]) -> None:
    assert evolve(Seen(position, event)) == changes


def test_events_of_other_contexts_change_nothing() -> None:
    raw = {"key": "k", "sha256": "s", "bytes": 1, "rows": 1, "format": "csv", "schema": None}
    ingested = PipelineRun.ingest("t-1", "c", "1.0.0", "o", "http", raw, STAMP).collect_events()[0]  # type: ignore[arg-type]
    assert evolve(Seen(1, ingested)) == []
