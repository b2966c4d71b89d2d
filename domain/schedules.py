"""Scheduler: recurring (cron) and one-off jobs of a tenant, and each slot's run of them.

A Schedule says what job to run (its kind and parameters) and when: a cron expression read in UTC, or one
time. A JobRun is one slot of one schedule, named by both (uuid5 of schedule and slot), so a slot runs once
however many schedulers race for it and however often the log is replayed. The aggregates take every time
they need as an argument (the domain has no clock); the cron expression is checked by the application, which
owns the cron arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.exports import EXPORT_FORMATS, MAX_FILTERS
from domain.values import TenantId

SCHEDULE_NAMESPACE = UUID("5e0f7a3c-8b21-4d6e-a9c4-2f71d08b3e95")
JOB_RUN_NAMESPACE = UUID("a1d94c62-07be-4f35-8e1a-6c3b2d5f9047")
JOB_KINDS = ("kpi_rebuild", "export", "ledger_checkpoint")
TIMEZONES = ("UTC",)
MAX_NAME = 200
MAX_PARAM = 200
MAX_ERROR = 2000


class ScheduleStateError(ConflictError):
    """The schedule is not in a state that allows this (pausing a paused one, changing a deleted one)."""


class RunClaimedError(ConflictError):
    """The run has been started by another scheduler (and is not stale), or it has finished."""


class StaleAttemptError(ConflictError):
    """The attempt finishing is not the run's current one: another scheduler took the run over."""


def schedule_id_for(tenant_id: TenantId, command_id: str) -> UUID:
    """A schedule is named by the command that created it, so a retried request creates one schedule."""
    return uuid5(SCHEDULE_NAMESPACE, f"{tenant_id}|{command_id}")


def slot_key(slot: datetime) -> str:
    """The one spelling of a slot time (ISO 8601 in UTC) that run ids and events use."""
    if slot.tzinfo is None:
        raise InvalidValueError("a slot time needs a time zone")
    return slot.astimezone(UTC).isoformat()


def job_run_id_for(schedule_id: UUID, slot: datetime) -> UUID:
    """The run of one slot of one schedule: the same slot always names the same run."""
    return uuid5(JOB_RUN_NAMESPACE, f"{schedule_id}|{slot_key(slot)}")


def _text(params: dict[str, Any], name: str, default: str | None = None) -> str:
    value = params.get(name, default)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PARAM:
        raise InvalidValueError(f"job parameter {name!r} must be text of 1-{MAX_PARAM} characters")
    return value.strip()


def _export_params(params: dict[str, Any]) -> dict[str, Any]:
    version = params.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise InvalidValueError("job parameter 'version' must be a version number (1 or more), or absent for latest")
    fmt = _text(params, "format", "csv")
    if fmt not in EXPORT_FORMATS:
        raise InvalidValueError(f"job parameter 'format' must be one of {', '.join(EXPORT_FORMATS)}")
    filters = params.get("filters") or {}
    if not isinstance(filters, dict) or len(filters) > MAX_FILTERS:
        raise InvalidValueError(f"job parameter 'filters' is an object of up to {MAX_FILTERS} parameters")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in filters.items()):
        raise InvalidValueError("job parameter 'filters' maps parameter names to text values")
    product, dataset = _text(params, "product"), _text(params, "dataset", "kpis")
    return {"product": product, "version": version, "dataset": dataset, "format": fmt, "filters": dict(filters)}


_PARAMS: dict[str, tuple[frozenset[str], Any]] = {
    "kpi_rebuild": (frozenset({"contract"}), lambda p: {"contract": _text(p, "contract")}),
    "export": (frozenset({"product", "version", "dataset", "format", "filters"}), _export_params),
    "ledger_checkpoint": (frozenset(), lambda p: {}),
}


