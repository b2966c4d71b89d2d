"""The scheduler over the in-memory event store, with a clock the tests move: due times, missed slots after
downtime, one-off jobs, pausing, failures, two schedulers racing and a replay of the log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.checkpoints import MemoryCheckpoints
from application.commands import CommandContext, CommandRunner
from application.cron import check_cron, count_between, latest_until, next_after
from application.jobs import JobCall
from application.scheduler import Scheduler
from application.schedules import Due, SchedulerService, due_slot, next_due
from domain.errors import InvalidValueError, NotFoundError
from domain.schedules import JobRun, job_run_id_for
from eventstore.adapters import open_event_store
from eventstore.port import EventStore
from eventstore.recorder_store import RecorderEventStore

START = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
TENANT = "6f1d2c7e-0000-4c1e-9a55-0c3e2f7b9d10"
HOURLY_EXPORT = {"kind": "export", "product": "retail-sales"}


def at(hour: int, minute: int = 0, second: int = 0, day: int = 4) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Jobs:
    """Our own JobRunner port, faked: records each call; raises ``failure`` when one is set."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, JobCall, tuple[Any, ...]]] = []
        self.failure: Exception | None = None
        self.lock = threading.Lock()

    def _record(self, kind: str, call: JobCall, *args: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append((kind, call, args))
        if self.failure is not None:
            raise self.failure
        return {"kind": kind, "slot": call.slot.isoformat()}

    def rebuild_kpis(self, call: JobCall, contract: str) -> dict[str, Any]:
        return self._record("kpi_rebuild", call, contract)

    def export(
        self, call: JobCall, product: str, version: int | None, dataset: str, fmt: str, filters: list[list[str]]
    ) -> dict[str, Any]:
        return self._record("export", call, product, version, dataset, fmt, filters)

    def checkpoint_ledger(self, call: JobCall) -> dict[str, Any]:
        return self._record("ledger_checkpoint", call)

    def slots(self) -> list[datetime]:
        return [call.slot for _, call, _ in self.calls]


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def service(store: EventStore, clock: Clock) -> SchedulerService:
    return SchedulerService(CommandRunner(store, clock))


@pytest.fixture
def jobs() -> Jobs:
    return Jobs()


def scheduler(store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock, **kwargs: Any) -> Scheduler:
    return Scheduler(store, service, jobs, clock, **kwargs)


def context(command_id: str | None = None) -> CommandContext:
    return CommandContext("user:erin", command_id or f"cmd-{uuid4()}", "corr")


def create(service: SchedulerService, job: dict[str, Any] | None = None, **when: Any) -> UUID:
    result = service.create_schedule(context(), TENANT, "a job", job or HOURLY_EXPORT, **when)
    return result.aggregate_id


def runs_of(store: EventStore) -> list[JobRun.Due]:
    return [r.event for r in store.read_all(0, 10_000) if isinstance(r.event, JobRun.Due)]


def kinds(store: EventStore, stream: UUID) -> list[str]:
    return [type(r.event).__name__ for r in store.read_stream(stream)]


# --- cron arithmetic and due times ----------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["0 * * * *", "*/15 9-17 * * mon-fri", "0 0 29 2 *", "@daily", " 5  4 * * * "])
def test_five_field_expressions_and_aliases_are_accepted(expression: str) -> None:
    assert check_cron(expression) == " ".join(expression.split())


@pytest.mark.parametrize(
    "expression",
    ["", "every hour", "61 * * * *", "0 0 31 2 *", "* * * * * *", "0 0 1 1 * 0 2030", "H * * * *", "@reboot"],
    ids=["empty", "words", "minute-61", "feb-31", "seconds", "years", "hashed", "reboot"],
)
def test_other_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InvalidValueError, match="not a cron expression"):
        check_cron(expression)


def test_slots_are_found_after_and_up_to_a_time_in_utc() -> None:
    assert next_after("0 * * * *", at(6)) == at(7)
    assert latest_until("0 * * * *", at(6)) == at(6)
    assert latest_until("0 * * * *", at(6, 59, 59)) == at(6)
    assert count_between("0 * * * *", at(5), at(9), cap=100) == 3
    assert count_between("* * * * *", at(0), at(23), cap=10) == 10
    with pytest.raises(InvalidValueError):
        next_after("0 * * * *", datetime(2026, 3, 4))  # a naive time is the point


