"""Schedules: a tenant's recurring (cron) or one-off job.

A Schedule says what job to run (its kind and parameters, ``jobs.check_job``) and when: a cron expression read in
UTC, or one time. It takes every time it needs as an argument (the domain has no clock); the cron expression is
checked by the application, which owns the cron arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.schedules.jobs import check_job, slot_key
from domain.values import ScheduleStatus, TenantId

SCHEDULE_NAMESPACE = UUID("5e0f7a3c-8b21-4d6e-a9c4-2f71d08b3e95")
TIMEZONES = ("UTC",)
MAX_NAME = 200


class ScheduleStateError(ConflictError):
    """The schedule is not in a state that allows this (pausing a paused one, changing a deleted one)."""


def schedule_id_for(tenant_id: TenantId, command_id: str) -> UUID:
    """A schedule is named by the command that created it, so a retried request creates one schedule."""
    return uuid5(SCHEDULE_NAMESPACE, f"{tenant_id}|{command_id}")


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
        self.status = ScheduleStatus.ACTIVE

    def _require(self, *statuses: ScheduleStatus) -> None:
        if self.status not in statuses:
            raise ScheduleStateError(f"schedule {self.name!r} is {self.status}")

    def pause(self, by: str) -> None:
        """Stops firing until resumed; slots that pass meanwhile are skipped, not caught up."""
        self._require(ScheduleStatus.ACTIVE)
        self._paused(by)

    @event(Paused)
    def _paused(self, by: str) -> None:
        self.status = ScheduleStatus.PAUSED

    def resume(self, by: str, now: datetime) -> None:
        """Fires again from the first slot after ``now``."""
        self._require(ScheduleStatus.PAUSED)
        self._resumed(by, slot_key(now))

    @event(Resumed)
    def _resumed(self, by: str, at: str) -> None:
        self.status = ScheduleStatus.ACTIVE
        self.resumed_at = at

    def delete(self, by: str) -> None:
        """Fires no more; its runs stay as evidence."""
        self._require(ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED)
        self._deleted(by)

    @event(Deleted)
    def _deleted(self, by: str) -> None:
        self.status = ScheduleStatus.DELETED