def check_job(job: dict[str, Any]) -> dict[str, Any]:
    """The job in its one stored form ({"kind": ..., parameters}); InvalidValueError for unknown kinds or params."""
    kind = job.get("kind")
    if kind not in _PARAMS:
        raise InvalidValueError(f"job kind must be one of {', '.join(JOB_KINDS)}, not {kind!r}")
    allowed, check = _PARAMS[kind]
    params = {k: v for k, v in job.items() if k != "kind"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InvalidValueError(f"a {kind} job takes no parameter {', '.join(map(repr, unknown))}")
    checked: dict[str, Any] = check(params)
    return {"kind": kind, **checked}


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME or not cleaned.isprintable():
        raise InvalidValueError(f"a schedule's name is 1-{MAX_NAME} printable characters")
    return cleaned


def _check_when(cron: str | None, at: datetime | None, timezone: str, now: datetime) -> str | None:
    """Exactly one of a cron expression and a one-off time, in UTC; the one-off time still to come."""
    if (cron is None) == (at is None):
        raise InvalidValueError("give a schedule either a cron expression (cron) or one time to run at (at)")
    if timezone not in TIMEZONES:
        raise InvalidValueError(f"schedules run in {', '.join(TIMEZONES)}; timezone {timezone!r} is not supported")
    if at is None:
        return None
    moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    if moment <= now:
        raise InvalidValueError(f"the time to run at ({slot_key(moment)}) has passed (now {slot_key(now)})")
    return slot_key(moment)


class Schedule(Aggregate):
    """A job of a tenant's, run at the slots of a cron expression or once at a given time."""

    class Created(Aggregate.Created):
        tenant_id: TenantId
        name: str
        job: dict[str, Any]
        cron: str | None
        at: str | None
        timezone: str
        starts_at: str
        by: str

    class Paused(Aggregate.Event):
        by: str

    class Resumed(Aggregate.Event):
        by: str
        at: str

    class Deleted(Aggregate.Event):
        by: str

    @classmethod
    def create(
        cls,
        tenant_id: TenantId,
        command_id: str,
        name: str,
        job: dict[str, Any],
        cron: str | None,
        at: datetime | None,
        timezone: str,
        now: datetime,
        by: str,
    ) -> Schedule:
        """A new schedule whose first slot comes after ``now``; ``cron`` must already be a valid expression."""
        once = _check_when(cron, at, timezone, now)
        return cls._create(
            cls.Created,
            id=schedule_id_for(tenant_id, command_id),
            tenant_id=tenant_id,
            name=_check_name(name),
            job=check_job(job),
            cron=cron,
            at=once,
            timezone=timezone,
            starts_at=slot_key(now),
            by=by,
        )

    def __init__(
        self,
        tenant_id: TenantId,
        name: str,
        job: dict[str, Any],
        cron: str | None,
        at: str | None,
        timezone: str,
        starts_at: str,
        by: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.job = job
        self.cron = cron
        self.at = at
        self.starts_at = starts_at
        self.resumed_at: str | None = None
        self.status = "active"

    def _require(self, *statuses: str) -> None:
        if self.status not in statuses:
            raise ScheduleStateError(f"schedule {self.name!r} is {self.status}")

    def pause(self, by: str) -> None:
        """Stops firing until resumed; slots that pass meanwhile are skipped, not caught up."""
        self._require("active")
        self._paused(by)

    @event(Paused)
    def _paused(self, by: str) -> None:
        self.status = "paused"

    def resume(self, by: str, now: datetime) -> None:
        """Fires again from the first slot after ``now``."""
        self._require("paused")
        self._resumed(by, slot_key(now))

    @event(Resumed)
    def _resumed(self, by: str, at: str) -> None:
        self.status = "active"
        self.resumed_at = at

    def delete(self, by: str) -> None:
        """Fires no more; its runs stay as evidence."""
        self._require("active", "paused")
        self._deleted(by)

    @event(Deleted)
    def _deleted(self, by: str) -> None:
        self.status = "deleted"


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
        self.status = "due"
        self.attempt = 0
        self.started_at: datetime | None = None

    def start(self, attempt: int, by: str, now: datetime, stale_after: float) -> None:
        """Claims the run for one scheduler; a run started ``stale_after`` seconds ago without end may be retaken."""
        if attempt != self.attempt + 1:
            raise RunClaimedError(f"run {self.id} is at attempt {self.attempt}, not {attempt - 1}")
        stale = self.started_at is not None and (now - self.started_at).total_seconds() >= stale_after
        if self.status == "due" or (self.status == "started" and stale):
            self._started(attempt, by, slot_key(now))
            return
        raise RunClaimedError(f"run {self.id} is {self.status}")

    @event(Started)
    def _started(self, attempt: int, by: str, at: str) -> None:
        self.status = "started"
        self.attempt = attempt
        self.started_at = datetime.fromisoformat(at)

    def _require_attempt(self, attempt: int) -> None:
        if self.status != "started" or attempt != self.attempt:
            raise StaleAttemptError(f"run {self.id} is {self.status} at attempt {self.attempt}, not {attempt}")

    def succeed(self, attempt: int, now: datetime, outcome: dict[str, Any]) -> None:
        """Records what the job did (references such as an export id, never data)."""
        self._require_attempt(attempt)
        self._succeeded(attempt, slot_key(now), dict(outcome))

    @event(Succeeded)
    def _succeeded(self, attempt: int, at: str, outcome: dict[str, Any]) -> None:
        self.status = "succeeded"

    def fail(self, attempt: int, now: datetime, error: str) -> None:
        """Records why the job did not run; the schedule's next slot tries again."""
        self._require_attempt(attempt)
        self._failed(attempt, slot_key(now), error[:MAX_ERROR])

    @event(Failed)
    def _failed(self, attempt: int, at: str, error: str) -> None:
        self.status = "failed"
