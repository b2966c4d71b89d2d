"""Following the event log: how every process manager (orchestrator, scheduler, webhook dispatcher, action
engine) brings its state up to the end of the log. Their state is rebuilt from the log, so none keeps a
checkpoint of its own."""

from __future__ import annotations

from typing import Protocol

from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

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
