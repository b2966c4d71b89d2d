"""Finding triggers: playbooks evaluated over KPI builds, in log order, the same way for the engine and a backtest.

``TriggerFinder`` folds the events that matter (pipeline runs' Ingested and KpisBuilt, playbooks' definitions and
status changes) and answers, for each KPI build, the triggers it causes. What it decides depends on the log alone:
a playbook reacts to the builds recorded while it was active; the previous value of a series and the cooldown
clock (the builds' finish times) come from earlier builds. Replaying the log therefore finds the same triggers,
with the same run ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.action_rules import Series, decide, dimension_key, matches
from domain.actions.playbooks import Playbook, Step
from domain.actions.runs import Trigger, run_id_for
from domain.pipeline import PipelineRun
from domain.values import TenantId, tenant_id_or_none


@dataclass
class Watch:
    """A playbook as the log says at this point."""

    playbook_id: UUID
    tenant_id: TenantId
    name: str
    contract: str
    kpi: str
    condition: Any
    dimensions: dict[str, str]
    cooldown: int
    steps: list[Step]
    active: bool = False


def watch_of(playbook_id: UUID, source: Any, active: bool = False) -> Watch:
    """A watch from a playbook or its Defined event (they have the same attribute names)."""
    return Watch(
        playbook_id, source.tenant_id, source.name, source.contract, source.kpi, dict(source.condition),
        dict(source.dimensions), source.cooldown, list(source.steps), active,
    )  # fmt: skip


@dataclass(frozen=True)
class Found:
    """A trigger to record: the run it starts (its id), its tenant, the decision and the steps to take."""

    run_id: UUID
    tenant_id: TenantId
    trigger: Trigger
    steps: list[Step]
    dimension_key: str


@dataclass
class TriggerFinder:
    """Folds events in log order; ``see`` returns the triggers an event causes (only KPI builds cause any)."""

    frozen: bool = False
    """For a backtest: the watches given are kept as they are, whatever playbook events say."""
    watches: dict[UUID, Watch] = field(default_factory=dict)
    runs: dict[UUID, tuple[str, str]] = field(default_factory=dict)
    """Runs that may still build KPIs: their tenant and contract (a run that has ended is forgotten)."""
    series: dict[tuple[str, str, str, str], Series] = field(default_factory=dict)
    last_fired: dict[tuple[UUID, str], datetime] = field(default_factory=dict)

    def see(self, event: Any, tenant_id: TenantId | None) -> list[Found]:
        match event:
            case PipelineRun.Ingested():
                self.runs[event.originator_id] = (event.tenant_id, event.contract)
            case Playbook.Defined() if not self.frozen:
                self.watches[event.originator_id] = watch_of(event.originator_id, event)
            case Playbook.Activated() if event.originator_id in self.watches and not self.frozen:
                self.watches[event.originator_id].active = True
            case Playbook.Paused() if event.originator_id in self.watches and not self.frozen:
                self.watches[event.originator_id].active = False
            case PipelineRun.Published() | PipelineRun.Rejected() | PipelineRun.StepDenied():
                self.runs.pop(event.originator_id, None)
            case PipelineRun.KpisBuilt() if event.originator_id in self.runs:
                tenant, contract = self.runs[event.originator_id]
                return list(self._build(tenant, contract, event))
        return []

    def _build(self, tenant: str, contract: str, built: Any) -> Iterator[Found]:
        at = datetime.fromisoformat(built.finished_at)
        watches = [w for w in self.watches.values() if w.tenant_id == tenant and w.contract == contract and w.active]
        for entry in built.summary:
            if entry.get("value") is None:
                continue
            value, dims = float(entry["value"]), dict(entry.get("dimensions") or {})
            key = dimension_key(dims)
            series = self.series.setdefault((tenant, contract, str(entry["kpi"]), key), Series())
            previous = series.observe(str(entry["period_start"]), value)
            for watch in watches:
                if watch.kpi == entry["kpi"] and matches(watch.dimensions, dims):
                    found = self._decide(watch, built, entry, (value, previous, series), at)
                    if found is not None:
                        yield found

    def _decide(
        self, watch: Watch, built: Any, entry: dict[str, Any], values: tuple[float, float | None, Series], at: datetime
    ) -> Found | None:
        value, previous, series = values
        base = series.base(str(entry["period_start"]), int(watch.condition.get("periods", 1)))
        reason = decide(watch.condition, value, previous, base)
        key = dimension_key(dict(entry.get("dimensions") or {}))
        last = self.last_fired.get((watch.playbook_id, key))
        if reason is None or (last is not None and (at - last).total_seconds() < watch.cooldown):
            return None
        self.last_fired[(watch.playbook_id, key)] = at
        trigger = Trigger(
            playbook_id=str(watch.playbook_id),
            playbook=watch.name,
            contract=watch.contract,
            kpi=watch.kpi,
            kpi_sha256=built.kpis["sha256"],
            pipeline_run_id=str(built.originator_id),
            period_start=str(entry["period_start"]),
            dimensions=dict(entry.get("dimensions") or {}),
            value=value,
            previous=previous,
            condition=watch.condition,
            reason=reason,
            at=built.finished_at,
        )
        run_id = run_id_for(watch.playbook_id, trigger["kpi_sha256"], key)
        return Found(run_id, watch.tenant_id, trigger, list(watch.steps), key)


def finder_state(finder: TriggerFinder) -> dict[str, Any]:
    """What the finder knows, as JSON values (a process manager's checkpoint holds it)."""
    return {
        "watches": [asdict(watch) | {"playbook_id": str(watch.playbook_id)} for watch in finder.watches.values()],
        "runs": {str(run_id): list(run) for run_id, run in finder.runs.items()},
        "series": [[*key, asdict(series)] for key, series in finder.series.items()],
        "fired": [[str(playbook), key, at.isoformat()] for (playbook, key), at in finder.last_fired.items()],
    }


def finder_from(state: dict[str, Any]) -> TriggerFinder:
    """The finder ``finder_state`` describes."""
    watches = [Watch(**(w | {"playbook_id": UUID(w["playbook_id"])})) for w in state.get("watches", [])]
    return TriggerFinder(
        watches={watch.playbook_id: watch for watch in watches},
        runs={UUID(run_id): (tenant, contract) for run_id, (tenant, contract) in state.get("runs", {}).items()},
        series={(t, c, k, d): Series(**s) for t, c, k, d, s in state.get("series", [])},
        last_fired={(UUID(p), key): datetime.fromisoformat(at) for p, key, at in state.get("fired", [])},
    )


def find_all(finder: TriggerFinder, events: Iterable[tuple[Any, str | None]]) -> list[Found]:
    """Every trigger a sequence of (event, tenant) causes, in order."""
    return [found for event, tenant in events for found in finder.see(event, tenant_id_or_none(tenant))]
