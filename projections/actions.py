"""Actions read models: the template catalog (every version), playbooks, and action runs with their timeline.

A run's timeline is one row per event of the run, in order: triggered (the decision's data), awaiting approval,
approved or rejected (by whom), each delivery attempt, delivered, failed, revived. It is the evidence the query API
shows: trigger -> decision -> approval -> attempts. Template rows hold secret names, never secret values.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Float, Integer, Select, String, Table, Text, select

from domain.actions.playbooks import Playbook
from domain.actions.runs import ActionRun
from domain.actions.templates import ActionTemplate
from domain.values import ActionRunStatus, PlaybookStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata, plain

templates = Table(
    "action_templates",
    metadata,
    Column("template_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

template_versions = Table(
    "action_template_versions",
    metadata,
    Column("template_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("parameters", JSON, nullable=False),
    Column("body", Text, nullable=False),
    Column("connector", JSON, nullable=False),
    Column("created_at", String(40), nullable=False),
)

playbooks = Table(
    "action_playbooks",
    metadata,
    Column("playbook_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("contract", String(200), nullable=False),
    Column("kpi", String(200), nullable=False),
    Column("condition", JSON, nullable=False),
    Column("dimensions", JSON, nullable=False),
    Column("cooldown", Integer, nullable=False),
    Column("steps", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

runs = Table(
    "action_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("playbook_id", String(36), nullable=False, index=True),
    Column("playbook", String(64), nullable=False),
    Column("contract", String(200), nullable=False),
    Column("kpi", String(200), nullable=False),
    Column("kpi_sha256", String(64), nullable=False),
    Column("pipeline_run_id", String(36), nullable=False),
    Column("period_start", String(40), nullable=False),
    Column("dimensions", JSON, nullable=False),
    Column("value", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(24), nullable=False),
    Column("step", Integer, nullable=False),
    Column("steps", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

timeline = Table(
    "action_run_events",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("step", Integer),
    Column("attempt", Integer),
    Column("by", String(200)),
    Column("status", Integer),
    Column("detail", JSON),
    Column("at", String(40), nullable=False),
)


def _template(event: ActionTemplate.Event, stamp: dict[str, Any]) -> list[Change]:
    key, at = {"template_id": str(event.originator_id)}, stamp["updated_at"]
    if isinstance(event, ActionTemplate.Defined):
        version, spec = 1, event.spec
        row = {"tenant_id": event.tenant_id, "name": event.name, "kind": event.kind, "created_at": at}
        head: Change = Upsert(templates, key, row | {"latest_version": 1} | stamp)
    elif isinstance(event, ActionTemplate.Revised):
        version, spec = event.version, event.spec
        head = Update(templates, key, {"latest_version": version} | stamp)
    else:
        return []
    body = {"parameters": spec["parameters"], "body": spec["body"], "connector": spec["connector"], "created_at": at}
    return [head, Upsert(template_versions, key | {"version": version}, body)]


def _playbook(event: Playbook.Event, stamp: dict[str, Any]) -> list[Change]:
    key = {"playbook_id": str(event.originator_id)}
    match event:
        case Playbook.Defined():
            row = {
                "tenant_id": event.tenant_id, "name": event.name, "contract": event.contract, "kpi": event.kpi,
                "condition": dict(event.condition), "dimensions": dict(event.dimensions), "cooldown": event.cooldown,
                "steps": list(event.steps), "status": PlaybookStatus.PAUSED, "created_at": stamp["updated_at"],
            }  # fmt: skip
            return [Upsert(playbooks, key, row | stamp)]
        case Playbook.Activated():
            return [Update(playbooks, key, {"status": PlaybookStatus.ACTIVE} | stamp)]
        case Playbook.Paused():
            return [Update(playbooks, key, {"status": PlaybookStatus.PAUSED} | stamp)]
    return []


def _triggered(event: ActionRun.Triggered, stamp: dict[str, Any]) -> dict[str, Any]:
    t = event.trigger
    return {
        "tenant_id": event.tenant_id, "playbook_id": t["playbook_id"], "playbook": t["playbook"],
        "contract": t["contract"], "kpi": t["kpi"], "kpi_sha256": t["kpi_sha256"],
        "pipeline_run_id": t["pipeline_run_id"], "period_start": t["period_start"], "dimensions": t["dimensions"],
        "value": t["value"], "reason": t["reason"], "status": ActionRunStatus.RUNNING, "step": 1,
        "steps": len(event.steps),
        "created_at": stamp["updated_at"],
    }  # fmt: skip


def _run_row(event: ActionRun.Event, stamp: dict[str, Any]) -> dict[str, Any] | None:
    """The run row's new values after the event (None: the Triggered row, made by ``_triggered``)."""
    match event:
        case ActionRun.StepAwaitingApproval():
            return {"status": ActionRunStatus.AWAITING_APPROVAL, "step": event.step + 1}
        case ActionRun.StepApproved() | ActionRun.Revived():
            return {"status": ActionRunStatus.RUNNING, "step": event.step + 1, "last_error": None}
        case ActionRun.StepRejected():
            return {"status": ActionRunStatus.REJECTED, "last_error": f"rejected by {event.by}: {event.reason}"}
        case ActionRun.Attempted():
            return {"last_error": event.error}
        case ActionRun.Delivered():
            return {"status": ActionRunStatus.DELIVERED} if event.final else {"step": event.step + 2}
        case ActionRun.Failed():
            return {"status": ActionRunStatus.FAILED, "last_error": event.error}
    return {}


