"""Keeps read models up to date by following the event log (in-process or as its own process).

With leases (``adapters/readmodel_leases.py``) a worker feeds only the read models it holds, however many
workers run; without, it feeds them all (tests, and ``catch_up`` into a database of its own).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from adapters.readmodel_leases import LeaseLostError, ReadModelLeases
from adapters.readmodels import ReadModelStore
from eventstore.port import EventStore, Subscription
from projections.base import EventView

log = logging.getLogger(__name__)
BATCH = 500


class _Following:
    """One subscription to the log serving the read models held, each from its own checkpoint: when a read model
    joins behind the subscription, it starts again from there (the others skip what they have seen)."""

    def __init__(self, store: EventStore, read_models: ReadModelStore) -> None:
        self.store, self.read_models = store, read_models
        self.positions: dict[str, int] = {}
        self._subscription: Subscription | None = None
        self._after = 0

    def hold(self, names: Sequence[str]) -> None:
        self.positions = {name: self.positions.get(name, -1) for name in names}
        for name, position in self.positions.items():
            if position < 0:
                self.positions[name] = self.read_models.checkpoint(name)
        low = min(self.positions.values())
        if self._subscription is None or low < self._after:
            self.stop()
            self._subscription, self._after = self.store.subscribe(low), low

    def next_batch(self, limit: int) -> list[EventView]:
        if self._subscription is None:
            return []
        events: list[EventView] = list(self._subscription.next_batch(limit, timeout=0.2))
        if events:
            self._after = events[-1].position
        return events

    def behind(self, events: Sequence[EventView]) -> list[str]:
        """The read models the batch has news for."""
        last = events[-1].position if events else 0
        return [name for name, position in self.positions.items() if position < last]

    def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.stop()
            self._subscription = None


class ProjectionWorker:
    """Follows the log from the lowest checkpoint of the read models it feeds and applies each batch to them."""

    def __init__(
        self,
        store: EventStore,
        read_models: ReadModelStore,
        batch: int = BATCH,
        leases: ReadModelLeases | None = None,
    ) -> None:
        self.store = store
        self.read_models = read_models
        self.batch = batch
        self.leases = leases
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kept_at = -float("inf")

    def catch_up(self, until: int | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Applies everything in the log (up to ``until``) to every read model now, unfenced; returns how many
        events were read."""
        position = self.read_models.low_water_mark()
        seen = 0
        while True:
            events = self.store.read_all(position, self.batch, until=until)
            if not events:
                return seen
            for name in self.read_models.projections:
                self.read_models.apply(name, events)
            position = events[-1].position
            seen += len(events)
            if progress:
                progress(seen, position)

    def run(self) -> None:
        """Applies new events as they are recorded to the read models it holds, until stop() is called."""
        self.read_models.report_parked()  # what a crash kept from being reported before
        following = _Following(self.store, self.read_models)
        try:
            while not self._stop.is_set():
                held = self._held()
                if not held:  # every read model has a feeder: stand by
                    following.stop()
                    self._stop.wait(0.2)
                    continue
                following.hold(held)
                events = following.next_batch(self.batch)
                for name in following.behind(events):
                    following.positions[name] = self._apply(name, events)
        finally:
            following.stop()

    def _held(self) -> Sequence[str]:
        if self.leases is None:
            return tuple(self.read_models.projections)
        if time.monotonic() - self._kept_at >= self.leases.renew_every:
            holding = self.leases.keep()
            self._kept_at = time.monotonic()
            if holding.gained or holding.lost:
                log.info("feeding %s (gained %s, lost %s)", holding.held, holding.gained, holding.lost)
        return self.leases.held

    def _apply(self, name: str, events: Sequence[EventView]) -> int:
        holder = self.leases.owner if self.leases is not None else None
        try:
            return self.read_models.apply(name, events, holder=holder)
        except LeaseLostError:
            assert self.leases is not None
            log.warning("lost the lease of read model %s to another feeder", name)
            self.leases.drop(name)
            return events[-1].position

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_logged, daemon=True, name="projections")
        self._thread.start()

    def _run_logged(self) -> None:
        while not self._stop.is_set():
            try:
                self.run()
            except Exception:
                log.exception("projection worker failed; restarting from the checkpoints")
                self._kept_at = -float("inf")
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
            if self.leases is not None:
                self.leases.release()
