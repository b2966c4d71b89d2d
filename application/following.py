"""Following the event log: how every process manager (orchestrator, scheduler, webhook dispatcher, action
engine) brings its state up to the end of the log, and runs its passes in the background. Their state is rebuilt
from the log, so none keeps a checkpoint of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
BATCH = 1000


class LogState(Protocol):
    """What a process manager knows from the log: up to which position, and how it learns from one more event."""

    @property
    def position(self) -> int: ...

    def see(self, recorded: RecordedEvent) -> None: ...


def read_to_end(store: EventStore, state: LogState, batch: int = BATCH) -> None:
    """Shows the state every event after its position, in log order, up to the end of the log."""
    while True:
        events = store.read_all(state.position, batch)
        for recorded in events:
            state.see(recorded)
        if len(events) < batch:
            return


class Background:
    """One pass of a process manager repeated on a daemon thread every ``interval`` seconds until stopped.

    A pass that raises is logged and the loop goes on: it must outlive a bad moment (a database restart), and the
    next pass picks the work up again from the log.
    """

    def __init__(self, name: str, do_pass: Callable[[], object], interval: float) -> None:
        self.name = name
        self.do_pass = do_pass
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.do_pass()
            except Exception:  # logged, then tried again at the next pass
                log.exception("%s pass failed; trying again", self.name)
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