def _entry(event: ActionRun.Event, at: str) -> dict[str, Any]:
    """The timeline row of a run's event: its kind, step (from 1), attempt, who, status and details."""
    kind = type(event).__name__
    names = {"StepAwaitingApproval": "awaiting_approval", "StepApproved": "approved", "StepRejected": "rejected"}
    row: dict[str, Any] = {"kind": names.get(kind, kind.lower()), "at": at, "step": None, "attempt": None}
    data = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version", "timestamp")}
    row["step"] = data.pop("step") + 1 if "step" in data else None
    row["attempt"] = data.pop("attempt", None)
    row["by"] = data.pop("by", None)
    row["status"] = data.pop("status", None)
    if isinstance(event, ActionRun.Triggered):
        data = {"trigger": dict(event.trigger), "steps": list(event.steps)}
    row["detail"] = data
    return row


def _run(event: ActionRun.Event, stamp: dict[str, Any]) -> list[Change]:
    key = {"run_id": str(event.originator_id)}
    entry = Upsert(timeline, key | {"seq": event.originator_version}, _entry(event, stamp["updated_at"]))
    if isinstance(event, ActionRun.Triggered):
        return [Upsert(runs, key, _triggered(event, stamp) | stamp), entry]
    values = _run_row(event, stamp)
    return [Update(runs, key, (values or {}) | stamp), entry]


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    stamp = {"updated_at": recorded.recorded_at.isoformat(), "position": recorded.position}
    if isinstance(event, ActionTemplate.Event):
        return _template(event, stamp)
    if isinstance(event, Playbook.Event):
        return _playbook(event, stamp)
    if isinstance(event, ActionRun.Event):
        return _run(event, stamp)
    return []


projection = Projection("actions", (templates, template_versions, playbooks, runs, timeline), evolve)


def templates_query(tenant_id: str) -> Select[Any]:
    return select(templates).where(templates.c.tenant_id == tenant_id).order_by(templates.c.name)


def template_query(tenant_id: str, template_id: str) -> Select[Any]:
    return select(templates).where(templates.c.tenant_id == tenant_id, templates.c.template_id == template_id)


def versions_query(template_id: str) -> Select[Any]:
    query = select(template_versions).where(template_versions.c.template_id == template_id)
    return query.order_by(template_versions.c.version)


