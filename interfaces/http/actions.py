"""Actions over HTTP: the template catalog, playbooks (activate, pause, backtest) and action runs (approve, reject).

Commands answer with their event's position (send it back as X-Consistent-Position to read your write); queries
read the actions read model. Templates show the secret names their connectors use, never secret values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.actions import ActionService, StepInput
from application.commands import CommandResult
from domain.action_rules import Condition as Rule
from domain.errors import NotFoundError
from interfaces.http.context import command_context, id_in_path, tenant_in_path
from projections.actions import (
    ActionQueries,
    ActionRunDetail,
    ActionRunView,
    PlaybookView,
    TemplateDetail,
    TemplateView,
)

F = TypeVar("F")
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
MAX_PAGE = 200


class Parameter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
    type: str = "string"
    required: bool = False


class TemplateVersion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(max_length=20_000)]
    connector: dict[str, Any]
    parameters: Annotated[list[Parameter], msgspec.Meta(max_length=50)] = []


class NewTemplate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    kind: str
    body: Annotated[str, msgspec.Meta(max_length=20_000)]
    connector: dict[str, Any]
    parameters: Annotated[list[Parameter], msgspec.Meta(max_length=50)] = []


class Condition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    operator: str
    threshold: float
    periods: Annotated[int, msgspec.Meta(ge=1, le=366)] = 1


class WouldFire(msgspec.Struct, frozen=True):
    """A firing a backtest finds: the action run it would start, and its trigger (the decision's data)."""

    run_id: str
    playbook_id: str
    playbook: str
    contract: str
    kpi: str
    kpi_sha256: str
    pipeline_run_id: str
    period_start: str
    dimensions: dict[str, Any]
    value: float
    previous: float | None
    condition: Rule
    reason: str
    at: str


class PlaybookStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    template: Name
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    params: dict[str, Any] = {}
    requires_approval: bool = False


class NewPlaybook(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    contract: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kpi: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    condition: Condition
    steps: Annotated[list[PlaybookStep], msgspec.Meta(min_length=1, max_length=20)]
    dimensions: dict[str, str] = {}
    cooldown: Annotated[int, msgspec.Meta(ge=0, le=31_536_000)] = 0


class Backtest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename={"since": "from", "until": "to"}):
    since: Annotated[datetime, msgspec.Meta(tz=True)] | None = None
    until: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


class Rejection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)] = "rejected"


class Accepted(msgspec.Struct, frozen=True):
    id: str
    position: int


def _accepted(result: CommandResult) -> Accepted:
    return Accepted(str(result.aggregate_id), result.position)


def _found(found: F | None, what: str, name: str) -> F:
    if found is None:
        raise NotFoundError(f"no such {what}: {name}")
    return found


class ActionTemplateController(Controller):
    """A tenant's catalog of action templates, each in versions."""

    path = "/v1/tenants/{tenant_id:str}/action-templates"
    tags = ["actions"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "define_action_template"})
    def define(
        self,
        request: Request[Any, Any, Any],
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        data: JSONBody[NewTemplate],
    ) -> Response[Accepted]:
        """Add a template (version 1). Its body and templated settings are jinja2 rendered in a sandbox from
        ``trigger``, ``params``, ``run_id`` and ``step``; unknown variables and unsafe access are refused (422)."""
        tenant = tenant_in_path(tenant_id)
        spec = {"body": data.body, "connector": data.connector, "parameters": msgspec.to_builtins(data.parameters)}
        done = actions.define_template(command_context(request), tenant, data.name, data.kind, spec)
        location = f"/v1/tenants/{tenant}/action-templates/{done.aggregate_id}"
        return Response(_accepted(done), status_code=201, headers={"Location": location})

    @get("/", sync_to_thread=True, opt={"action": "list_action_templates"})
    def list_templates(
        self, action_views: NamedDependency[ActionQueries], tenant_id: FromPath[str]
    ) -> list[TemplateView]:
        """The tenant's templates with their latest version number."""
        return action_views.templates(str(tenant_in_path(tenant_id)))

    @get("/{template_id:str}", sync_to_thread=True, opt={"action": "read_action_template"})
    def read(
        self, action_views: NamedDependency[ActionQueries], tenant_id: FromPath[str], template_id: FromPath[str]
    ) -> TemplateDetail:
        """One template and every version of it (body, parameters, connector settings with secret names)."""
        tenant, template = tenant_in_path(tenant_id), id_in_path(template_id, "action template")
        return _found(action_views.template(str(tenant), str(template)), "action template", template_id)

    @post("/{template_id:str}/versions", sync_to_thread=True, status_code=201, opt={"action": "revise_action_template"})
    def revise(
        self,
        request: Request[Any, Any, Any],
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        template_id: FromPath[str],
        data: JSONBody[TemplateVersion],
    ) -> Accepted:
        """Add a version; playbooks keep using the version they name."""
        tenant, template = tenant_in_path(tenant_id), id_in_path(template_id, "action template")
        spec = {"body": data.body, "connector": data.connector, "parameters": msgspec.to_builtins(data.parameters)}
        return _accepted(actions.revise_template(command_context(request), tenant, template, spec))


