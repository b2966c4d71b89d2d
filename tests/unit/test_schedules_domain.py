"""Schedules and job runs, read as Given (past events) / When (a command) / Then (new events or an error)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from domain.errors import InvalidValueError
from domain.schedules import (
    JobRun,
    RunClaimedError,
    Schedule,
    ScheduleStateError,
    StaleAttemptError,
    check_job,
    job_run_id_for,
    schedule_id_for,
    slot_key,
)

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
EXPORT = {"kind": "export", "product": "retail-sales"}


def created(**overrides: Any) -> Schedule:
    values: dict[str, Any] = {
        "tenant_id": "t-1",
        "command_id": "cmd-1",
        "name": "nightly export",
        "job": EXPORT,
        "cron": "0 2 * * *",
        "at": None,
        "timezone": "UTC",
        "now": NOW,
        "by": "user:erin",
    }
    return Schedule.create(**(values | overrides))


def given(events: list[Any]) -> Any:
    aggregate = None
    for past in events:
        aggregate = past.mutate(aggregate)
    return aggregate


def when(aggregate: Any, command: Callable[[Any], Any]) -> list[Any]:
    command(aggregate)
    return list(aggregate.collect_events())


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


# --- creating ----------------------------------------------------------------------------------------


def test_a_schedule_is_created_with_its_job_in_stored_form_and_its_start_time() -> None:
    [event] = created().collect_events()
    assert isinstance(event, Schedule.Created)
    assert event.originator_id == schedule_id_for("t-1", "cmd-1")
    assert event.job == {
        "kind": "export",
        "product": "retail-sales",
        "version": None,
        "dataset": "kpis",
        "format": "csv",
        "filters": {},
    }
    assert (event.cron, event.at, event.timezone) == ("0 2 * * *", None, "UTC")
    assert event.starts_at == "2026-03-04T05:06:07+00:00"


def test_a_one_off_time_is_kept_in_utc() -> None:
    later = datetime(2026, 3, 4, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    schedule = created(cron=None, at=later)
    assert schedule.at == "2026-03-04T09:00:00+00:00"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cron": None}, "either a cron expression"),
        ({"at": NOW + timedelta(hours=1)}, "either a cron expression"),
        ({"cron": None, "at": NOW}, "has passed"),
        ({"cron": None, "at": NOW - timedelta(seconds=1)}, "has passed"),
        ({"timezone": "Europe/Berlin"}, "not supported"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"job": {"kind": "mine_bitcoin"}}, "job kind must be one of"),
        ({"job": {"product": "p"}}, "job kind must be one of"),
    ],
    ids=["neither", "both", "at-now", "at-past", "timezone", "blank-name", "long-name", "unknown-kind", "no-kind"],
)
def test_a_schedule_that_breaks_a_rule_is_not_created(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        created(**overrides)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"kind": "export"}, "'product'"),
        ({"kind": "export", "product": "p", "format": "xlsx"}, "'format'"),
        ({"kind": "export", "product": "p", "version": 0}, "'version'"),
        ({"kind": "export", "product": "p", "version": True}, "'version'"),
        ({"kind": "export", "product": "p", "filters": {"a": 1}}, "'filters'"),
        ({"kind": "export", "product": "p", "colour": "red"}, "no parameter 'colour'"),
        ({"kind": "kpi_rebuild"}, "'contract'"),
        ({"kind": "ledger_checkpoint", "tenant": "x"}, "no parameter 'tenant'"),
    ],
)
def test_job_parameters_are_checked_by_kind(job: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        check_job(job)


def test_job_parameters_get_their_defaults() -> None:
    assert check_job({"kind": "kpi_rebuild", "contract": " retail-sales "}) == {
        "kind": "kpi_rebuild",
        "contract": "retail-sales",
    }
    assert check_job({"kind": "ledger_checkpoint"}) == {"kind": "ledger_checkpoint"}
    exported = check_job(EXPORT | {"version": 3, "format": "parquet", "filters": {"kpi": "daily_revenue"}})
    assert (exported["version"], exported["format"], exported["filters"]) == (3, "parquet", {"kpi": "daily_revenue"})


# --- pausing, resuming, deleting ---------------------------------------------------------------------


def test_pause_resume_and_delete_follow_the_lifecycle() -> None:
    past = created().collect_events()
    assert names(when(given(past), lambda s: s.pause("user:erin"))) == ["Paused"]
    paused = [*past, *when(given(past), lambda s: s.pause("user:erin"))]
    [resumed] = when(given(paused), lambda s: s.resume("user:erin", NOW + timedelta(hours=3)))
    assert isinstance(resumed, Schedule.Resumed)
    assert resumed.at == "2026-03-04T08:06:07+00:00"
    assert names(when(given(paused), lambda s: s.delete("user:erin"))) == ["Deleted"]


@pytest.mark.parametrize(
    ("before", "command"),
    [
        ([], lambda s: s.resume("u", NOW)),
        (["pause"], lambda s: s.pause("u")),
        (["delete"], lambda s: s.pause("u")),
        (["delete"], lambda s: s.resume("u", NOW)),
        (["delete"], lambda s: s.delete("u")),
    ],
    ids=["resume-active", "pause-paused", "pause-deleted", "resume-deleted", "delete-deleted"],
)
def test_a_lifecycle_step_out_of_order_is_refused(before: list[str], command: Callable[[Schedule], None]) -> None:
    schedule = created()
    for step in before:
        getattr(schedule, step)("u")
    past = schedule.collect_events()
    with pytest.raises(ScheduleStateError):
        when(given(past), command)


# --- runs --------------------------------------------------------------------------------------------

SLOT = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


def due_run() -> list[Any]:
    schedule_id = uuid4()
    return JobRun.due("t-1", schedule_id, SLOT, check_job(EXPORT), 3).collect_events()


def test_a_slot_names_its_run_whatever_the_offset_it_is_given_in() -> None:
    schedule_id = uuid4()
    elsewhere = SLOT.astimezone(ZoneInfo("America/New_York"))
    assert job_run_id_for(schedule_id, SLOT) == job_run_id_for(schedule_id, elsewhere)
    assert job_run_id_for(schedule_id, SLOT) != job_run_id_for(schedule_id, SLOT + timedelta(minutes=1))
    assert job_run_id_for(schedule_id, SLOT) != job_run_id_for(uuid4(), SLOT)
    with pytest.raises(InvalidValueError):
        slot_key(datetime(2026, 3, 5, 2, 0))  # a naive time is the point


def test_a_due_run_is_started_then_succeeds_with_its_outcome() -> None:
    [due] = past = due_run()
    assert (due.slot, due.missed) == ("2026-03-05T02:00:00+00:00", 3)
    [started] = when(given(past), lambda r: r.start(1, "scheduler-a", SLOT, 600))
    assert (started.attempt, started.by) == (1, "scheduler-a")
    past = [*past, started]
    [done] = when(given(past), lambda r: r.succeed(1, SLOT + timedelta(seconds=5), {"export_id": "e"}))
    assert isinstance(done, JobRun.Succeeded)
    assert done.outcome == {"export_id": "e"}
    with pytest.raises(RunClaimedError):
        when(given([*past, done]), lambda r: r.start(2, "scheduler-b", SLOT + timedelta(days=1), 600))


def test_a_started_run_is_claimed_until_it_goes_stale_then_another_attempt_may_take_it() -> None:
    past = due_run()
    past += when(given(past), lambda r: r.start(1, "scheduler-a", SLOT, 600))
    with pytest.raises(RunClaimedError):
        when(given(past), lambda r: r.start(2, "scheduler-b", SLOT + timedelta(seconds=599), 600))
    with pytest.raises(RunClaimedError):
        when(given(past), lambda r: r.start(1, "scheduler-b", SLOT + timedelta(seconds=600), 600))
    [retaken] = when(given(past), lambda r: r.start(2, "scheduler-b", SLOT + timedelta(seconds=600), 600))
    past = [*past, retaken]
    with pytest.raises(StaleAttemptError):
        when(given(past), lambda r: r.succeed(1, SLOT + timedelta(seconds=700), {}))
    [failed] = when(given(past), lambda r: r.fail(2, SLOT + timedelta(seconds=700), "boom" * 1000))
    assert isinstance(failed, JobRun.Failed)
    assert len(failed.error) == 2000


def test_a_run_that_was_never_started_cannot_finish() -> None:
    with pytest.raises(StaleAttemptError):
        when(given(due_run()), lambda r: r.succeed(0, SLOT, {}))
