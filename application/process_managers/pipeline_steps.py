"""Pipeline steps: the process manager that drives each run raw -> normalized -> KPIs -> published.

It keeps in memory only the runs with work left (and the dead-lettered ones, which a retry revives). The golden
data of finished normalizations, which every later KPI build of the same contract version and object reads, is a
fact kept with its checkpoint (``application.checkpoints``) and read back when a build needs it.

A run it saw ingested it builds from the events it sees, as a load of its stream would (every event since the
first), and hands it to the pass's unit of work, so the run's stream is not read again; a command on it appends at
its version, so a run someone else moved on meanwhile is loaded again and decided on again. After a restart, or once
a pass took it, a run is loaded from its stream.

Effects are exactly-once: each step is recorded under a command id derived from the run and the step, a run only
accepts the step it is waiting for, dataset files are content-addressed and write-once, and a product publishes a
run once; so work done again after a restart from an older checkpoint builds nothing twice.

Each step is first authorized (``authorize_step``: the tenant and the step's action, the reasons for refusal); a
refused step is recorded as StepDenied and the run stops there, with no retry and no dead letter. A step that
raises is retried with exponential backoff (``attempts`` in all); each failure is a StepFailed event, the last a
DeadLettered one. A step whose input can never be processed (UnprocessableBatchError) has one attempt only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from opentelemetry import trace

from application.checkpoints import Checkpoints, Fact
from application.commands import CommandContext
from application.pipeline import PipelineCompute, PipelineService, Target, UnprocessableBatchError
from application.unit_of_work import Loaded
from domain.errors import DomainError
from domain.pipeline import Manifest, PipelineRun, StepDoneError
from domain.values import tenant_id_of
from eventstore.envelope import RecordedEvent

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("platform.orchestrator")
ACTOR = "system:orchestrator"
STEP_ACTIONS = {"normalize": "normalize_batch", "build_kpis": "build_kpis", "publish": "publish_product"}
"""The action each step is authorized as, for the platform acting for the run's tenant."""

AuthorizeStep = Callable[[str, str], list[str]]
"""(tenant id, action) -> the reasons the step is refused; empty when it may run."""


def allow_every_step(tenant_id: str, action: str) -> list[str]:
    """The default when no policy is wired: every step may run."""
    return []


def _key(tenant: str, contract: str, version: str, obj: str) -> str:
    return f"{tenant}|{contract}|{version}|{obj}"