@pytest.mark.parametrize(
    ("since", "now", "expected"),
    [
        (at(5, 6, 7), at(5, 59, 59), None),
        (at(5, 6, 7), at(6), Due(at(6), 0)),
        (at(5, 6, 7), at(6, 30), Due(at(6), 0)),
        (at(6), at(6, 30), None),
        (at(6), at(7), Due(at(7), 0)),
        (at(5, 6, 7), at(11, 20), Due(at(11), 5)),
        (at(5, 6, 7), at(0, day=6), Due(at(0, day=6), 42)),
    ],
    ids=["before-first", "on-the-slot", "after-the-slot", "fired", "next", "downtime", "two-days-down"],
)
def test_the_due_slot_is_the_latest_after_the_last_one_and_counts_the_missed(
    since: datetime, now: datetime, expected: Due | None
) -> None:
    assert due_slot("0 * * * *", None, since, now) == expected


def test_a_one_off_time_is_due_once_it_has_come_and_until_it_has_fired() -> None:
    assert due_slot(None, at(7), at(5), at(6, 59)) is None
    assert due_slot(None, at(7), at(5), at(9)) == Due(at(7), 0)
    assert due_slot(None, at(7), at(7), at(9)) is None
    assert next_due(None, at(7), at(5), at(6)) == at(7)
    assert next_due(None, at(7), at(7), at(9)) is None


def test_the_next_due_slot_is_an_overdue_one_first() -> None:
    assert next_due("0 * * * *", None, at(6), at(6, 30)) == at(7)
    assert next_due("0 * * * *", None, at(6), at(9, 30)) == at(9)


# --- the scheduler -------------------------------------------------------------------------------------


