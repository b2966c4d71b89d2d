"""Job runs: one slot of one schedule, from due to succeeded or failed.

A JobRun is named by its schedule and slot (uuid5 of both), so a slot runs once however many schedulers race for
it and however often the log is replayed. Times are arguments: the domain has no clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError
from domain.schedules.jobs import slot_key
from domain.values import JobRunStatus, TenantId

JOB_RUN_NAMESPACE = UUID("a1d94c62-07be-4f35-8e1a-6c3b2d5f9047")
MAX_ERROR = 2000


class RunClaimedError(ConflictError):
    """The run has been started by another scheduler (and is not stale), or it has finished."""


class StaleAttemptError(ConflictError):
    """The attempt finishing is not the run's current one: another scheduler took the run over."""


def job_run_id_for(schedule_id: UUID, slot: datetime) -> UUID:
    """The run of one slot of one schedule: the same slot always names the same run."""
    return uuid5(JOB_RUN_NAMESPACE, f"{schedule_id}|{slot_key(slot)}")


class JobRun(Aggregate):
    """One slot of one schedule: due, then started (again, if its scheduler vanished), then succeeded or failed."""

    class Due(Aggregate.Created):
        tenant_id: TenantId
        schedule_id: str
        slot: str
        job: dict[str, Any]
        missed: int
        """Earlier slots that passed unrun (the scheduler was down) and that this run stands for."""

    class Started(Aggregate.Event):
        attempt: int
        by: str
        at: str

    class Succeeded(Aggregate.Event):
        attempt: int
        at: str
        outcome: dict[str, Any]

    class Failed(Aggregate.Event):
        attempt: int
        at: str
        error: str

    @classmethod
    def due(cls, tenant_id: TenantId, schedule_id: UUID, slot: datetime, job: dict[str, Any], missed: int) -> JobRun:
        return cls._create(
            cls.Due,
            id=job_run_id_for(schedule_id, slot),
            tenant_id=tenant_id,
            schedule_id=str(schedule_id),
            slot=slot_key(slot),
            job=job,
            missed=max(missed, 0),
        )

    def __init__(self, tenant_id: TenantId, schedule_id: str, slot: str, job: dict[str, Any], missed: int) -> None:
        self.tenant_id = tenant_id
        self.schedule_id = schedule_id
        self.slot = slot
        self.job = job
        self.status = JobRunStatus.DUE
        self.attempt = 0
        self.started_at: datetime | None = None

    def start(self, attempt: int, by: str, now: datetime, stale_after: float) -> None:
        """Claims the run for one scheduler; a run started ``stale_after`` seconds ago without end may be retaken."""
        if attempt != self.attempt + 1:
            raise RunClaimedError(f"run {self.id} is at attempt {self.attempt}, not {attempt - 1}")
        stale = self.started_at is not None and (now - self.started_at).total_seconds() >= stale_after
        if self.status == JobRunStatus.DUE or (self.status == JobRunStatus.STARTED and stale):
            self._started(attempt, by, slot_key(now))
            return
        raise RunClaimedError(f"run {self.id} is {self.status}")

    @event(Started)
    def _started(self, attempt: int, by: str, at: str) -> None:
        self.status = JobRunStatus.STARTED
        self.attempt = attempt
        self.started_at = datetime.fromisoformat(at)

    def _require_attempt(self, attempt: int) -> None:
        if self.status != JobRunStatus.STARTED or attempt != self.attempt:
            raise StaleAttemptError(f"run {self.id} is {self.status} at attempt {self.attempt}, not {attempt}")

    def succeed(self, attempt: int, now: datetime, outcome: dict[str, Any]) -> None:
        """Records what the job did (references such as an export id, never data)."""
        self._require_attempt(attempt)
        self._succeeded(attempt, slot_key(now), dict(outcome))

    @event(Succeeded)
    def _succeeded(self, attempt: int, at: str, outcome: dict[str, Any]) -> None:
        self.status = JobRunStatus.SUCCEEDED

    def fail(self, attempt: int, now: datetime, error: str) -> None:
        """Records why the job did not run; the schedule's next slot tries again."""
        self._require_attempt(attempt)
        self._failed(attempt, slot_key(now), error[:MAX_ERROR])

    @event(Failed)
    def _failed(self, attempt: int, at: str, error: str) -> None:
        self.status = JobRunStatus.FAILED
