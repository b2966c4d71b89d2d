"""Orchestration: the process manager that drives raw -> normalized -> KPIs -> published, and export jobs.

It follows the event log. Its state (which runs and exports still have work, which golden data points each
contract version has) is rebuilt from the log on every start, so it keeps no checkpoint of its own: triggers are
at-least-once. Effects are exactly-once: each step is recorded under a command id derived from the run and the
step, a run only accepts the step it is waiting for, dataset files are content-addressed and write-once, and a
product publishes a run once. A replayed or duplicated trigger therefore builds nothing twice.

A step that raises is retried with exponential backoff (``attempts`` in all, 3 by default); each failure is a
StepFailed event, and the last a DeadLettered event, which is what the dead-letter list shows. A step whose input
can never be processed (UnprocessableBatchError: unreadable, malformed, past a bound) fails at once: one
attempt, then the dead letters, with the reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from opentelemetry import trace

from application.commands import CommandContext
from application.deadletters import DeadLetterService
from application.following import Background, read_to_end
from application.pipeline import PipelineCompute, PipelineService, Target, UnprocessableBatchError
from domain.deadletters import DeadLetter, dead_letter_id_for
from domain.errors import DomainError
from domain.exports import Export
from domain.pipeline import Manifest, PipelineRun, StepDoneError
from domain.products import DataProduct, VersionRetractedError
from domain.values import TenantId, backoff_delay, tenant_id_of, tenant_id_or_none
from domain.webhooks import Delivery
from eventstore.codec import event_id_for
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
_tracer = trace.get_tracer("platform.orchestrator")
ACTOR = "system:orchestrator"
PUBLISHED_TYPE = "platform.products.DataProductVersionPublished"
RETRACT_PROPERTY = "retractOnUndeliveredNotification"
"""A contract-level ODCS custom property: true makes every webhook notification of a published version of its
product mandatory, so a version whose notification can never be delivered is retracted (a compensation)."""


@dataclass
class _State:
    """What the log says is still to do, and the golden data points of each contract version in ingestion order."""

    position: int = 0
    runs: dict[UUID, int] = field(default_factory=dict)
    """Runs with work left, by the position of their Ingested event (ingestion order)."""
    ingested_at: dict[UUID, int] = field(default_factory=dict)
    keys: dict[UUID, tuple[TenantId, str, str, str]] = field(default_factory=dict)
    """Each run's tenant, contract, contract version and object."""
    gdp: dict[tuple[str, str, str, str], dict[UUID, Manifest]] = field(default_factory=dict)
    exports: dict[UUID, int] = field(default_factory=dict)
    letters: dict[UUID, RecordedEvent] = field(default_factory=dict)
    """Dead-lettered steps whose dead letter the log does not show yet, by the dead letter's id."""
    deliveries: dict[UUID, tuple[str, int]] = field(default_factory=dict)
    """Webhook deliveries of a published version: the event's type and position, by delivery id."""
    compensations: dict[UUID, RecordedEvent] = field(default_factory=dict)
    """Failed deliveries of a published version that may need it retracted, by delivery id."""

    def see(self, recorded: RecordedEvent) -> None:
        event, stream = recorded.event, recorded.event.originator_id
        self.position = recorded.position
        match event:
            case PipelineRun.Revived():
                self.runs[stream] = recorded.position
            case PipelineRun.Ingested():
                self.runs[stream] = recorded.position
                self.ingested_at[stream] = recorded.position
                self.keys[stream] = (event.tenant_id, event.contract, event.contract_version, event.object)
            case PipelineRun.Normalized():
                self.gdp.setdefault(self.keys[stream], {})[stream] = event.gdp
            case PipelineRun.DeadLettered():
                self.runs.pop(stream, None)
                self.letters[dead_letter_id_for("pipeline", str(stream), event.step)] = recorded
            case DeadLetter.Recorded() | DeadLetter.Reopened():
                self.letters.pop(stream, None)
            case PipelineRun.Published() | PipelineRun.Rejected():
                self.runs.pop(stream, None)
            case Delivery.Started() if event.event_type == PUBLISHED_TYPE:
                self.deliveries[stream] = (event.event_type, event.position)
            case Delivery.Failed() if stream in self.deliveries:
                self.compensations[stream] = recorded
            case Export.Requested():
                self.exports[stream] = recorded.position
            case Export.Completed() | Export.Failed():
                self.exports.pop(stream, None)


