"""Following the event log: how process managers (pipeline steps, exports, dead letters, compensations, the action
engine, the scheduler, the webhook dispatcher) learn what is due, and run their passes in the background.

A ``Follower`` reads the log once per pass, from the earliest position among its process managers to the end, and
hands each event to every process manager that has not seen it; then each does the work that is due. Each process
manager has a checkpoint of its own (its position and the state of its unfinished work, ``application.checkpoints``)
that the follower saves at the end of a pass, so a restart resumes there instead of at position 0.

Saving the checkpoint after the effects are recorded is safe: every effect is a command under an id derived from
what caused it, and commands are idempotent, so work done again after a crash between the two records nothing twice.

After a round that recorded events, the next round does not read the log again when those events directly follow
the end of the last read (their positions are the next ones, so nothing else was appended in between): it hands
them on as a read would have, from what the round's unit of work appended. When another writer interleaved (or the
store's positions have gaps) it reads. Events appended after them are read by the next pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from application.checkpoints import Checkpoint, Checkpoints, Fact, MemoryCheckpoints
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
BATCH = 1000


class ProcessManager(Protocol):
    """A process manager as a follower drives it: it learns from events, does what is due, and says what to keep."""

    name: str

    def see(self, recorded: RecordedEvent) -> None:
        """Learns from one more event, in log order (it only updates the state: no effects)."""

    def work(self) -> int:
        """Does the work that is due; the number of things done (0 when nothing was due)."""

    def saved(self) -> dict[str, Any]:
        """The state of its unfinished work, as JSON values."""

    def restore(self, state: dict[str, Any]) -> None:
        """Takes back the state ``saved`` gave."""

    def new_facts(self) -> list[Fact]:
        """The facts about finished work seen since the last call, to be saved with the checkpoint."""


class Writes(Protocol):
    """What a unit of work appended (``application.unit_of_work.UnitOfWork``)."""

    def recorded_after(self, position: int) -> list[RecordedEvent]:
        """The events it appended after ``position``, in log order, as a read of the log gives them back."""
        ...


def directly_follow(end: int | None, written: Sequence[RecordedEvent]) -> bool:
    """Whether ``written`` are the next events of the log after ``end``: their positions are end+1, end+2, ... with
    no room between them for another writer's event."""
    return end is not None and bool(written) and all(r.position == end + n for n, r in enumerate(written, 1))


class Follower:
    """Reads the log once per pass for several process managers, each with its own checkpoint."""

    def __init__(
        self,
        store: EventStore,
        members: Sequence[ProcessManager],
        checkpoints: Checkpoints | None = None,
        batch: int = BATCH,
        unit_of_work: Callable[[], AbstractContextManager[Writes | None]] = nullcontext,
    ) -> None:
        self.store = store
        self.unit_of_work = unit_of_work
        """Opened around each round of reading and working, so a round loads each aggregate once."""
        self.members = list(members)
        self.checkpoints = checkpoints if checkpoints is not None else MemoryCheckpoints()
        self.batch = batch
        self.lock = threading.RLock()
        self.positions: dict[str, int] = {}
        self.end: int | None = None
        """The log's end as the last read found it (moved past this follower's own writes that directly followed
        it); None before the first read."""
        self._saved: dict[str, Checkpoint] = {}
        self._resumed = False

    def resume(self) -> None:
        """Takes up each process manager's checkpoint (once, before the first read)."""
        if self._resumed:
            return
        for member in self.members:
            found = self.checkpoints.load(member.name) or Checkpoint(0)
            member.restore(found.state)
            self.positions[member.name] = found.position
            self._saved[member.name] = found
        self._resumed = True

    def read(self) -> int:
        """Reads the log once to its end, handing each event to every process manager that has not seen it;
        the number of events read."""
        with self.lock:
            self.resume()
            after, count = min(self.positions.values(), default=0), 0
            while True:
                events = self.store.read_all(after, self.batch)
                for recorded in events:
                    self._hand(recorded)
                count += len(events)
                if events:
                    after = events[-1].position
                if len(events) < self.batch:
                    self.end = after
                    return count

    def _hand(self, recorded: RecordedEvent) -> None:
        for member in self.members:
            if self.positions[member.name] < recorded.position:
                member.see(recorded)
                self.positions[member.name] = recorded.position

    def written(self, unit: Writes | None) -> list[RecordedEvent]:
        """What the unit of work appended after the log's end as last read (none without a unit)."""
        return [] if unit is None or self.end is None else unit.recorded_after(self.end)

    def read_on(self, written: Sequence[RecordedEvent]) -> None:
        """Brings every process manager to the log's end after a round that appended ``written``: past them without
        reading when they directly follow the last read's end, else by reading."""
        with self.lock:
            if not directly_follow(self.end, written):
                self.read()
                return
            for recorded in written:
                self._hand(recorded)
            self.end = written[-1].position

    def catch_up(self) -> int:
        """Reads and works until nothing is due, then saves the checkpoints; the number of things done."""
        with self.lock:
            done, written = 0, list[RecordedEvent]()
            while True:
                with self.unit_of_work() as unit:
                    self.read_on(written)
                    progressed = sum(member.work() for member in self.members)
                    written = self.written(unit)
                if not progressed:
                    break
                done += progressed
            self.save()
            return done

    def save(self) -> None:
        """Saves, in one transaction, each checkpoint that changed and the facts seen since the last save."""
        with self.lock:
            facts = [(member.name, fact) for member in self.members for fact in member.new_facts()]
            now = {m.name: Checkpoint(self.positions.get(m.name, 0), m.saved()) for m in self.members}
            changed = {name: checkpoint for name, checkpoint in now.items() if self._saved.get(name) != checkpoint}
            if changed or facts:
                self.checkpoints.save(changed, facts)
                self._saved.update(changed)


class Background:
    """One pass of a process manager repeated on a daemon thread every ``interval`` seconds until stopped.

    A pass that raises is logged and the loop goes on: it must outlive a bad moment (a database restart), and the
    next pass picks the work up again from its checkpoint.
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
