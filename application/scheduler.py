"""Scheduler: the process that fires each schedule's due slots and runs their jobs, following the event log.

What is due comes from ``application.schedules`` (the latest slot after the last run slot, so a missed recurring
job runs once after downtime). Each slot is a JobRun stream named by schedule and slot and created under a
command id derived from it, so two schedulers (or one replaying the log) create it once. Running it is claimed by
its Started event: the run's stream version decides a race, and a run whose scheduler vanished is retaken after
``stale_after`` seconds. A job's effects are recorded under command ids derived from the run, so a retaken run
does nothing twice. The scheduler resumes from its checkpoint (``application.following``): the live schedules and
the unfinished runs; saving it after the effects is safe, since every effect is an idempotent command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from opentelemetry import trace

from application.checkpoints import Checkpoints, Fact
from application.commands import Clock, CommandContext
from application.following import Background, Follower
from application.jobs import JobCall, JobRunner, perform
from application.schedules import Due, SchedulerService, due_slot
from domain.schedules import JobRun, RunClaimedError, Schedule, ScheduleStateError, StaleAttemptError, job_run_id_for
from domain.values import TenantId
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("platform.scheduler")
ACTOR = "system:scheduler"


@dataclass
class _Plan:
    """A live schedule as the log says: its job, its slots, and the time after which its next slot counts."""

    tenant_id: TenantId
    job: dict[str, Any]
    cron: str | None
    at: datetime | None
    since: datetime
    active: bool = True


@dataclass
class _Run:
    """A run not yet finished."""

    tenant_id: TenantId
    schedule_id: UUID
    slot: datetime
    job: dict[str, Any]
    attempt: int = 0
    started_at: datetime | None = None


def _plan_of(state: dict[str, Any]) -> _Plan:
    at = datetime.fromisoformat(state["at"]) if state["at"] else None
    since = datetime.fromisoformat(state["since"])
    return _Plan(state["tenant_id"], state["job"], state["cron"], at, since, state["active"])


def _run_of(state: dict[str, Any]) -> _Run:
    started = datetime.fromisoformat(state["started_at"]) if state["started_at"] else None
    slot = datetime.fromisoformat(state["slot"])
    return _Run(state["tenant_id"], UUID(state["schedule_id"]), slot, state["job"], state["attempt"], started)


def _plain(value: Any) -> Any:
    """A plan or run as JSON values: times in ISO 8601, ids as text."""
    return {k: v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v for k, v in value}


class Scheduler:
    """Fires the slots that are due by its clock and runs their jobs; resumes from its checkpoint."""

    name = "scheduler"

    def __init__(
        self,
        store: EventStore,
        service: SchedulerService,
        jobs: JobRunner,
        clock: Clock,
        interval: float = 1.0,
        stale_after: float = 900.0,
        owner: str | None = None,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.jobs = jobs
        self.clock = clock
        self.interval = interval
        self.stale_after = stale_after
        self.owner = owner or f"scheduler-{uuid4()}"
        self.plans: dict[UUID, _Plan] = {}
        self.runs: dict[UUID, _Run] = {}
        """Runs not yet finished."""
        self.follower = Follower(store, [self], checkpoints)
        self._background = Background("scheduler", self.tick, interval=interval)

    # --- the state

    def see(self, recorded: RecordedEvent) -> None:
        event, stream = recorded.event, recorded.event.originator_id
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

    def saved(self) -> dict[str, Any]:
        return {
            "plans": {str(i): _plain(vars(plan).items()) for i, plan in self.plans.items()},
            "runs": {str(i): _plain(vars(run).items()) for i, run in self.runs.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.plans = {UUID(i): _plan_of(plan) for i, plan in state.get("plans", {}).items()}
        self.runs = {UUID(i): _run_of(run) for i, run in state.get("runs", {}).items()}

    def new_facts(self) -> list[Fact]:
        return []

    def work(self) -> int:
        """The scheduler's work is done by ``tick``, by its clock."""
        return 0

    # --- the work

    def tick(self) -> list[UUID]:
        """Reads the log, fires every slot due by the clock, and runs each unfinished run it can claim.

        Returns the runs this scheduler ran (succeeded or failed) in this tick."""
        self.follower.read()
        now = self.clock()
        for schedule_id, plan in list(self.plans.items()):
            due = due_slot(plan.cron, plan.at, plan.since, now) if plan.active else None
            if due is not None:
                self._fire(schedule_id, plan, due)
        ran = []
        for run_id in sorted(self.runs, key=lambda r: self.runs[r].slot):
            if self._claimable(self.runs[run_id], now) and self._run(run_id, now):
                ran.append(run_id)
        self.follower.save()
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
        self.runs.setdefault(run_id, _Run(plan.tenant_id, schedule_id, due.slot, plan.job))

    def _claimable(self, run: _Run, now: datetime) -> bool:
        return run.started_at is None or (now - run.started_at).total_seconds() >= self.stale_after

    def _run(self, run_id: UUID, now: datetime) -> bool:
        """Claims the run and runs its job; False when another scheduler has it (or it has finished)."""
        run = self.runs[run_id]
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

    def start(self) -> None:
        """Ticks every ``interval`` seconds on a thread of its own until stopped."""
        self._background.start()

    def stop(self) -> None:
        self._background.stop()