class Orchestrator:
    """Runs pending pipeline steps and export jobs, as the event log says they are due."""

    def __init__(
        self,
        store: EventStore,
        pipeline: PipelineService,
        compute: PipelineCompute,
        dead_letters: DeadLetterService,
        clock: Callable[[], datetime],
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.compute = compute
        self.dead_letters = dead_letters
        self.clock = clock
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self.state = _State()
        self._lock = threading.RLock()
        self._background = Background("orchestrator", self.catch_up, interval=0.2)

    # --- following the log

    def _read(self) -> None:
        read_to_end(self.store, self.state)

    def handle(self, stream_id: UUID) -> int:
        """Does the work one event points at (its run's due steps, or its export), as a work-queue consumer does
        when several processes share the events: the log is read to its end first, so the state is current."""
        with self._lock:
            self._read()
            done = self._send_dead_letters() + self._compensate()
            if stream_id in self.state.runs:
                done += self.advance(stream_id)
            if stream_id in self.state.exports:
                done += self.export(stream_id)
                self.state.exports.pop(stream_id, None)
            self._read()
            return done + self._send_dead_letters()

    def catch_up(self) -> int:
        """Reads the log to its end and does every step that is due; the number of steps and jobs done."""
        with self._lock:
            return self._catch_up()

    def _catch_up(self) -> int:
        done = 0
        while True:
            self._read()
            progressed = self._send_dead_letters() + self._compensate()
            for run_id in sorted(self.state.runs, key=self.state.runs.__getitem__):
                progressed += self.advance(run_id)
            for export_id in sorted(self.state.exports, key=self.state.exports.__getitem__):
                progressed += self.export(export_id)
                self.state.exports.pop(export_id, None)
            self._read()
            if not progressed and not self.state.letters:
                return done
            done += progressed

    def start(self) -> None:
        """Catches up every 0.2 s on a thread of its own until stopped."""
        self._background.start()

    def stop(self) -> None:
        self._background.stop()

    def _send_dead_letters(self) -> int:
        """Each dead-lettered step gets its dead letter (once: the command id is the DeadLettered event's id)."""
        sent = 0
        for letter_id, recorded in list(self.state.letters.items()):
            event = recorded.event
            run_id = event.originator_id
            context = CommandContext(ACTOR, f"dead-letter|{recorded.metadata.event_id}", str(run_id), str(run_id))
            cause = (str(event_id_for(run_id, 0)), "PipelineRun.Ingested")
            tenant = tenant_id_or_none(recorded.metadata.tenant_id)
            self.dead_letters.record(
                context, tenant, "pipeline", str(run_id), event.step, event.error, event.attempts, cause
            )
            self.state.letters.pop(letter_id, None)
            sent += 1
        return sent

    def _compensate(self) -> int:
        """Retracts a published version whose mandatory notification failed for good (when its contract says so).

        The command id derives from the Failed event, so a replayed failure retracts nothing twice."""
        done = 0
        for delivery_id, failed in list(self.state.compensations.items()):
            _, position = self.state.deliveries[delivery_id]
            published = self.store.read_all(position - 1, 1)
            event = published[0].event if published else None
            self.state.compensations.pop(delivery_id, None)
            if not isinstance(event, DataProduct.VersionPublished) or published[0].position != position:
                continue
            tenant = tenant_id_of(published[0].metadata.tenant_id or "")
            if not self._notification_required(tenant, event.contract, event.contract_version):
                continue
            reason = (
                f"compensation: the required notification of version {event.version} could not be delivered "
                f"(webhook delivery {delivery_id}: {failed.event.error})"
            )
            context = CommandContext(
                ACTOR, f"compensate|{failed.metadata.event_id}", str(delivery_id), failed.metadata.event_id
            )
            try:
                self.pipeline.retract(context, tenant, event.contract, event.version, reason[:1000])
            except VersionRetractedError:
                continue
            done += 1
        return done

    def _notification_required(self, tenant_id: TenantId, contract: str, version: str) -> bool:
        found = self.pipeline.contracts.current_contract(tenant_id, contract)
        document = found.versions[version].document if found is not None and version in found.versions else {}
        return any(
            isinstance(p, dict) and p.get("property") == RETRACT_PROPERTY and p.get("value") is True
            for p in document.get("customProperties") or []
        )

    # --- one run

    def advance(self, run_id: UUID) -> int:
        """Does the run's due steps in order; stops at a rejection or a dead letter. The number of steps done."""
        done = 0
        while True:
            run = self.pipeline.run(self._tenant(run_id), run_id)
            step = run.next_step
            if step is None:
                self.state.runs.pop(run_id, None)
                return done
            if not self._attempt(run, step):
                return done
            done += 1
            self._read()

    def _tenant(self, run_id: UUID) -> TenantId:
        return self.state.keys[run_id][0]

    def _attempt(self, run: PipelineRun, step: str) -> bool:
        """Runs one step with retries; False when it ended in the dead letters."""
        while True:
            started = self.clock().isoformat()
            with _tracer.start_as_current_span(f"step {step}", attributes={"platform.run_id": str(run.id)}):
                try:
                    self._do(run, step, started)
                    return True
                except StepDoneError:
                    return True
                except Exception as error:  # every failure of a step is recorded, then retried or dead-lettered
                    log.warning("run %s: %s failed: %s", run.id, step, error)
                    attempt = run.next_attempt(step)
                    # Retrying cannot help an input that can never be processed: this attempt is its last.
                    last = attempt if isinstance(error, UnprocessableBatchError) else self.attempts
                    delay = backoff_delay(self.backoff, attempt) if attempt < last else 0.0
                    self._fail(run, step, attempt, f"{type(error).__name__}: {error}", delay, last)
                    if attempt >= last:
                        return False
                    self.sleep(delay)
                    run = self.pipeline.run(run.tenant_id, run.id)

    def _fail(self, run: PipelineRun, step: str, attempt: int, message: str, delay: float, last: int) -> None:
        # The run's version makes the id unique per state: attempts count from one again after a revival, and the
        # failure of an attempt after it is a new command, not a replay of the same-numbered one before it.
        self._record(run, f"fail|{step}|{attempt}|v{run.version}", lambda r: r.fail_step(step, message, delay, last))

    def _context(self, run: PipelineRun, name: str) -> CommandContext:
        return CommandContext(ACTOR, f"{run.id}|{name}", correlation_id=str(run.id), causation_id=str(run.id))

    def _record(self, run: PipelineRun, name: str, change: Callable[[PipelineRun], None]) -> None:
        self.pipeline.record_step(self._context(run, name), run.id, change)

    def _target(self, run: PipelineRun) -> Target:
        return self.pipeline.target(run.tenant_id, run.contract, run.object, run.contract_version)

    def _do(self, run: PipelineRun, step: str, started: str) -> None:
        target = self._target(run)
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

    def _inputs(self, run: PipelineRun) -> list[Manifest]:
        """The golden data points of the run's contract version and object, in ingestion order."""
        key = (run.tenant_id, run.contract, run.contract_version, run.object)
        found = self.state.gdp.get(key, {})
        if run.id not in found and run.gdp is not None:
            found[run.id] = run.gdp
        return [found[r] for r in sorted(found, key=lambda r: self.state.ingested_at.get(r, 0))]

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
        gdp = self._inputs(run) if target.publish_gdp else []
        datasets = self.compute.publish(run.tenant_id, run.kpis, gdp, target)
        summary = self._summary(run)
        version = self.pipeline.publish(self._context(run, "publish_product"), target, run.id, datasets, summary)
        inputs = [run.kpis, *gdp]
        outputs = [d["served"] for d in datasets]
        finished = self.clock().isoformat()
        self._record(
            run, "publish", lambda r: r.published(target.contract, version, inputs, outputs, started, finished)
        )

    def _summary(self, run: PipelineRun) -> list[Any]:
        for recorded in reversed(self.store.read_stream(run.id)):
            if isinstance(recorded.event, PipelineRun.KpisBuilt):
                return list(recorded.event.summary)
        return []

    # --- exports

    def export(self, export_id: UUID) -> int:
        tenant_id = self._export_tenant(export_id)
        job = self.pipeline.export(tenant_id, export_id)
        if job.status != "requested":
            return 0
        context = CommandContext(ACTOR, f"{export_id}|complete", str(export_id), str(export_id))
        try:
            product = self.pipeline.product(tenant_id, job.product)
            dataset = next(d for d in product.served(job.product_version) if d["name"] == job.dataset)
            file, rows = self.compute.export(tenant_id, dataset, job.format, job.filters, job.csv_formulas == "raw")
        except Exception as error:  # an export that cannot be made is recorded as failed, with why
            log.warning("export %s failed: %s", export_id, error)
            message = f"{type(error).__name__}: {error}"
            self.pipeline.record_export(context, export_id, lambda e: e.fail(message))
            return 1
        inputs = [dataset["served"]]
        self.pipeline.record_export(context, export_id, lambda e: e.complete(inputs, file, rows))
        return 1

    def _export_tenant(self, export_id: UUID) -> TenantId:
        for recorded in self.store.read_stream(export_id)[:1]:
            return tenant_id_of(recorded.event.tenant_id)
        raise DomainError(f"no such export: {export_id}")
