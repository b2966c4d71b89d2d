"""Scheduler: the schedule commands, and the process that fires each schedule's slots and runs their jobs.

Due times are a pure function of a schedule (cron expression or one-off time, creation and resume times) and of
its last run slot, all read from the log: at ``now`` the slot to fire is the latest one in (since, now]. So a
scheduler that was down fires a missed recurring job once, for the latest missed slot (the run says how many
slots it stands for), and a one-off job once, late if need be. Slots passed while a schedule was paused are
skipped.

Each slot is a JobRun stream named by schedule and slot and created under a command id derived from it, so two
schedulers (or one replaying the log) create it once. Running it is claimed by its Started event: the run's
stream version decides a race, and a run whose scheduler vanished is retaken after ``stale_after`` seconds.
A job's effects are recorded under command ids derived from the run, so a retaken run does nothing twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from opentelemetry import trace

from application.commands import Clock, CommandContext, CommandResult, CommandRunner, replay
from application.cron import check_cron, count_between, latest_until, next_after
from application.jobs import JobCall, JobRunner, perform
from domain.errors import ConflictError, NotFoundError
from domain.schedules import (
    JobRun,
    RunClaimedError,
    Schedule,
    ScheduleStateError,
    StaleAttemptError,
    job_run_id_for,
    schedule_id_for,
)
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("platform.scheduler")
ACTOR = "system:scheduler"
BATCH = 1000
MISSED_CAP = 1000
"""Missed slots are counted up to this many (an every-minute job down for a week stands for 1000+)."""


@dataclass(frozen=True)
class Due:
    """A slot to fire now, and how many earlier slots (passed unrun) it stands for."""

    slot: datetime
    missed: int


def due_slot(cron: str | None, at: datetime | None, since: datetime, now: datetime) -> Due | None:
    """The slot to fire at ``now``: the latest in (since, now], or None when no slot lies there."""
    if at is not None:
        return Due(at, 0) if since < at <= now else None
    if cron is None:
        raise ValueError("a schedule has a cron expression or a time to run at")
    latest = latest_until(cron, now)
    if latest <= since:
        return None
    return Due(latest, count_between(cron, since, latest, MISSED_CAP))


def next_due(cron: str | None, at: datetime | None, since: datetime, now: datetime) -> datetime | None:
    """The slot the scheduler fires next: one already due (in the past when overdue), else the first after now."""
    due = due_slot(cron, at, since, now)
    if due is not None:
        return due.slot
    if at is not None:
        return at if at > since else None
    return next_after(str(cron), now)


def _schedule_tenant(schedule: Schedule) -> str:
    return schedule.tenant_id


def _run_tenant(run: JobRun) -> str:
    return run.tenant_id


class SchedulerService:
    """Commands on schedules (create, pause, resume, delete) and on the runs of their slots."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def create_schedule(
        self,
        context: CommandContext,
        tenant_id: str,
        name: str,
        job: dict[str, Any],
        cron: str | None = None,
        at: datetime | None = None,
        timezone: str = "UTC",
    ) -> CommandResult:
        """Schedules a job on a cron expression or once; 422 for a bad expression, a past time or an unknown job."""
        expression = check_cron(cron) if cron is not None else None
        now = self.runner.clock()
        return self.runner.create(
            context,
            "create_schedule",
            schedule_id_for(tenant_id, context.command_id),
            make=lambda: Schedule.create(
                tenant_id, context.command_id, name, job, expression, at, timezone, now, context.actor
            ),
            tenant_of=_schedule_tenant,
            exists=lambda: ConflictError("this schedule was created already"),
        )

    def pause_schedule(self, context: CommandContext, tenant_id: str, schedule_id: UUID) -> CommandResult:
        """Stops a schedule firing; slots that pass while paused are skipped."""
        return self._change(context, "pause_schedule", tenant_id, schedule_id, lambda s: s.pause(context.actor))

    def resume_schedule(self, context: CommandContext, tenant_id: str, schedule_id: UUID) -> CommandResult:
        """Fires a paused schedule again, from its first slot after now."""
        now = self.runner.clock()
        return self._change(context, "resume_schedule", tenant_id, schedule_id, lambda s: s.resume(context.actor, now))

    def delete_schedule(self, context: CommandContext, tenant_id: str, schedule_id: UUID) -> CommandResult:
        """Ends a schedule for good; its runs stay."""
        return self._change(context, "delete_schedule", tenant_id, schedule_id, lambda s: s.delete(context.actor))

    def _change(
        self, context: CommandContext, name: str, tenant_id: str, schedule_id: UUID, change: Callable[[Schedule], None]
    ) -> CommandResult:
        def decide(schedule: Schedule) -> None:
            if schedule.tenant_id != tenant_id:
                raise NotFoundError(f"no such schedule: {schedule_id}")
            change(schedule)

        return self.runner.update(context, name, schedule_id, decide, _schedule_tenant)

    def schedule(self, tenant_id: str, schedule_id: UUID) -> Schedule:
        found: Schedule | None = replay(self.runner.store.read_stream(schedule_id))
        if not isinstance(found, Schedule) or found.tenant_id != tenant_id:
            raise NotFoundError(f"no such schedule: {schedule_id}")
        return found

    # --- the runs of slots, recorded by the scheduler

    def mark_due(
        self, context: CommandContext, tenant_id: str, schedule_id: UUID, due: Due, job: dict[str, Any]
    ) -> CommandResult:
        """Records a slot's run as due; the same slot again (another scheduler, a replay) records nothing.

        ScheduleStateError when the schedule has been paused or deleted since the caller read the log."""
        schedule = self.schedule(tenant_id, schedule_id)
        if schedule.status != "active":
            raise ScheduleStateError(f"schedule {schedule.name!r} is {schedule.status}")
        return self.runner.create(
            context,
            "mark_run_due",
            job_run_id_for(schedule_id, due.slot),
            make=lambda: JobRun.due(tenant_id, schedule_id, due.slot, job, due.missed),
            tenant_of=_run_tenant,
            exists=lambda: RunClaimedError(f"the run of {due.slot.isoformat()} exists"),
        )

    def record_run(self, context: CommandContext, run_id: UUID, change: Callable[[JobRun], None]) -> CommandResult:
        return self.runner.update(context, "job_run_step", run_id, change, _run_tenant)