class PlaybookController(Controller):
    """A tenant's playbooks: KPI conditions bound to ordered action steps."""

    path = "/v1/tenants/{tenant_id:str}/playbooks"
    tags = ["actions"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "define_playbook"})
    def define(
        self,
        request: Request[Any, Any, Any],
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        data: JSONBody[NewPlaybook],
    ) -> Response[Accepted]:
        """Define a playbook (paused until activated). The KPI must be one its contract defines (else 422)."""
        tenant = tenant_in_path(tenant_id)
        steps = [StepInput(s.template, s.version, dict(s.params), s.requires_approval) for s in data.steps]
        rule = (msgspec.to_builtins(data.condition), dict(data.dimensions), data.cooldown)
        done = actions.define_playbook(
            command_context(request), tenant, data.name, (data.contract, data.kpi), rule, steps
        )
        location = f"/v1/tenants/{tenant}/playbooks/{done.aggregate_id}"
        return Response(_accepted(done), status_code=201, headers={"Location": location})

    @get("/", sync_to_thread=True, opt={"action": "list_playbooks"})
    def list_playbooks(
        self, action_views: NamedDependency[ActionQueries], tenant_id: FromPath[str]
    ) -> list[PlaybookView]:
        return action_views.playbooks(str(tenant_in_path(tenant_id)))

    @get("/{playbook_id:str}", sync_to_thread=True, opt={"action": "read_playbook"})
    def read(
        self, action_views: NamedDependency[ActionQueries], tenant_id: FromPath[str], playbook_id: FromPath[str]
    ) -> PlaybookView:
        tenant, playbook = tenant_in_path(tenant_id), id_in_path(playbook_id, "playbook")
        found = action_views.playbooks(str(tenant), str(playbook))
        return _found(found[0] if found else None, "playbook", playbook_id)

    @post("/{playbook_id:str}/activate", sync_to_thread=True, status_code=202, opt={"action": "activate_playbook"})
    def activate(
        self,
        request: Request[Any, Any, Any],
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        playbook_id: FromPath[str],
    ) -> Accepted:
        """The playbook reacts to KPI builds recorded from now on."""
        tenant, playbook = tenant_in_path(tenant_id), id_in_path(playbook_id, "playbook")
        return _accepted(actions.activate_playbook(command_context(request), tenant, playbook))

    @post("/{playbook_id:str}/pause", sync_to_thread=True, status_code=202, opt={"action": "pause_playbook"})
    def pause(
        self,
        request: Request[Any, Any, Any],
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        playbook_id: FromPath[str],
    ) -> Accepted:
        tenant, playbook = tenant_in_path(tenant_id), id_in_path(playbook_id, "playbook")
        return _accepted(actions.pause_playbook(command_context(request), tenant, playbook))

    @post("/{playbook_id:str}/backtest", sync_to_thread=True, status_code=200, opt={"action": "backtest_playbook"})
    def backtest(
        self,
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        playbook_id: FromPath[str],
        data: JSONBody[Backtest | None] = None,
    ) -> list[WouldFire]:
        """When the playbook, as defined now, would have fired over the KPI builds in the log; ``from`` and ``to``
        bound the KPI periods. Nothing is recorded or sent."""
        tenant, playbook = tenant_in_path(tenant_id), id_in_path(playbook_id, "playbook")
        window = data or Backtest()
        fired = actions.backtest(tenant, playbook, window.since, window.until)
        return msgspec.convert([{"run_id": str(f.run_id), **f.trigger} for f in fired], list[WouldFire])


class ActionRunController(Controller):
    """A tenant's action runs: their status and evidence, and the approval of waiting steps."""

    path = "/v1/tenants/{tenant_id:str}/action-runs"
    tags = ["actions"]

    @get("/", sync_to_thread=True, opt={"action": "list_action_runs"})
    def list_runs(
        self,
        action_views: NamedDependency[ActionQueries],
        tenant_id: FromPath[str],
        status: Annotated[str | None, QueryParameter(max_length=24)] = None,
        playbook: Annotated[str | None, QueryParameter(max_length=36)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> list[ActionRunView]:
        """Runs, most recently changed first; ``status``: running, awaiting_approval, delivered, failed, rejected."""
        return action_views.runs(str(tenant_in_path(tenant_id)), status, playbook, limit)

    @get("/{run_id:str}", sync_to_thread=True, opt={"action": "read_action_run"})
    def read(
        self, action_views: NamedDependency[ActionQueries], tenant_id: FromPath[str], run_id: FromPath[str]
    ) -> ActionRunDetail:
        """One run with its timeline: trigger (the decision's data) -> approvals -> delivery attempts -> outcome."""
        tenant, run = tenant_in_path(tenant_id), id_in_path(run_id, "action run")
        return _found(action_views.run(str(tenant), str(run)), "action run", run_id)

    @post(
        "/{run_id:str}/steps/{step:int}/approve",
        sync_to_thread=True,
        status_code=202,
        opt={"action": "approve_action_step"},
    )
    def approve(
        self,
        request: Request[Any, Any, Any],
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        run_id: FromPath[str],
        step: FromPath[int],
    ) -> Accepted:
        """Let a waiting step run (steps count from 1)."""
        tenant, run = tenant_in_path(tenant_id), id_in_path(run_id, "action run")
        return _accepted(actions.approve_step(command_context(request), tenant, run, step))

    @post(
        "/{run_id:str}/steps/{step:int}/reject",
        sync_to_thread=True,
        status_code=202,
        opt={"action": "reject_action_step"},
    )
    def reject(
        self,
        request: Request[Any, Any, Any],
        actions: NamedDependency[ActionService],
        tenant_id: FromPath[str],
        run_id: FromPath[str],
        step: FromPath[int],
        data: JSONBody[Rejection | None] = None,
    ) -> Accepted:
        """Stop a waiting step; the run ends as rejected."""
        tenant, run = tenant_in_path(tenant_id), id_in_path(run_id, "action run")
        reason = (data or Rejection()).reason
        return _accepted(actions.reject_step(command_context(request), tenant, run, step, reason))
