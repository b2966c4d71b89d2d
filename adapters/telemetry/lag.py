"""How far the read side is behind the event log, and how many dead letters wait, read cheaply.

Lag in events is the log's end position minus a read model's checkpoint: positions may have gaps, so it is an
upper bound of the events still to apply. Lag in seconds is now minus the recorded-at of the oldest event the
read model has not applied (0 when it has applied everything): one one-event read per distinct checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from adapters.readmodels import ReadModelStore, checkpoints
from eventstore.port import EventStore
from projections.deadletters import dead_letters


@dataclass(frozen=True)
class ProjectionLag:
    """One read model's distance from the end of the log."""

    projection: str
    checkpoint: int
    events: int
    seconds: float


@dataclass(frozen=True)
class ReadSide:
    """The log's end position and every read model's lag, read at one moment."""

    log_end: int
    lags: tuple[ProjectionLag, ...]

    @property
    def max_events(self) -> int:
        return max((lag.events for lag in self.lags), default=0)

    @property
    def max_seconds(self) -> float:
        return max((lag.seconds for lag in self.lags), default=0.0)


def all_checkpoints(engine: Engine) -> dict[str, int]:
    """Every read model's checkpoint, in one query."""
    with engine.connect() as connection:
        rows = connection.execute(select(checkpoints.c.name, checkpoints.c.position)).all()
    return {str(name): int(position) for name, position in rows}


def age_after(store: EventStore, position: int, now: datetime) -> float:
    """Seconds since the first event after ``position`` was recorded (0 when there is none)."""
    first = store.read_all(position, 1)
    return max((now - first[0].recorded_at).total_seconds(), 0.0) if first else 0.0


def read_side(store: EventStore, read_models: ReadModelStore, now: datetime) -> ReadSide:
    """The lag of every read model the store keeps (a read model with no checkpoint yet is at 0)."""
    end = store.last_position()
    found = all_checkpoints(read_models.engine)
    ages: dict[int, float] = {}
    lags = []
    for name in read_models.projections:
        checkpoint = found.get(name, 0)
        if checkpoint < end and checkpoint not in ages:
            ages[checkpoint] = age_after(store, checkpoint, now)
        lags.append(ProjectionLag(name, checkpoint, max(end - checkpoint, 0), ages.get(checkpoint, 0.0)))
    return ReadSide(end, tuple(lags))


def dead_letter_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Dead letters by source (pipeline, webhook, consumer, action, projection) and status (open, retrying, ...)."""
    query = select(dead_letters.c.source, dead_letters.c.status, func.count()).group_by(
        dead_letters.c.source, dead_letters.c.status
    )
    with engine.connect() as connection:
        return {(str(source), str(status)): int(count) for source, status, count in connection.execute(query).all()}
