"""Whether a read model can be trusted now: it has parked no event, and it is not stuck behind the log.

A read model is stuck when it is behind the log and its checkpoint has not moved for ``stall_after`` seconds
(its feeder is dead, or the database keeps refusing). ``/ready`` names every read model that is stuck or holds a
parked event. Authentication asks ``doubt`` about the read models authorization state comes from: it fails closed
when one is stuck, or has parked an event about the caller (whose stream is its principal, API key or tenant),
since that event may be the revocation that has not taken effect.

Progress is watched per process, from the checks it makes (``/ready``, authentication): the first check of a
read model starts its clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from adapters.parking import ParkedEvent, parked
from adapters.readmodels import ReadModelStore, checkpoints
from eventstore.port import EventStore

AUTHORIZATION_READ_MODELS = ("access", "tenant_directory")
"""The read models authentication and authorization read principals, roles, API keys and tenants from."""
STALL_AFTER = 15.0
REFRESH = 1.0
"""Seconds a check is reused by authentication before the store and read models are read again."""


class ReadModelUnsoundError(Exception):
    """The read model this answer depends on is stuck or has set aside an event about it; try again later."""


@dataclass(frozen=True)
class Stall:
    behind: int
    seconds: float


@dataclass(frozen=True)
class Soundness:
    """The parked events and the stuck read models, as one check found them."""

    parked: tuple[ParkedEvent, ...] = ()
    stalled: Mapping[str, Stall] = field(default_factory=dict)

    def problems(self) -> tuple[str, ...]:
        """One line per read model that cannot be trusted, naming it."""
        by_model: dict[str, list[int]] = {}
        for found in self.parked:
            by_model.setdefault(found.read_model, []).append(found.position)
        lines = [
            f"read model {name} has {len(positions)} parked event(s), at {', '.join(map(str, positions[:10]))}"
            for name, positions in by_model.items()
        ]
        lines += [
            f"read model {name} has not advanced for {stall.seconds:.0f} s while {stall.behind} events behind"
            for name, stall in self.stalled.items()
        ]
        return tuple(lines)

    def doubt(self, read_models: Collection[str], scopes: Collection[str]) -> str | None:
        """Why these read models cannot be trusted about these scopes (ids of principals, keys, tenants), or None."""
        for name in read_models:
            if name in self.stalled:
                return f"read model {name} is stuck"
        for found in self.parked:
            if found.read_model in read_models and found.scopes.intersection(scopes):
                return f"read model {found.read_model} has parked the event at {found.position} about it"
        return None


class ReadModelHealth:
    """Checks the read models of one store against the log, remembering when each last made progress."""

    def __init__(
        self,
        store: EventStore,
        read_models: ReadModelStore,
        stall_after: float = STALL_AFTER,
        refresh: float = REFRESH,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.read_models = store, read_models
        self.stall_after, self.refresh, self.now = stall_after, refresh, now
        self._progress: dict[str, tuple[int, float]] = {}
        self._last: tuple[float, Soundness] | None = None
        self._lock = threading.Lock()

    def cached(self) -> Soundness | None:
        """The last check, however old, without any I/O."""
        return self._last[1] if self._last is not None else None

    def current(self) -> Soundness:
        """The last check when it is younger than ``refresh`` seconds, else a new one."""
        last = self._last
        if last is not None and self.now() - last[0] < self.refresh:
            return last[1]
        return self.check()

    def check(self) -> Soundness:
        """Reads the log's end, the checkpoints and the parked events now."""
        end = self.store.last_position()
        with self.read_models.engine.connect() as connection:
            rows = connection.execute(select(checkpoints.c.name, checkpoints.c.position)).all()
        found = {str(name): int(position) for name, position in rows}
        soundness = Soundness(tuple(parked(self.read_models.engine)), self._stalled(end, found))
        self._last = (self.now(), soundness)
        return soundness

    def _stalled(self, end: int, found: Mapping[str, int]) -> dict[str, Stall]:
        now, stalled = self.now(), {}
        with self._lock:
            for name in self.read_models.projections:
                position = int(found.get(name, 0))
                seen = self._progress.get(name)
                if seen is None or seen[0] != position or position >= end:
                    seen = self._progress[name] = (position, now)
                if position < end and now - seen[1] > self.stall_after:
                    stalled[name] = Stall(end - position, now - seen[1])
        return stalled