class PipelineSteps:
    """Runs each run's due steps in order, as the log says they are due."""

    name = "pipeline_steps"

    def __init__(
        self,
        pipeline: PipelineService,
        compute: PipelineCompute,
        checkpoints: Checkpoints,
        clock: Callable[[], datetime],
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        authorize_step: AuthorizeStep = allow_every_step,
    ) -> None:
        self.pipeline, self.compute, self.checkpoints, self.clock = pipeline, compute, checkpoints, clock
        self.attempts, self.backoff, self.sleep = attempts, backoff, sleep
        self.authorize_step = authorize_step
        self.due: dict[UUID, int] = {}
        """Runs with a step to do, by the position that made it due (ingestion or revival order)."""
        self.open: dict[UUID, tuple[str, str, int]] = {}
        """Runs not yet ended (dead-lettered ones included): their tenant, golden-data key and ingestion position."""
        self.facts: list[Fact] = []
        """Golden data of normalizations seen since the last checkpoint."""
        self.whole: dict[UUID, Loaded] = {}
        """Due runs seen whole in the log (from their Ingested event on) that no pass has taken yet; not saved."""

    # --- the state

    def see(self, recorded: RecordedEvent) -> None:
        event, run_id = recorded.event, recorded.event.originator_id
        self._build(run_id, recorded)
        match event:
            case PipelineRun.Ingested():
                key = _key(event.tenant_id, event.contract, event.contract_version, event.object)
                self.open[run_id] = (event.tenant_id, key, recorded.position)
                self.due[run_id] = recorded.position
            case PipelineRun.Revived() if run_id in self.open:
                self.due[run_id] = recorded.position
            case PipelineRun.Normalized():
                self._learn_gdp(run_id, event.gdp)
            case PipelineRun.DeadLettered():
                self._not_due(run_id)
            case PipelineRun.Published() | PipelineRun.Rejected() | PipelineRun.StepDenied():
                self._not_due(run_id)
                self.open.pop(run_id, None)

    def _build(self, run_id: UUID, recorded: RecordedEvent) -> None:
        """Applies a run's event to the run being built from the log (one starts at its Ingested event)."""
        if isinstance(recorded.event, PipelineRun.Ingested) and recorded.version == 0:
            self.whole[run_id] = Loaded(None)
        built = self.whole.get(run_id)
        if built is None:
            return
        if recorded.version == built.version + 1:
            built.seen([recorded])
        else:  # not the next event of the stream as built: leave the run to a load
            del self.whole[run_id]

    def _not_due(self, run_id: UUID) -> None:
        self.due.pop(run_id, None)
        self.whole.pop(run_id, None)

    def _learn_gdp(self, run_id: UUID, gdp: Manifest) -> None:
        if run_id in self.open:
            _, key, order = self.open[run_id]
            self.facts.append(Fact(key, str(run_id), order, dict(gdp)))

    def saved(self) -> dict[str, Any]:
        return {
            "due": {str(run_id): position for run_id, position in self.due.items()},
            "open": {str(run_id): list(run) for run_id, run in self.open.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.due = {UUID(run_id): int(position) for run_id, position in state.get("due", {}).items()}
        self.open = {UUID(run_id): (t, k, int(o)) for run_id, (t, k, o) in state.get("open", {}).items()}

    def new_facts(self) -> list[Fact]:
        facts, self.facts = self.facts, []
        return list({(fact.key, fact.item): fact for fact in facts}.values())

    # --- the work

    def work(self) -> int:
        """Advances every run with a step due, in ingestion order; the number of steps done."""
        return sum(self.advance(run_id) for run_id in sorted(self.due, key=self.due.__getitem__))

    def handle(self, stream_id: UUID) -> int:
        """Advances the run an event points at, if it has a step due (a work-queue consumer's share)."""
        return self.advance(stream_id) if stream_id in self.due else 0

    def advance(self, run_id: UUID) -> int:
        """Does the run's due steps in order, loading the run once; stops at a rejection, a denial or a dead
        letter. The number of steps done, a denial or a dead letter counting as one."""
        self._hand_over(run_id)
        run: PipelineRun | None = self.pipeline.run(tenant_id_of(self.open[run_id][0]), run_id)
        done, target = 0, None
        while run is not None and (step := run.next_step) is not None:
            target = target or self.pipeline.target(run.tenant_id, run.contract, run.object, run.contract_version)
            refused = self.authorize_step(run.tenant_id, STEP_ACTIONS[step])
            if refused:
                self._deny(run, step, refused)
                return done + 1
            run = self._attempt(run, step, target)
            done += 1
        if run is not None:
            self._not_due(run_id)
        return done

    def _hand_over(self, run_id: UUID) -> None:
        """Gives the pass's unit of work the run as built from the log, so its stream is not read again (once: from
        then on the unit's commands change it)."""
        built = self.whole.pop(run_id, None)
        if built is not None:
            with self.pipeline.runner.unit_of_work() as unit:
                unit.adopt(run_id, built)

    def _deny(self, run: PipelineRun, step: str, reasons: list[str]) -> None:
        log.info("run %s: %s denied: %s", run.id, step, "; ".join(reasons))
        with contextlib.suppress(StepDoneError):  # another orchestrator moved the run on first
            self._record(run, f"deny|{step}|v{run.version}", lambda r: r.deny_step(step, reasons))

    def _attempt(self, run: PipelineRun, step: str, target: Target) -> PipelineRun | None:
        """Runs one step with retries; the run after it, or None when it ended in the dead letters."""
        while True:
            started = self.clock().isoformat()
            with _tracer.start_as_current_span(f"step {step}", attributes={"platform.run_id": str(run.id)}):
                try:
                    self._do(run, step, target, started)
                    return run
                except StepDoneError:  # done by another orchestrator: the stored run says what is next
                    return self.pipeline.run(run.tenant_id, run.id)
                except Exception as error:  # every failure of a step is recorded, then retried or dead-lettered
                    delay = self._failed(run, step, error)
                    if delay is None:
                        return None
                    self.sleep(delay)

    def _failed(self, run: PipelineRun, step: str, error: Exception) -> float | None:
        """Records the failed attempt; the delay before the next one, or None when this one was the last."""
        log.warning("run %s: %s failed: %s", run.id, step, error)
        attempt = run.attempts.get(step, 0) + 1
        # Retrying cannot help an input that can never be processed: this attempt is its last.
        last = attempt if isinstance(error, UnprocessableBatchError) else self.attempts
        delay = self.backoff * 2 ** (attempt - 1) if attempt < last else 0.0
        message = f"{type(error).__name__}: {error}"
        # The run's version makes the id unique per state: attempts count from one again after a revival, and the
        # failure of an attempt after it is a new command, not a replay of the same-numbered one before it.
        name = f"fail|{step}|{attempt}|v{run.version}"
        try:
            self._record(run, name, lambda r: r.fail_step(step, message, delay, last))
        except StepDoneError:
            return None
        return delay if attempt < last else None

    def _context(self, run: PipelineRun, name: str) -> CommandContext:
        return CommandContext(ACTOR, f"{run.id}|{name}", correlation_id=str(run.id), causation_id=str(run.id))

    def _record(self, run: PipelineRun, name: str, change: Callable[[PipelineRun], None]) -> None:
        """Records the change, and makes it to the run in hand too (unless the run in hand is the one the unit of
        work keeps, which the command changed), so the run is not loaded again; StepDoneError when the command had
        been recorded before (the run in hand is behind)."""
        before = run.version
        result = self.pipeline.record_step(self._context(run, name), run.id, change)
        if result.replayed:
            raise StepDoneError(f"run {run.id}: {name} was recorded before")
        if run.version == before:
            change(run)
            run.collect_events()

    def _do(self, run: PipelineRun, step: str, target: Target, started: str) -> None:
        match step:
            case "normalize":
                self._normalize(run, target, started)
            case "build_kpis":
                self._build_kpis(run, target, started)
            case "publish":
                self._publish(run, target, started)
            case _:
                raise DomainError(f"unknown step {step}")

    def _normalize(self, run: PipelineRun, target: Target, started: str) -> None:
        out = self.compute.normalize(run.tenant_id, run.raw, target)
        finished = self.clock().isoformat()
        if out.failures or out.gdp is None:
            reasons = out.failures or ["no rows were accepted"]
            rows_in, rejected = out.counts.get("rows_in", 0), out.counts.get("rejected", 0)
            self._record(
                run,
                "normalize",
                lambda r: r.reject(reasons, out.quarantine, rows_in, rejected, out.quality, started, finished),
            )
            return
        gdp = out.gdp
        self._record(
            run, "normalize", lambda r: r.normalized(gdp, out.quarantine, out.counts, out.quality, started, finished)
        )
        self._learn_gdp(run.id, gdp)  # a later run's KPI build in this same pass reads it

    def _inputs(self, run: PipelineRun) -> list[Manifest]:
        """The golden data points of the run's contract version and object, in ingestion order: the saved facts,
        those seen since, and the run's own."""
        key = _key(run.tenant_id, run.contract, run.contract_version, run.object)
        found = {f.item: f for f in self.checkpoints.facts(self.name, key)}
        found |= {f.item: f for f in self.facts if f.key == key}
        if str(run.id) not in found and run.gdp is not None:
            found[str(run.id)] = Fact(key, str(run.id), self.open.get(run.id, ("", "", 0))[2], dict(run.gdp))
        return [cast(Manifest, f.value) for f in sorted(found.values(), key=lambda f: f.order)]

    def _build_kpis(self, run: PipelineRun, target: Target, started: str) -> None:
        inputs = self._inputs(run)
        out = self.compute.build_kpis(run.tenant_id, inputs, target)
        finished = self.clock().isoformat()
        self._record(
            run, "build_kpis", lambda r: r.kpis_built(inputs, out.kpis, out.rows, out.summary, started, finished)
        )

    def _publish(self, run: PipelineRun, target: Target, started: str) -> None:
        if run.kpis is None:
            raise DomainError(f"run {run.id} has no KPIs to publish")
        kpis = run.kpis
        gdp = self._inputs(run) if target.publish_gdp else []
        datasets = self.compute.publish(run.tenant_id, kpis, gdp, target)
        version = self.pipeline.publish(self._context(run, "publish_product"), target, run.id, datasets, run.summary)
        outputs = [d["served"] for d in datasets]
        finished = self.clock().isoformat()
        self._record(
            run, "publish", lambda r: r.published(target.contract, version, [kpis, *gdp], outputs, started, finished)
        )