def playbooks_query(tenant_id: str, playbook_id: str | None = None) -> Select[Any]:
    query = select(playbooks).where(playbooks.c.tenant_id == tenant_id)
    if playbook_id is not None:
        query = query.where(playbooks.c.playbook_id == playbook_id)
    return query.order_by(playbooks.c.name)


def runs_query(tenant_id: str, status: str | None, playbook_id: str | None, limit: int) -> Select[Any]:
    """A tenant's action runs, newest first."""
    query = select(runs).where(runs.c.tenant_id == tenant_id)
    if status:
        query = query.where(runs.c.status == status)
    if playbook_id:
        query = query.where(runs.c.playbook_id == playbook_id)
    return query.order_by(runs.c.position.desc()).limit(limit)


def run_query(tenant_id: str, run_id: str) -> Select[Any]:
    return select(runs).where(runs.c.tenant_id == tenant_id, runs.c.run_id == run_id)


def timeline_query(run_id: str) -> Select[Any]:
    return select(timeline).where(timeline.c.run_id == run_id).order_by(timeline.c.seq)


S = TypeVar("S", bound=msgspec.Struct)


class TemplateVersionView(msgspec.Struct):
    template_id: str
    version: int
    parameters: Any
    body: str
    connector: Any
    created_at: str


class TemplateView(msgspec.Struct):
    """An action template with its latest version number."""

    template_id: str
    tenant_id: str
    name: str
    kind: str
    latest_version: int
    created_at: str
    updated_at: str
    position: int


class TemplateDetail(TemplateView):
    """An action template with every version (parameters, body, connector settings with secret names)."""

    versions: list[TemplateVersionView]


class PlaybookView(msgspec.Struct):
    playbook_id: str
    tenant_id: str
    name: str
    contract: str
    kpi: str
    condition: Any
    dimensions: Any
    cooldown: int
    steps: Any
    status: str
    created_at: str
    updated_at: str
    position: int


class ActionRunView(msgspec.Struct):
    run_id: str
    tenant_id: str
    playbook_id: str
    playbook: str
    contract: str
    kpi: str
    kpi_sha256: str
    pipeline_run_id: str
    period_start: str
    dimensions: Any
    value: float
    reason: str
    status: str
    step: int
    steps: int
    last_error: str | None
    created_at: str
    updated_at: str
    position: int


class TimelineEntry(msgspec.Struct):
    run_id: str
    seq: int
    kind: str
    step: int | None
    attempt: int | None
    by: str | None
    status: int | None
    detail: Any
    at: str


class ActionRunDetail(ActionRunView):
    """A run with its timeline: trigger, approvals, delivery attempts, outcome."""

    timeline: list[TimelineEntry]


class ActionQueries:
    """The action read models (templates, playbooks, runs), read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def templates(self, tenant_id: str) -> list[TemplateView]:
        return self._all(templates_query(tenant_id), TemplateView)

    def template(self, tenant_id: str, template_id: str) -> TemplateDetail | None:
        found = self._all(template_query(tenant_id, template_id), TemplateView)
        if not found:
            return None
        versions = self._all(versions_query(template_id), TemplateVersionView)
        return TemplateDetail(**msgspec.structs.asdict(found[0]), versions=versions)

    def playbooks(self, tenant_id: str, playbook_id: str | None = None) -> list[PlaybookView]:
        return self._all(playbooks_query(tenant_id, playbook_id), PlaybookView)

    def runs(self, tenant_id: str, status: str | None, playbook_id: str | None, limit: int) -> list[ActionRunView]:
        return self._all(runs_query(tenant_id, status, playbook_id, limit), ActionRunView)

    def run(self, tenant_id: str, run_id: str) -> ActionRunDetail | None:
        found = self._all(run_query(tenant_id, run_id), ActionRunView)
        if not found:
            return None
        entries = self._all(timeline_query(run_id), TimelineEntry)
        return ActionRunDetail(**msgspec.structs.asdict(found[0]), timeline=entries)

    def _all(self, query: Select[Any], shape: type[S]) -> list[S]:
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [msgspec.convert(plain(row), shape) for row in rows]
