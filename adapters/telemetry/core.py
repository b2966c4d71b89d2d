"""The Observability module of one platform process: its metrics registry, SLO signals, scrape and readiness."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import generate_latest

from adapters.readmodel_health import ReadModelHealth
from adapters.readmodels import ReadModelStore
from adapters.telemetry.collectors import NatsCollector, ReadSideCollector, Sampled, SloCollector
from adapters.telemetry.lag import read_side
from adapters.telemetry.metrics import Metrics
from adapters.telemetry.nats_probe import NatsProbe
from adapters.telemetry.objectives import SLOS, module_of
from adapters.telemetry.observer import LogObserver
from adapters.telemetry.slo import OK, SERVER_ERROR, BurnRates, Signal, Slo
from eventstore.port import EventStore

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4"
"""The classic Prometheus text format, which ``generate_latest`` writes and every Prometheus reads (the HTTP layer
adds ``charset=utf-8``)."""
READY_MAX_LAG = 1000

KNOWN_OUTCOMES = {
    "webhook_deliveries": ("delivered", "failed"),
    "runs_finished": ("published", "rejected", "dead_lettered"),
    "exports_finished": ("completed", "failed"),
}
"""Series that exist (at 0) from the start, so a rate over them is defined before the first event."""


@dataclass(frozen=True)
class Readiness:
    """Whether this process can serve: the event store answers and the read models are close to the log."""

    problems: tuple[str, ...]
    log_end: int | None = None
    max_lag_events: int | None = None

    @property
    def ready(self) -> bool:
        return not self.problems


class Telemetry:
    """Metrics, SLO signals and readiness of one process, over its event store and read models.

    ``nats_url`` (optional) lets a scrape report JetStream consumer backlogs and the relay's lag.
    """

    def __init__(
        self,
        store: EventStore,
        read_models: ReadModelStore,
        clock: Callable[[], datetime],
        *,
        nats_url: str | None = None,
        nats_stream: str = "PLATFORM_EVENTS",
        scrape_token: str = "",
        ready_max_lag: int = READY_MAX_LAG,
        health: ReadModelHealth | None = None,
        slos: tuple[Slo, ...] = SLOS,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.read_models, self.clock, self.now = store, read_models, clock, now
        self.scrape_token = scrape_token
        """A bearer token that may read /metrics without being a principal (empty: only credentials with a permit)."""
        self.ready_max_lag = ready_max_lag
        self.health = health or ReadModelHealth(store, read_models)
        """Parked events and stuck read models, which /ready names."""
        self.metrics = Metrics()
        self.slos = tuple(slo for slo in slos if slo.measured)
        self._by_source: dict[str | None, list[Slo]] = defaultdict(list)
        for slo in self.slos:
            self._by_source[slo.source].append(slo)
        self.burn_rates = BurnRates(self.slos)
        self.observer = LogObserver(store, self.metrics, self.signal)
        self.samplers: list[Sampled] = [ReadSideCollector(store, read_models, clock, self.signal)]
        if nats_url:
            self.samplers.append(NatsCollector(NatsProbe(nats_url, nats_stream), store, clock, self.signal))
        for collector in [*self.samplers, SloCollector(self.slos, self.burn_rates, now)]:
            self.metrics.registry.register(collector)
        for counter, outcomes in KNOWN_OUTCOMES.items():
            for outcome in outcomes:
                getattr(self.metrics, counter).labels(outcome)

    def signal(self, signal: Signal) -> None:
        """Counts the signal as good or bad for every SLO that judges it."""
        at = self.now()
        for slo in self._by_source.get(signal.source, ()):
            good = slo.judge(signal)
            if good is None:
                continue
            self.metrics.slo_events.labels(slo.name, "good" if good else "bad").inc()
            self.burn_rates.record(slo.name, good, at)

    def request_done(self, method: str, route: str, kind: str, status: int, seconds: float) -> None:
        """Counts an answered HTTP request; ``route`` is its path template, ``kind`` command/query/ingest/operations."""
        module = module_of(route)
        self.metrics.http_requests.labels(method, route, module, kind, str(status)).inc()
        self.metrics.http_duration.labels(method, route, module, kind).observe(seconds)
        labels = {"method": method, "route": route, "module": module, "kind": kind}
        self.signal(Signal("http", labels, seconds, SERVER_ERROR if status >= 500 else OK))

    def scrape(self) -> bytes:
        """The Prometheus text exposition of everything, read now: the log's new events first, then the lags."""
        try:
            self.observer.poll()
            self.metrics.observer_up.set(1)
        except Exception:  # the rest of the page is still worth having; the gauge says what is missing
            log.warning("the log observer could not read the event log", exc_info=True)
            self.metrics.observer_up.set(0)
        for sampler in self.samplers:
            sampler.sample()
        return generate_latest(self.metrics.registry)

    def readiness(self) -> Readiness:
        """Ready when the event store answers, no read model is more than ``ready_max_lag`` events behind, and none
        holds a parked event or is stuck."""
        try:
            end = self.store.last_position()
        except Exception as error:  # whatever the adapter raises, the answer is "not ready, because"
            return Readiness((f"the event store does not answer: {type(error).__name__}: {error}",))
        try:
            side = read_side(self.store, self.read_models, self.clock())
            soundness = self.health.check()
        except Exception as error:
            return Readiness((f"the read models do not answer: {type(error).__name__}: {error}",), end)
        problems = tuple(
            f"read model {lag.projection} is {lag.events} events behind the log (at most {self.ready_max_lag})"
            for lag in side.lags
            if lag.events > self.ready_max_lag
        )
        return Readiness(problems + soundness.problems(), side.log_end, side.max_events)
