"""Actions service: the action catalog (templates and their versions), playbooks, approvals and backtests.

A template's body is checked when it is defined: it must render in the sandbox against a sample of the context a
run gives it (``context_for``), so unknown variables and sandbox escapes are refused then (422). A playbook must
name a KPI its contract defines and template versions whose parameter schemas its steps satisfy. Runs are started
and advanced by the action engine (``application/action_engine.py``); people approve or reject waiting steps here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from application.action_triggers import Found, TriggerFinder, find_all, watch_of
from application.commands import CommandContext, CommandResult, CommandRunner, replay
from application.contracts import ContractService
from domain.action_rules import (
    check_condition,
    check_connector,
    check_name,
    check_parameters,
    check_params,
)
from domain.actions.playbooks import Playbook, Step, playbook_id_for
from domain.actions.runs import ActionRun, Trigger
from domain.actions.templates import ActionTemplate, Spec, template_id_for
from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.values import TenantId, tenant_id_of

BATCH = 1000
SAMPLES: dict[str, Any] = {"string": "text", "number": 1.5, "integer": 1, "boolean": True}
RENDERED_SETTINGS = ("subject",)
"""Connector settings that are templates too (an email's subject)."""


class TemplateChecker(Protocol):
    """Renders a template in the sandbox; raises InvalidValueError for unknown variables or unsafe access."""

    def check(self, text: str, context: Mapping[str, Any]) -> None: ...


class UrlGuard(Protocol):
    def check(self, url: str) -> None: ...


@dataclass(frozen=True)
class StepInput:
    template: str
    """The template's name."""
    version: int | None
    params: dict[str, Any]
    requires_approval: bool


def context_for(run_id: str, step: int, trigger: Trigger, params: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees: the run, the step (from 1), the trigger's decision data and the step's parameters."""
    return {"run_id": run_id, "step": step + 1, "trigger": dict(trigger), "params": dict(params)}


class _AnyDimension(dict[str, str]):
    """Sample dimensions: every name has a value (a template may name any dimension of its KPI)."""

    def __missing__(self, key: str) -> str:
        return "sample"


def sample_trigger() -> Trigger:
    return Trigger(
        playbook_id="00000000-0000-0000-0000-000000000000", playbook="sample", contract="sample", kpi="sample",
        kpi_sha256="0" * 64, pipeline_run_id="00000000-0000-0000-0000-000000000000",
        period_start="2026-01-01T00:00:00Z", dimensions=_AnyDimension(), value=1.0, previous=0.0,
        condition={"operator": "above", "threshold": 0.0, "periods": 1}, reason="sample", at="2026-01-01T00:00:00Z",
    )  # fmt: skip


def _tenant_of(aggregate: Any) -> str:
    """The tenant of a template, playbook or run (each has one)."""
    return str(aggregate.tenant_id)


class ActionService:
    """Commands on a tenant's action templates, playbooks and action runs."""

    def __init__(
        self, runner: CommandRunner, contracts: ContractService, checker: TemplateChecker, guard: UrlGuard
    ) -> None:
        self.runner = runner
        self.contracts = contracts
        self.checker = checker
        self.guard = guard

    # --- templates

    def define_template(
        self,
        context: CommandContext,
        tenant_id: TenantId,
        name: str,
        kind: str,
        spec: Mapping[str, Any],
    ) -> CommandResult:
        """Adds a template to the catalog as version 1; its body must render safely from a sample trigger."""
        checked = self._spec(kind, spec)
        template_id = template_id_for(tenant_id_of(tenant_id), check_name(name, "template"))
        return self.runner.create(
            context,
            "define_action_template",
            template_id,
            make=lambda: ActionTemplate.define(tenant_id_of(tenant_id), name, kind, checked),
            tenant_of=_tenant_of,
            exists=lambda: ConflictError(f"template {name} exists; add a version instead"),
        )

    def revise_template(
        self, context: CommandContext, tenant_id: TenantId, template_id: UUID, spec: Mapping[str, Any]
    ) -> CommandResult:
        """Adds a version to a template; playbooks keep the version they name."""
        kind = self.template(tenant_id, template_id).kind
        checked = self._spec(kind, spec)
        return self.runner.update(
            context, "revise_action_template", template_id, lambda t: t.revise(checked), _tenant_of
        )

    def template(self, tenant_id: TenantId, template_id: UUID) -> ActionTemplate:
        found = replay(self.runner.store.read_stream(template_id))
        if not isinstance(found, ActionTemplate) or found.tenant_id != tenant_id_of(tenant_id):
            raise NotFoundError(f"no such action template: {template_id}")
        return found

    def _spec(self, kind: str, raw: Mapping[str, Any]) -> Spec:
        connector = check_connector(kind, raw.get("connector") or {})
        parameters = check_parameters(raw.get("parameters") or [])
        body = str(raw.get("body") or "")
        sample = context_for("sample-run", 0, sample_trigger(), {p["name"]: SAMPLES[p["type"]] for p in parameters})
        for text in (body, *(str(connector[k]) for k in RENDERED_SETTINGS if k in connector)):
            self.checker.check(text, sample)
        if "url" in connector and kind in ("http", "webhook"):
            self.guard.check(str(connector["url"]))
        return Spec(parameters=parameters, body=body, connector=connector)

    # --- playbooks

    def define_playbook(
        self,
        context: CommandContext,
        tenant_id: TenantId,
        name: str,
        target: tuple[str, str],
        rule: tuple[Mapping[str, Any], dict[str, str], int],
        steps: Sequence[StepInput],
    ) -> CommandResult:
        """Binds a KPI of a contract (``target``: contract, KPI) to a condition, a dimension filter and a cooldown
        (``rule``), and to ordered steps; it starts paused."""
        tenant = tenant_id_of(tenant_id)
        self._check_kpi(tenant, *target)
        condition, dimensions, cooldown = check_condition(rule[0]), rule[1], rule[2]
        checked = [self._step(tenant_id, step) for step in steps]
        return self.runner.create(
            context,
            "define_playbook",
            playbook_id_for(tenant, check_name(name, "playbook")),
            make=lambda: Playbook.define(tenant, name, target, condition, dimensions, cooldown, checked),
            tenant_of=_tenant_of,
            exists=lambda: ConflictError(f"playbook {name} exists"),
        )

    def activate_playbook(self, context: CommandContext, tenant_id: TenantId, playbook_id: UUID) -> CommandResult:
        """The playbook reacts to KPI builds from now on."""
        return self._change(context, "activate_playbook", tenant_id, playbook_id, lambda p: p.activate(context.actor))

    def pause_playbook(self, context: CommandContext, tenant_id: TenantId, playbook_id: UUID) -> CommandResult:
        """The playbook ignores KPI builds until activated again; runs under way go on."""
        return self._change(context, "pause_playbook", tenant_id, playbook_id, lambda p: p.pause(context.actor))

    def playbook(self, tenant_id: TenantId, playbook_id: UUID) -> Playbook:
        found = replay(self.runner.store.read_stream(playbook_id))
        if not isinstance(found, Playbook) or found.tenant_id != tenant_id_of(tenant_id):
            raise NotFoundError(f"no such playbook: {playbook_id}")
        return found

    def _check_kpi(self, tenant_id: TenantId, contract: str, kpi: str) -> None:
        found = self.contracts.current_contract(tenant_id, contract)
        if found is None:
            raise InvalidValueError(f"no such contract: {contract}")
        known = {k["name"] for version in found.versions.values() for k in version.spec["kpis"]}
        if kpi not in known:
            names = ", ".join(sorted(known)) or "none"
            raise InvalidValueError(f"contract {contract} defines no KPI {kpi} (it defines: {names})")

    def _step(self, tenant_id: TenantId, step: StepInput) -> Step:
        template_id = template_id_for(tenant_id_of(tenant_id), step.template)
        template = self.template(tenant_id, template_id) if self.runner.store.read_stream(template_id) else None
        if template is None:
            raise InvalidValueError(f"no such action template: {step.template}")
        version = step.version or template.latest
        spec = template.spec_of(version)
        params = check_params(spec["parameters"], step.params)
        return Step(
            template_id=str(template_id), version=version, params=params, requires_approval=step.requires_approval
        )

    def _change(
        self,
        context: CommandContext,
        name: str,
        tenant_id: TenantId,
        playbook_id: UUID,
        change: Callable[[Playbook], None],
    ) -> CommandResult:
        self.playbook(tenant_id, playbook_id)
        return self.runner.update(context, name, playbook_id, change, _tenant_of)

    # --- runs

    def start_run(self, context: CommandContext, found: Found) -> CommandResult | None:
        """Records a trigger as a new run; None when the run exists (the same build seen again)."""
        if self.runner.store.read_stream(found.run_id):
            return None
        try:
            return self.runner.create(
                context,
                "trigger_action",
                found.run_id,
                make=lambda: ActionRun.start(found.tenant_id, found.trigger, found.steps, found.dimension_key),
                tenant_of=_tenant_of,
                exists=lambda: ConflictError("exists"),
            )
        except ConflictError:
            return None

    def run(self, tenant_id: TenantId, run_id: UUID) -> ActionRun:
        found = replay(self.runner.store.read_stream(run_id))
        if not isinstance(found, ActionRun) or found.tenant_id != tenant_id_of(tenant_id):
            raise NotFoundError(f"no such action run: {run_id}")
        return found

    def record_run(self, context: CommandContext, run_id: UUID, change: Callable[[ActionRun], None]) -> CommandResult:
        return self.runner.update(context, "record_action", run_id, change, _tenant_of)

    def approve_step(self, context: CommandContext, tenant_id: TenantId, run_id: UUID, step: int) -> CommandResult:
        """A person lets a waiting step run (steps are numbered from 1)."""
        self.run(tenant_id, run_id)
        return self.record_run(context, run_id, lambda r: r.approve(step - 1, context.actor))

    def reject_step(
        self, context: CommandContext, tenant_id: TenantId, run_id: UUID, step: int, reason: str
    ) -> CommandResult:
        """A person stops a waiting step; the run ends, rejected, and its later steps never run."""
        self.run(tenant_id, run_id)
        return self.record_run(context, run_id, lambda r: r.reject(step - 1, context.actor, reason))

    def revive_step(self, context: CommandContext, run_id: UUID, step: int) -> CommandResult:
        """A failed step is tried again (a retry from the dead letters); the engine picks it up."""
        return self.record_run(context, run_id, lambda r: r.revive(step - 1, context.actor))

    # --- backtest

    def backtest(
        self, tenant_id: TenantId, playbook_id: UUID, since: datetime | None = None, until: datetime | None = None
    ) -> list[Found]:
        """When the playbook, as defined now, would have fired over the KPI builds in the log (by KPI period)."""
        playbook = self.playbook(tenant_id, playbook_id)
        finder = TriggerFinder(frozen=True, watches={playbook_id: watch_of(playbook_id, playbook, active=True)})
        fired, seen = [], set()
        for found in find_all(finder, self._history()):
            period = datetime.fromisoformat(found.trigger["period_start"].replace("Z", "+00:00"))
            in_range = (since is None or period >= since) and (until is None or period < until)
            if in_range and found.run_id not in seen:
                seen.add(found.run_id)
                fired.append(found)
        return fired

    def _history(self) -> Iterator[tuple[Any, str | None]]:
        position = 0
        while True:
            batch = self.runner.store.read_all(position, BATCH)
            for recorded in batch:
                yield recorded.event, recorded.metadata.tenant_id
            if len(batch) < BATCH:
                return
            position = batch[-1].position
