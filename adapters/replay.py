"""Rebuilding read models from the log into a fresh database, and comparing them with the live ones."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.readmodels import ReadModelStore
from eventstore.port import EventStore

BATCH = 1000
Progress = Callable[[int, int], None]


class TargetNotEmptyError(ValueError):
    """The database to replay into already holds read models; replay needs a fresh one."""


@dataclass(frozen=True)
class ReadModelComparison:
    name: str
    position: int
    live_digest: str
    replayed_digest: str

    @property
    def equal(self) -> bool:
        return self.live_digest == self.replayed_digest


@dataclass(frozen=True)
class ReplayReport:
    events: int
    seconds: float
    comparisons: tuple[ReadModelComparison, ...]

    @property
    def equal(self) -> bool:
        return all(c.equal for c in self.comparisons)


def replay(store: EventStore, target: ReadModelStore, limits: dict[str, int], progress: Progress | None = None) -> int:
    """Applies the log to each read model of ``target`` up to its limit position; returns events read."""
    if any(target.checkpoint(name) for name in target.projections):
        msg = f"{target.url} already holds read models; replay into a fresh database"
        raise TargetNotEmptyError(msg)
    until = max(limits.values(), default=0)
    position = seen = 0
    while position < until:
        events = store.read_all(position, BATCH, until=until)
        if not events:
            break
        for name, limit in limits.items():
            target.apply(name, [e for e in events if e.position <= limit])
        position = events[-1].position
        seen += len(events)
        if progress:
            progress(seen, position)
    return seen


def position_at(store: EventStore, until: str) -> int:
    """The last log position at or before ``until``: a position as it is, or an ISO 8601 time (events recorded at
    or before it). ValueError when it is neither, or a position beyond the log."""
    last = store.last_position()
    if until.isdigit():
        position = int(until)
        if position > last:
            raise ValueError(f"position {position} is beyond the log, which ends at {last}")
        return position
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        raise ValueError(f"--until {until!r} is neither a log position nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    found, position = 0, 0
    while True:
        events = store.read_all(position, BATCH)
        for event in events:
            if event.recorded_at > moment:
                return found
            found = event.position
        if len(events) < BATCH:
            return found
        position = events[-1].position


def replay_and_compare(
    store: EventStore, live: ReadModelStore, target: ReadModelStore, progress: Progress | None = None
) -> ReplayReport:
    """Rebuilds every live read model in ``target`` up to the live checkpoint, then compares digests."""
    started = time.perf_counter()
    live_snapshots = {name: live.snapshot(name) for name in live.projections}
    seen = replay(store, target, {name: snap[0] for name, snap in live_snapshots.items()}, progress)
    comparisons = tuple(
        ReadModelComparison(name, position, digest, target.snapshot(name)[1])
        for name, (position, digest) in live_snapshots.items()
    )
    return ReplayReport(seen, time.perf_counter() - started, comparisons)