@dataclass
class _Plan:
    """A live schedule as the log says: its job, its slots, and the time after which its next slot counts."""

    tenant_id: str
    job: dict[str, Any]
    cron: str | None
    at: datetime | None
    since: datetime
    active: bool = True


@dataclass
class _Run:
    """A run not yet finished."""

    tenant_id: str
    schedule_id: UUID
    slot: datetime
    job: dict[str, Any]
    attempt: int = 0
    started_at: datetime | None = None


@dataclass
class _State:
    position: int = 0
    plans: dict[UUID, _Plan] = field(default_factory=dict)
    runs: dict[UUID, _Run] = field(default_factory=dict)

    def see(self, recorded: RecordedEvent) -> None:
        event, stream = recorded.event, recorded.event.originator_id
        self.position = recorded.position
        match event:
            case Schedule.Created():
                at = datetime.fromisoformat(event.at) if event.at else None
                since = datetime.fromisoformat(event.starts_at)
                self.plans[stream] = _Plan(event.tenant_id, event.job, event.cron, at, since)
            case Schedule.Paused() if stream in self.plans:
                self.plans[stream].active = False
            case Schedule.Resumed() if stream in self.plans:
                plan = self.plans[stream]
                plan.active, plan.since = True, max(plan.since, datetime.fromisoformat(event.at))
            case Schedule.Deleted():
                self.plans.pop(stream, None)
            case JobRun.Due():
                self._due(stream, event)
            case JobRun.Started() if stream in self.runs:
                run = self.runs[stream]
                run.attempt, run.started_at = event.attempt, datetime.fromisoformat(event.at)
            case JobRun.Succeeded() | JobRun.Failed():
                self.runs.pop(stream, None)

    def _due(self, run_id: UUID, event: JobRun.Due) -> None:
        schedule_id, slot = UUID(event.schedule_id), datetime.fromisoformat(event.slot)
        plan = self.plans.get(schedule_id)
        if plan is not None:
            plan.since = max(plan.since, slot)
        self.runs[run_id] = _Run(event.tenant_id, schedule_id, slot, event.job)


