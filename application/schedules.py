"""Schedules: the commands on a tenant's schedules and on the runs of their slots, and when a slot is due.

Due times are a pure function of a schedule (cron expression or one-off time, creation and resume times) and of
its last run slot: at ``now`` the slot to fire is the latest one in (since, now]. So a scheduler that was down
fires a missed recurring job once, for the latest missed slot (the run says how many slots it stands for), and a
one-off job once, late if need be. Slots passed while a schedule was paused are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from application.cron import check_cron, count_between, latest_until, next_after
from domain.errors import ConflictError, NotFoundError
from domain.schedules import (
    JobRun,
    RunClaimedError,
    Schedule,
    ScheduleStateError,
    job_run_id_for,
    schedule_id_for,
)
from domain.values import ScheduleStatus, TenantId

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
        tenant_id: TenantId,
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

    def pause_schedule(self, context: CommandContext, tenant_id: TenantId, schedule_id: UUID) -> CommandResult:
        """Stops a schedule firing; slots that pass while paused are skipped."""
        return self._change(context, "pause_schedule", tenant_id, schedule_id, lambda s: s.pause(context.actor))

    def resume_schedule(self, context: CommandContext, tenant_id: TenantId, schedule_id: UUID) -> CommandResult:
        """Fires a paused schedule again, from its first slot after now."""
        now = self.runner.clock()
        return self._change(context, "resume_schedule", tenant_id, schedule_id, lambda s: s.resume(context.actor, now))

    def delete_schedule(self, context: CommandContext, tenant_id: TenantId, schedule_id: UUID) -> CommandResult:
        """Ends a schedule for good; its runs stay."""
        return self._change(context, "delete_schedule", tenant_id, schedule_id, lambda s: s.delete(context.actor))

    def _change(
        self,
        context: CommandContext,
        name: str,
        tenant_id: TenantId,
        schedule_id: UUID,
        change: Callable[[Schedule], None],
    ) -> CommandResult:
        def decide(schedule: Schedule) -> None:
            if schedule.tenant_id != tenant_id:
                raise NotFoundError(f"no such schedule: {schedule_id}")
            change(schedule)

        return self.runner.update(context, name, schedule_id, decide, _schedule_tenant)

    def schedule(self, tenant_id: TenantId, schedule_id: UUID) -> Schedule:
        found: Schedule | None = replay(self.runner.store.read_stream(schedule_id))
        if not isinstance(found, Schedule) or found.tenant_id != tenant_id:
            raise NotFoundError(f"no such schedule: {schedule_id}")
        return found

    # --- the runs of slots, recorded by the scheduler

    def mark_due(
        self, context: CommandContext, tenant_id: TenantId, schedule_id: UUID, due: Due, job: dict[str, Any]
    ) -> CommandResult:
        """Records a slot's run as due; the same slot again (another scheduler, a replay) records nothing.

        ScheduleStateError when the schedule has been paused or deleted since the caller read the log."""
        schedule = self.schedule(tenant_id, schedule_id)
        if schedule.status != ScheduleStatus.ACTIVE:
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
