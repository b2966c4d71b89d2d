"""Schedules over HTTP: a tenant's recurring (cron, UTC) and one-off jobs, paused, resumed and deleted, with their runs.

Creating a schedule asks the route's guard (may this principal manage schedules?) and then the data policy
``schedule_job`` with the job's kind as context (may this principal schedule this kind of job here?): ledger
checkpoints, for one, are the platform's own. A cron expression that does not parse, a time to run at that has
passed and an unknown job kind are 422s, and nothing is recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.authorization import Authorization
from application.commands import CommandResult
from application.schedules import SchedulerService, next_due
from domain.errors import NotFoundError
from domain.values import ScheduleStatus, TenantId
from interfaces.bootstrap import utc_now
from interfaces.http.context import command_context, id_in_path, tenant_in_path
from projections.schedules import ScheduleQueries, ScheduleRow, ScheduleRunRow

PATH = "/v1/tenants/{tenant_id:str}/schedules"
RECENT_RUNS = 20
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class KpiRebuildJob(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="kpi_rebuild"):
    """Rebuild the KPIs of a contract's active version."""

    contract: Text


class ExportJob(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="export"):
    """Export a product version (the latest served one when ``version`` is absent), as on the exports API."""

    product: Text
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    dataset: Text = "kpis"
    format: str = "csv"
    filters: dict[str, str] = {}


class LedgerCheckpointJob(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="kind", tag="ledger_checkpoint"
):
    """Checkpoint the evidence ledger (platform admins only)."""


class CreateSchedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Text
    job: KpiRebuildJob | ExportJob | LedgerCheckpointJob
    cron: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    """Five-field cron expression (minute hour day-of-month month day-of-week) or @hourly, @daily, ...: UTC."""
    at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    """Run once at this time (with its offset); give either cron or at."""
    timezone: str = "UTC"


def _job(data: CreateSchedule) -> dict[str, Any]:
    """The job as plain values: its kind and parameters."""
    kind = type(data.job).__struct_config__.tag
    return {"kind": kind, **msgspec.structs.asdict(data.job)}


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


class ScheduleCreated(msgspec.Struct):
    schedule_id: str
    status: str
    position: int
    location: str


class ScheduleChanged(msgspec.Struct):
    schedule_id: str
    status: str
    position: int


def _accepted(result: CommandResult, status: str) -> ScheduleChanged:
    return ScheduleChanged(str(result.aggregate_id), status, result.position)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class ScheduleView(ScheduleRow):
    """A schedule with the slot it fires next (in the past when overdue; None unless active)."""

    next_due: str | None


class ScheduleDetail(ScheduleView):
    runs: list[ScheduleRunRow]


class ScheduleList(msgspec.Struct):
    schedules: list[ScheduleView]


def _view(row: ScheduleRow, now: datetime) -> ScheduleView:
    since = max(t for t in (_time(row.starts_at), _time(row.resumed_at), _time(row.last_slot)) if t)
    upcoming = next_due(row.cron, _time(row.at), since, now) if row.status == ScheduleStatus.ACTIVE else None
    return ScheduleView(**msgspec.structs.asdict(row), next_due=upcoming.isoformat() if upcoming else None)


class ScheduleController(Controller):
    path = PATH
    tags = ["schedules"]

    @post("/", status_code=201, opt={"action": "create_schedule"})
    async def create_schedule(
        self,
        request: Request[Any, Any, Any],
        authorization: NamedDependency[Authorization],
        schedules: NamedDependency[SchedulerService],
        tenant_id: FromPath[str],
        data: JSONBody[CreateSchedule],
    ) -> Response[ScheduleCreated]:
        """Schedule a job (kpi_rebuild, export or ledger_checkpoint) on a cron expression (UTC) or once at a time."""
        tenant = _tenant(tenant_id)
        job = _job(data)
        context = command_context(request)
        # The data policy ``schedule_job``: may this principal schedule a job of this kind for this tenant?
        await anyio.to_thread.run_sync(
            lambda: authorization.require_for_tenant(
                request.auth, "schedule_job", tenant, {"kind": job["kind"]}, command=context
            )
        )
        result = await anyio.to_thread.run_sync(
            lambda: schedules.create_schedule(context, tenant, data.name, job, data.cron, data.at, data.timezone)
        )
        location = f"/v1/tenants/{tenant}/schedules/{result.aggregate_id}"
        body = ScheduleCreated(str(result.aggregate_id), ScheduleStatus.ACTIVE, result.position, location)
        return Response(body, status_code=201, headers={"Location": location})

    @get("/", sync_to_thread=True, opt={"action": "list_schedules"})
    def list_schedules(
        self,
        schedule_views: NamedDependency[ScheduleQueries],
        tenant_id: FromPath[str],
        status: Annotated[str | None, QueryParameter(max_length=16)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> ScheduleList:
        """A tenant's schedules, newest first (deleted ones only with status=deleted), each with its next slot."""
        now = utc_now()
        return ScheduleList([_view(row, now) for row in schedule_views.latest(_tenant(tenant_id), status, limit)])

    @get("/{schedule_id:str}", sync_to_thread=True, opt={"action": "read_schedule"})
    def read_schedule(
        self, schedule_views: NamedDependency[ScheduleQueries], tenant_id: FromPath[str], schedule_id: FromPath[str]
    ) -> ScheduleDetail:
        """One schedule, its next slot, and its recent runs (latest slot first) with their outcomes or errors."""
        found = str(id_in_path(schedule_id, "schedule"))
        row = schedule_views.schedule(_tenant(tenant_id), found)
        if row is None:
            raise NotFoundError(f"no such schedule: {schedule_id}")
        runs = schedule_views.runs(found, RECENT_RUNS)
        return ScheduleDetail(**msgspec.structs.asdict(_view(row, utc_now())), runs=runs)

    @post("/{schedule_id:str}/pause", sync_to_thread=True, status_code=202, opt={"action": "pause_schedule"})
    def pause_schedule(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[SchedulerService],
        tenant_id: FromPath[str],
        schedule_id: FromPath[str],
    ) -> ScheduleChanged:
        """Stop a schedule firing; slots that pass while it is paused are skipped."""
        found = id_in_path(schedule_id, "schedule")
        return _accepted(
            schedules.pause_schedule(command_context(request), _tenant(tenant_id), found), ScheduleStatus.PAUSED
        )

    @post("/{schedule_id:str}/resume", sync_to_thread=True, status_code=202, opt={"action": "resume_schedule"})
    def resume_schedule(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[SchedulerService],
        tenant_id: FromPath[str],
        schedule_id: FromPath[str],
    ) -> ScheduleChanged:
        """Fire a paused schedule again, from its first slot after now."""
        found = id_in_path(schedule_id, "schedule")
        return _accepted(
            schedules.resume_schedule(command_context(request), _tenant(tenant_id), found), ScheduleStatus.ACTIVE
        )

    @delete("/{schedule_id:str}", sync_to_thread=True, status_code=202, opt={"action": "delete_schedule"})
    def delete_schedule(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[SchedulerService],
        tenant_id: FromPath[str],
        schedule_id: FromPath[str],
    ) -> ScheduleChanged:
        """Delete a schedule: it fires no more; its runs stay readable."""
        found = id_in_path(schedule_id, "schedule")
        return _accepted(schedules.delete_schedule(command_context(request), _tenant(tenant_id), found), "deleted")