class Scheduler:
    """Fires the slots that are due by its clock and runs their jobs; rebuilds what it knows from the log."""

    def __init__(
        self,
        store: EventStore,
        service: SchedulerService,
        jobs: JobRunner,
        clock: Clock,
        stale_after: float = 900.0,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.jobs = jobs
        self.clock = clock
        self.stale_after = stale_after
        self.owner = owner or f"scheduler-{uuid4()}"
        self.state = _State()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> None:
        while True:
            batch = self.store.read_all(self.state.position, BATCH)
            for recorded in batch:
                self.state.see(recorded)
            if len(batch) < BATCH:
                return

    def tick(self) -> list[UUID]:
        """Reads the log, fires every slot due by the clock, and runs each unfinished run it can claim.

        Returns the runs this scheduler ran (succeeded or failed) in this tick."""
        self._read()
        now = self.clock()
        for schedule_id, plan in list(self.state.plans.items()):
            due = due_slot(plan.cron, plan.at, plan.since, now) if plan.active else None
            if due is not None:
                self._fire(schedule_id, plan, due)
        ran = []
        for run_id in sorted(self.state.runs, key=lambda r: self.state.runs[r].slot):
            if self._claimable(self.state.runs[run_id], now) and self._run(run_id, now):
                ran.append(run_id)
        return ran

    def _context(self, run_id: UUID, name: str) -> CommandContext:
        return CommandContext(ACTOR, f"{run_id}|{name}", correlation_id=str(run_id), causation_id=str(run_id))

    def _fire(self, schedule_id: UUID, plan: _Plan, due: Due) -> None:
        run_id = job_run_id_for(schedule_id, due.slot)
        try:
            self.service.mark_due(self._context(run_id, "due"), plan.tenant_id, schedule_id, due, plan.job)
        except ScheduleStateError as error:  # paused or deleted since this scheduler read the log
            log.info("schedule %s: slot %s not fired: %s", schedule_id, due.slot.isoformat(), error)
            plan.active = False
            return
        except RunClaimedError:  # the slot's run exists already: fired by another scheduler
            pass
        plan.since = due.slot
        self.state.runs.setdefault(run_id, _Run(plan.tenant_id, schedule_id, due.slot, plan.job))

    def _claimable(self, run: _Run, now: datetime) -> bool:
        return run.started_at is None or (now - run.started_at).total_seconds() >= self.stale_after

    def _run(self, run_id: UUID, now: datetime) -> bool:
        """Claims the run and runs its job; False when another scheduler has it (or it has finished)."""
        run = self.state.runs[run_id]
        attempt = run.attempt + 1
        claim = self._context(run_id, f"start|{attempt}|{self.owner}")
        try:
            self.service.record_run(claim, run_id, lambda r: r.start(attempt, self.owner, now, self.stale_after))
        except RunClaimedError:
            return False
        run.attempt, run.started_at = attempt, now
        kind = str(run.job["kind"])
        call = JobCall(run.tenant_id, run.schedule_id, run_id, run.slot, self._context(run_id, kind))
        with _tracer.start_as_current_span(f"job {kind}", attributes={"platform.run_id": str(run_id)}):
            try:
                outcome = perform(self.jobs, call, run.job)
            except Exception as error:  # a job that raises is recorded as failed, with why; the loop goes on
                log.warning("scheduled %s run %s failed: %s", kind, run_id, error)
                message = f"{type(error).__name__}: {error}"
                self._finish(run_id, attempt, lambda r: r.fail(attempt, self.clock(), message))
                return True
        self._finish(run_id, attempt, lambda r: r.succeed(attempt, self.clock(), outcome))
        return True

    def _finish(self, run_id: UUID, attempt: int, change: Callable[[JobRun], None]) -> None:
        try:
            self.service.record_run(self._context(run_id, f"finish|{attempt}"), run_id, change)
        except StaleAttemptError as error:  # another scheduler retook the run meanwhile; its attempt counts
            log.warning("scheduled run %s: %s", run_id, error)

    def run(self, interval: float = 1.0) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the loop must outlive a bad moment (a database restart); it picks up again
                log.exception("scheduler tick failed; trying again")
            self._stop.wait(interval)

    def start(self, interval: float = 1.0) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(interval,), name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