def test_a_recurring_job_runs_at_each_slot_once(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    schedule_id = create(service, cron="0 * * * *")
    ticking = scheduler(store, service, jobs, clock)
    clock.now = at(5, 59, 59)
    assert ticking.tick() == []
    clock.now = at(6)
    [ran] = ticking.tick()
    assert ran == job_run_id_for(schedule_id, at(6))
    clock.now = at(6, 0, 30)
    assert ticking.tick() == []
    clock.now = at(7, 0, 1)
    assert len(ticking.tick()) == 1
    assert jobs.slots() == [at(6), at(7)]
    assert kinds(store, ran) == ["Due", "Started", "Succeeded"]
    [(kind, call, args)] = jobs.calls[:1]
    assert (kind, args) == ("export", ("retail-sales", None, "kpis", "csv", []))
    assert (call.tenant_id, call.schedule_id, call.run_id) == (TENANT, schedule_id, ran)
    # The job's effects are recorded under a command id derived from the run: the same run, the same effects.
    assert call.context.command_id == f"{ran}|export"
    succeeded = store.read_stream(ran)[-1].event
    assert succeeded.outcome == {"kind": "export", "slot": "2026-03-04T06:00:00+00:00"}


def test_after_downtime_a_missed_recurring_job_runs_once_for_its_latest_slot(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, cron="0 * * * *")
    clock.now = at(11, 20)
    ticking = scheduler(store, service, jobs, clock)
    assert len(ticking.tick()) == 1
    assert len(ticking.tick()) == 0
    [due] = runs_of(store)
    assert (due.slot, due.missed) == ("2026-03-04T11:00:00+00:00", 5)
    clock.now = at(12)
    ticking.tick()
    assert jobs.slots() == [at(11), at(12)]
    assert runs_of(store)[-1].missed == 0


def test_a_one_off_job_runs_once_even_when_late(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, {"kind": "kpi_rebuild", "contract": "retail-sales"}, at=at(7))
    ticking = scheduler(store, service, jobs, clock)
    clock.now = at(6, 59, 59)
    assert ticking.tick() == []
    clock.now = at(9, 30)
    assert len(ticking.tick()) == 1
    for hours in range(1, 30):
        clock.now = at(9, 30) + timedelta(hours=hours)
        assert ticking.tick() == []
    [(kind, call, args)] = jobs.calls
    assert (kind, call.slot, args) == ("kpi_rebuild", at(7), ("retail-sales",))


def test_a_replay_of_the_log_fires_nothing_twice(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, cron="*/10 * * * *")
    create(service, {"kind": "ledger_checkpoint"}, at=at(6, 5))
    first = scheduler(store, service, jobs, clock)
    for minutes in range(0, 120, 7):
        clock.now = at(6) + timedelta(minutes=minutes)
        first.tick()
    calls, end = len(jobs.calls), store.last_position()
    assert calls == 13  # twelve ten-minute slots from 06:00 to 07:50, and the one-off
    # A scheduler started afresh rebuilds its state from the log and, at the same time, finds nothing to do.
    again = scheduler(store, service, jobs, clock)
    assert again.tick() == []
    assert (len(jobs.calls), store.last_position()) == (calls, end)


class Lagging:
    """The real store, except that the log read stops at ``until``: a scheduler that has not yet seen the rest."""

    def __init__(self, inner: EventStore, until: int) -> None:
        self.inner = inner
        self.until = until

    def read_all(self, after: int, limit: int, until: int | None = None) -> list[Any]:
        return self.inner.read_all(after, limit, self.until if until is None else min(until, self.until))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_scheduler_restarted_from_its_checkpoint_knows_its_schedules_without_reading_the_log(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, cron="0 * * * *")
    create(service, {"kind": "ledger_checkpoint"}, at=at(13))
    checkpoints = MemoryCheckpoints()
    clock.now = at(11, 20)
    assert len(scheduler(store, service, jobs, clock, checkpoints=checkpoints).tick()) == 1

    restarted = scheduler(store, service, jobs, clock, checkpoints=checkpoints)
    assert restarted.follower.read() == 3  # only what the last tick recorded: the run's Due, Started, Succeeded
    clock.now = at(13)
    assert len(restarted.tick()) == 2
    assert jobs.slots() == [at(11), at(13), at(13)]


def test_a_scheduler_behind_on_the_log_does_not_run_a_slot_another_has_run(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, cron="0 * * * *")
    behind = scheduler(Lagging(store, store.last_position()), service, jobs, clock, owner="b")  # type: ignore[arg-type]
    ahead = scheduler(store, service, jobs, clock, owner="a")
    clock.now = at(6, 0, 5)
    assert len(ahead.tick()) == 1
    # b sees the schedule but none of a's run: it fires the same slot (recording nothing) and loses the claim.
    assert behind.tick() == []
    assert jobs.slots() == [at(6)]
    [due] = runs_of(store)
    assert kinds(store, due.originator_id) == ["Due", "Started", "Succeeded"]


class Meeting:
    """The real store, except that reading the log's end waits for the other scheduler to have read it too: both
    decide from the same view, so they race for every slot."""

    def __init__(self, inner: EventStore, barrier: threading.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier

    def read_all(self, after: int, limit: int, until: int | None = None) -> list[Any]:
        batch = self.inner.read_all(after, limit, until)
        if len(batch) < limit:
            self.barrier.wait(timeout=10)
        return batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_two_schedulers_ticking_at_once_run_each_slot_once(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, cron="* * * * *")
    create(service, cron="*/2 * * * *")
    barrier = threading.Barrier(2)
    pair = [
        scheduler(Meeting(store, barrier), service, jobs, clock, owner=name)  # type: ignore[arg-type]
        for name in ("a", "b")
    ]
    for minute in range(30):
        clock.now = at(6) + timedelta(minutes=minute, seconds=1)
        threads = [threading.Thread(target=s.tick) for s in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ran = [(call.schedule_id, call.slot) for _, call, _ in jobs.calls]
    assert len(ran) == len(set(ran)) == 30 + 15
    for due in runs_of(store):
        assert kinds(store, due.originator_id) == ["Due", "Started", "Succeeded"]


def test_a_failing_job_is_recorded_as_failed_and_the_next_slot_runs_again(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, cron="0 * * * *")
    ticking = scheduler(store, service, jobs, clock)
    jobs.failure = RuntimeError("the product is not there")
    clock.now = at(6)
    [failed] = ticking.tick()
    last = store.read_stream(failed)[-1].event
    assert isinstance(last, JobRun.Failed)
    assert last.error == "RuntimeError: the product is not there"
    clock.now = at(6, 30)
    assert ticking.tick() == []  # a failed run is finished: not retried within its slot
    jobs.failure = None
    clock.now = at(7)
    [succeeded] = ticking.tick()
    assert kinds(store, succeeded)[-1] == "Succeeded"


def test_slots_passed_while_paused_are_skipped_and_deleted_schedules_fire_no_more(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    schedule_id = create(service, cron="0 * * * *")
    ticking = scheduler(store, service, jobs, clock)
    clock.now = at(6)
    ticking.tick()
    service.pause_schedule(context(), TENANT, schedule_id)
    clock.now = at(9, 30)
    assert ticking.tick() == []
    service.resume_schedule(context(), TENANT, schedule_id)
    assert ticking.tick() == []  # 07:00 to 09:00 passed while paused
    clock.now = at(10)
    ticking.tick()
    service.delete_schedule(context(), TENANT, schedule_id)
    clock.now = at(13)
    assert ticking.tick() == []
    assert jobs.slots() == [at(6), at(10)]


def test_a_scheduler_that_has_not_seen_a_pause_fires_nothing(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    schedule_id = create(service, cron="0 * * * *")
    behind = scheduler(Lagging(store, store.last_position()), service, jobs, clock)  # type: ignore[arg-type]
    service.pause_schedule(context(), TENANT, schedule_id)
    clock.now = at(6)
    assert behind.tick() == []
    assert runs_of(store) == []


class Vanishing(Jobs):
    """A job whose scheduler dies while running it: the exception escapes before anything is recorded."""

    def export(self, call: JobCall, *args: Any) -> dict[str, Any]:
        self._record("export", call, *args)
        raise SystemExit("the process was killed")


def test_a_run_whose_scheduler_vanished_is_retaken_once_it_is_stale(
    store: EventStore, service: SchedulerService, clock: Clock
) -> None:
    create(service, cron="0 * * * *")
    dying = Vanishing()
    clock.now = at(6)
    with pytest.raises(SystemExit):
        scheduler(store, service, dying, clock, owner="a", stale_after=600).tick()
    [due] = runs_of(store)
    assert kinds(store, due.originator_id) == ["Due", "Started"]
    jobs = Jobs()
    survivor = scheduler(store, service, jobs, clock, owner="b", stale_after=600)
    clock.now = at(6, 9, 59)
    assert survivor.tick() == []
    clock.now = at(6, 10)
    assert survivor.tick() == [due.originator_id]
    assert kinds(store, due.originator_id) == ["Due", "Started", "Started", "Succeeded"]
    # The retaken attempt acts under the same command id, so what the first attempt recorded is not recorded again.
    assert jobs.calls[0][1].context.command_id == dying.calls[0][1].context.command_id


# --- the schedule commands -----------------------------------------------------------------------------


def test_creating_refuses_bad_cron_past_times_and_unknown_jobs(service: SchedulerService, store: EventStore) -> None:
    with pytest.raises(InvalidValueError, match="not a cron expression"):
        create(service, cron="every day")
    with pytest.raises(InvalidValueError, match="has passed"):
        create(service, at=START - timedelta(minutes=1))
    with pytest.raises(InvalidValueError, match="job kind"):
        create(service, {"kind": "reindex"}, cron="@daily")
    assert store.last_position() == 0


def test_creating_again_under_the_same_command_id_creates_one_schedule(service: SchedulerService) -> None:
    first = service.create_schedule(context("once"), TENANT, "a", HOURLY_EXPORT, cron="@hourly")
    again = service.create_schedule(context("once"), TENANT, "a", HOURLY_EXPORT, cron="@hourly")
    assert (again.aggregate_id, again.position, again.replayed) == (first.aggregate_id, first.position, True)


def test_another_tenants_schedule_cannot_be_seen_or_changed(service: SchedulerService) -> None:
    schedule_id = create(service, cron="@hourly")
    with pytest.raises(NotFoundError):
        service.pause_schedule(context(), "another-tenant", schedule_id)
    with pytest.raises(NotFoundError):
        service.schedule("another-tenant", schedule_id)
    with pytest.raises(NotFoundError):
        service.delete_schedule(context(), TENANT, uuid4())
    assert service.schedule(TENANT, schedule_id).status == "active"


class Flaky:
    """The real store, except that the first log read fails, as a database restarting would."""

    def __init__(self, inner: EventStore) -> None:
        self.inner = inner
        self.failures = 1

    def read_all(self, after: int, limit: int, until: int | None = None) -> list[Any]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database is restarting")
        return self.inner.read_all(after, limit, until)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_loop_ticks_in_its_thread_outlives_a_failed_tick_and_stops(
    store: EventStore, service: SchedulerService, jobs: Jobs, clock: Clock
) -> None:
    create(service, cron="0 * * * *")
    clock.now = at(6, 0, 1)
    looping = scheduler(Flaky(store), service, jobs, clock, interval=0.01)  # type: ignore[arg-type]
    looping.start()
    deadline = time.monotonic() + 5
    while not jobs.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    looping.stop()
    thread = looping._background._thread
    assert thread is not None
    assert not thread.is_alive()
    assert jobs.slots() == [at(6)]
