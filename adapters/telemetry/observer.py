"""Turns new events in the log into metrics and SLO signals: events by type, pipeline steps, freshness,
exports, webhook deliveries, action triggers and deliveries, and scheduler punctuality.

The observer follows the log from where it stood when it was made, a bounded number of events per ``poll``
(each scrape polls), so it sees what every process appends (API, orchestrator, consumers), not only this one.
Durations come from the events themselves (a step's ``started_at`` and ``finished_at``; freshness is a run's
Published recorded-at minus its Ingested recorded-at; a job's delay is its first start minus its slot; an action
run's trigger delay is its Triggered recorded-at minus the finish of the KPI build that caused it), so they are
the same whoever observes them. Every observer reads the same log, so instances report the same
counts: aggregate them across instances with ``max``, not ``sum``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from adapters.nats.cloudevents import event_type
from adapters.telemetry.metrics import Metrics
from adapters.telemetry.slo import Signal
from domain.actions.runs import ActionRun
from domain.exports import Export
from domain.pipeline import PipelineRun
from domain.schedules import JobRun
from domain.webhooks import Delivery
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

BATCH = 1000
MAX_PER_POLL = 20_000
"""At most this many events per poll (a few tens of milliseconds); the rest waits for the next scrape."""
MAX_REMEMBERED = 100_000
"""Runs and jobs in flight whose start time is kept; others are looked up in their stream when they finish."""

STEP_OF: dict[type, str] = {
    PipelineRun.Normalized: "normalize",
    PipelineRun.KpisBuilt: "build_kpis",
    PipelineRun.Published: "publish",
}
RUN_ENDS: dict[type, str] = {
    PipelineRun.Published: "published",
    PipelineRun.Rejected: "rejected",
    PipelineRun.DeadLettered: "dead_lettered",
}


class LogObserver:
    """Follows the event log, updating the metrics and emitting SLO signals for what it sees."""

    def __init__(self, store: EventStore, metrics: Metrics, emit: Callable[[Signal], None]) -> None:
        self.store = store
        self.metrics = metrics
        self.emit = emit
        self.position = store.last_position()
        self._landed: dict[UUID, datetime] = {}
        self._slots: dict[UUID, datetime] = {}
        self._lock = threading.Lock()

    def poll(self, limit: int = MAX_PER_POLL) -> int:
        """Reads what was appended since the last poll (up to ``limit`` events); returns how many it read."""
        seen = 0
        with self._lock:
            while seen < limit:
                events = self.store.read_all(self.position, min(BATCH, limit - seen))
                for recorded in events:
                    self._see(recorded)
                    self.position = recorded.position
                seen += len(events)
                if len(events) < BATCH:
                    break
        return seen

    def _see(self, recorded: RecordedEvent) -> None:
        self.metrics.events_appended.labels(event_type(recorded)).inc()
        event = recorded.event
        if isinstance(event, PipelineRun.Event):
            self._pipeline(recorded, event)
        elif isinstance(event, Export.Completed | Export.Failed):
            self._finished_export("completed" if isinstance(event, Export.Completed) else "failed")
        elif isinstance(event, Delivery.Delivered | Delivery.Failed):
            outcome = "delivered" if isinstance(event, Delivery.Delivered) else "failed"
            self.metrics.webhook_deliveries.labels(outcome).inc()
            self.emit(Signal("webhook_delivery", outcome=outcome))
        elif isinstance(event, JobRun.Event):
            self._job(recorded, event)
        elif isinstance(event, ActionRun.Event):
            self._action(recorded, event)

    # --- pipeline runs

    def _pipeline(self, recorded: RecordedEvent, event: Any) -> None:
        match event:
            case PipelineRun.Ingested():
                _remember(self._landed, recorded.stream_id, recorded.recorded_at)
            case PipelineRun.StepFailed():
                self._attempt(event.step, "failed", None)
            case PipelineRun.Rejected():
                self._attempt(event.step, "rejected", _seconds(event.started_at, event.finished_at))
            case PipelineRun.Normalized() | PipelineRun.KpisBuilt() | PipelineRun.Published():
                step = STEP_OF[type(event)]
                self._attempt(step, "ok", _seconds(event.started_at, event.finished_at))
                outputs = _outputs(event)
                self._lineage(step, bool(event.inputs) and bool(outputs) and all(outputs))
        if isinstance(event, PipelineRun.Published):
            landed = self._landed.get(recorded.stream_id) or self._first_recorded(recorded.stream_id)
            seconds = max((recorded.recorded_at - landed).total_seconds(), 0.0)
            self.metrics.freshness.observe(seconds)
            self.emit(Signal("pipeline_freshness", value=seconds))
        end = RUN_ENDS.get(type(event))
        if end is not None:
            self._landed.pop(recorded.stream_id, None)
            self.metrics.runs_finished.labels(end).inc()
            self.emit(Signal("pipeline_run", outcome=end))

    def _attempt(self, step: str, outcome: str, seconds: float | None) -> None:
        self.metrics.step_attempts.labels(step, outcome).inc()
        if seconds is not None:
            self.metrics.step_duration.labels(step, outcome).observe(seconds)
        self.emit(Signal("pipeline_step", {"step": step}, seconds, outcome))

    def _lineage(self, step: str, complete: bool) -> None:
        flag = "true" if complete else "false"
        self.metrics.lineage.labels(step, flag).inc()
        self.emit(Signal("lineage", {"step": step}, outcome=flag))

    def _first_recorded(self, stream_id: UUID) -> datetime:
        """When a stream observed only from its middle began: its first event's recorded-at."""
        return self.store.read_stream(stream_id)[0].recorded_at

    # --- action runs

    def _action(self, recorded: RecordedEvent, event: Any) -> None:
        match event:
            case ActionRun.Triggered():
                built = datetime.fromisoformat(event.trigger["at"])
                delay = max((recorded.recorded_at - built).total_seconds(), 0.0)
                self.metrics.action_trigger_delay.observe(delay)
                self.emit(Signal("action_trigger_delay", value=delay))
            case ActionRun.Delivered() | ActionRun.Failed():
                outcome = "delivered" if isinstance(event, ActionRun.Delivered) else "failed"
                self.metrics.action_deliveries.labels(outcome).inc()
                self.emit(Signal("action_delivery", outcome=outcome))

    # --- exports and scheduled jobs

    def _finished_export(self, outcome: str) -> None:
        self.metrics.exports_finished.labels(outcome).inc()
        self.emit(Signal("export", outcome=outcome))

    def _job(self, recorded: RecordedEvent, event: Any) -> None:
        match event:
            case JobRun.Due():
                _remember(self._slots, recorded.stream_id, datetime.fromisoformat(event.slot))
            case JobRun.Started() if event.attempt == 1:
                slot = self._slots.pop(recorded.stream_id, None) or self._slot(recorded.stream_id)
                delay = max((datetime.fromisoformat(event.at) - slot).total_seconds(), 0.0)
                self.metrics.scheduler_delay.observe(delay)
                self.emit(Signal("scheduler_job_delay", value=delay))
            case JobRun.Succeeded() | JobRun.Failed():
                self._slots.pop(recorded.stream_id, None)
                outcome = "succeeded" if isinstance(event, JobRun.Succeeded) else "failed"
                self.metrics.scheduler_runs_finished.labels(outcome).inc()

    def _slot(self, stream_id: UUID) -> datetime:
        return datetime.fromisoformat(self.store.read_stream(stream_id)[0].event.slot)


def _remember(found: dict[UUID, datetime], key: UUID, value: datetime) -> None:
    if len(found) < MAX_REMEMBERED:
        found[key] = value


def _outputs(event: Any) -> list[Any]:
    """The datasets a step event says it wrote."""
    match event:
        case PipelineRun.Normalized():
            return [event.gdp]
        case PipelineRun.KpisBuilt():
            return [event.kpis]
    return list(event.outputs)


def _seconds(started: str, finished: str) -> float | None:
    if not started or not finished:
        return None
    return max((datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds(), 0.0)
