"""Prometheus collectors whose values are read at scrape time: read-side lag, dead letters, NATS, SLO burn rates.

A collector that cannot read its source says so (``platform_read_side_up 0``, ``platform_nats_up 0``) instead of
failing the whole scrape, and logs why.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters import parking
from adapters.readmodel_leases import holders
from adapters.readmodels import ReadModelStore
from adapters.telemetry.lag import age_after, dead_letter_counts, read_side
from adapters.telemetry.nats_probe import NatsProbe
from adapters.telemetry.slo import BURN_WINDOWS, BurnRates, Signal, Slo
from domain.deadletters import SOURCES
from eventstore.port import EventStore

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Emit = Callable[[Signal], None]
READ_SIDE_UP = "1 when the event log and the read models answered this scrape"


def _gauge(name: str, documentation: str, labels: list[str], values: Mapping[Any, float]) -> Metric:
    """A gauge family with one sample per key (a tuple of label values, in the order of ``labels``)."""
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


class Sampled(Collector, ABC):
    """Values read by ``sample()``, which may emit SLO signals, and shown by ``collect()``.

    ``Telemetry.scrape`` samples before it renders, so what a sample emits is counted in the same scrape.
    """

    _families: list[Metric] | None = None

    def sample(self) -> None:
        self._families = list(self.read())

    @abstractmethod
    def read(self) -> Iterator[Metric]:
        """Reads the source now."""

    def collect(self) -> Iterator[Metric]:
        if self._families is None:
            self.sample()
        yield from self._families or []


class ReadSideCollector(Sampled):
    """The log's end position, each read model's checkpoint and lag, and the dead letters by source and status."""

    def __init__(self, store: EventStore, read_models: ReadModelStore, clock: Clock, emit: Emit) -> None:
        self.store, self.read_models, self.clock, self.emit = store, read_models, clock, emit

    def read(self) -> Iterator[Metric]:
        try:
            side = read_side(self.store, self.read_models, self.clock())
            letters = dead_letter_counts(self.read_models.engine)
            parked = parking.counts(self.read_models.engine)
            feeders = holders(self.read_models.engine)
        except Exception:  # a scrape must still answer when the store is away: say so instead
            log.warning("read-side metrics unavailable", exc_info=True)
            yield _gauge("platform_read_side_up", READ_SIDE_UP, [], {(): 0})
            return
        self.emit(Signal("projection_lag", value=side.max_seconds))
        yield _gauge("platform_read_side_up", READ_SIDE_UP, [], {(): 1})
        yield _gauge("platform_event_log_position", "Position of the newest event in the log", [], {(): side.log_end})
        by_name = {lag.projection: lag for lag in side.lags}
        yield _gauge(
            "platform_projection_checkpoint",
            "The last log position each read model has applied",
            ["projection"],
            {(name,): lag.checkpoint for name, lag in by_name.items()},
        )
        yield _gauge(
            "platform_projection_lag_events",
            "Log end position minus the read model's checkpoint (an upper bound: positions may have gaps)",
            ["projection"],
            {(name,): lag.events for name, lag in by_name.items()},
        )
        yield _gauge(
            "platform_projection_lag_seconds",
            "Seconds since the oldest event the read model has not applied was recorded (0 when caught up)",
            ["projection"],
            {(name,): lag.seconds for name, lag in by_name.items()},
        )
        yield _gauge(
            "platform_projection_parked_events",
            "Events a read model could not apply and set aside, by status (parked ones wait for a retry or discard)",
            ["projection", "status"],
            {(name, parking.PARKED): 0.0 for name in by_name} | {key: float(n) for key, n in parked.items()},
        )
        yield _gauge(
            "platform_read_model_feeder",
            'The feeder holding each read model\'s lease (host:pid:id; "" while none does), always 1',
            ["projection", "feeder"],
            {(name, feeders.get(name) or ""): 1.0 for name in by_name},
        )
        counts = {(source, "open"): 0.0 for source in SOURCES} | {key: float(n) for key, n in letters.items()}
        yield _gauge(
            "platform_dead_letters",
            "Dead letters by source and status (open ones wait for an operator's retry or discard)",
            ["source", "status"],
            counts,
        )


class NatsCollector(Sampled):
    """Each JetStream consumer's backlog, and how far the relay's stream is behind the log."""

    def __init__(self, probe: NatsProbe, store: EventStore, clock: Clock, emit: Emit) -> None:
        self.probe, self.store, self.clock, self.emit = probe, store, clock, emit

    def read(self) -> Iterator[Metric]:
        state = self.probe.state()
        up = 1 if state is not None and state.up else 0
        yield _gauge("platform_nats_up", "1 when the NATS stream answered the last probe", [], {(): up})
        if state is None or not state.up:
            return
        consumers = {(c.name,): c for c in state.consumers}
        for name, documentation, attribute in (
            ("platform_consumer_pending_messages", "Messages the consumer has not been delivered yet", "pending"),
            ("platform_consumer_ack_pending_messages", "Messages delivered but not yet acked", "ack_pending"),
            ("platform_consumer_redelivered_messages", "Messages delivered more than once", "redelivered"),
        ):
            values = {key: float(getattr(c, attribute)) for key, c in consumers.items()}
            yield _gauge(name, documentation + " (JetStream consumer info)", ["consumer"], values)
        yield from self._relay(state.relay_position or 0)

    def _relay(self, position: int) -> Iterator[Metric]:
        try:
            end = self.store.last_position()
            seconds = age_after(self.store, position, self.clock()) if position < end else 0.0
        except Exception:
            log.warning("relay lag unavailable", exc_info=True)
            return
        self.emit(Signal("relay_lag", value=seconds))
        yield _gauge(
            "platform_relay_lag_events",
            "Log end position minus the position of the newest event in the NATS stream",
            [],
            {(): max(end - position, 0)},
        )
        yield _gauge(
            "platform_relay_lag_seconds",
            "Seconds since the oldest event not yet in the NATS stream was recorded (0 when caught up)",
            [],
            {(): seconds},
        )


class SloCollector(Collector):
    """Every measured SLO's target, and its error-budget burn rate over each window."""

    def __init__(self, slos: tuple[Slo, ...], burn_rates: BurnRates, now: Callable[[], float]) -> None:
        self.slos, self.burn_rates, self.now = slos, burn_rates, now

    def collect(self) -> Iterator[Metric]:
        now = self.now()
        yield _gauge(
            "platform_slo_target",
            "The share of good events each SLO promises",
            ["slo", "module"],
            {(slo.name, slo.module): slo.target for slo in self.slos},
        )
        yield _gauge(
            "platform_slo_error_budget_burn_rate",
            "Share of bad events over the window divided by the error budget (1 spends it exactly over the SLO window)",
            ["slo", "window"],
            {
                (slo.name, window): self.burn_rates.burn_rate(slo.name, window, now)
                for slo in self.slos
                for window in BURN_WINDOWS
            },
        )
