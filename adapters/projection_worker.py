"""Keeps read models up to date by following the event log (in-process or as its own process)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from adapters.readmodels import ReadModelStore
from eventstore.port import EventStore

log = logging.getLogger(__name__)
BATCH = 500


class ProjectionWorker:
    """Follows the log from the lowest checkpoint and applies each batch to every read model."""

    def __init__(self, store: EventStore, read_models: ReadModelStore, batch: int = BATCH) -> None:
        self.store = store
        self.read_models = read_models
        self.batch = batch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def catch_up(self, until: int | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Applies everything in the log (up to ``until``) now; returns how many events were read."""
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
        """Applies new events as they are recorded, until stop() is called."""
        self.read_models.report_parked()  # what a crash kept from being reported before
        subscription = self.store.subscribe(self.read_models.low_water_mark())
        try:
            while not self._stop.is_set():
                events = subscription.next_batch(self.batch, timeout=0.2)
                for name in self.read_models.projections:
                    if events:
                        self.read_models.apply(name, events)
        finally:
            subscription.stop()

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
                self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
