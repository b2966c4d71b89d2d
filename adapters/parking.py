"""Parked events: an event a read model could not apply, set aside so the read model keeps going.

A read model that fails on an event (its data breaks a column, a constraint or the projection's code) must not stop
every later event behind it, for every tenant. ``ReadModelStore.apply`` then parks the event: a row here, written
in the same transaction that moves the read model's checkpoint past it, so an event is parked once even when
several feeders race or a process restarts. What is parked is reported once as a dead letter (source
``projection``) through ``ReadModelStore.on_parked`` (the ``reported`` column is its outbox), and stays open until
a retry applies it or an operator discards it. Readiness, metrics and authentication read this table, never the
dead-letter read model, so they hold even when the dead-letter read model is the one that fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Select,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from domain.errors import ConflictError
from projections.base import EventView, metadata

PARKED, RESOLVED, DISCARDED = "parked", "resolved", "discarded"
MAX_ERROR = 2000

parked_events = Table(
    "parked_events",
    metadata,
    Column("read_model", String(100), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("event_id", String(36)),
    Column("event_type", String(200), nullable=False),
    Column("stream_id", String(36)),
    Column("tenant_id", String(36)),
    Column("error", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reported", Boolean, nullable=False),
    Column("parked_at", String(40), nullable=False),
)


class StillFailingError(ConflictError):
    """The parked event still cannot be applied: fix the cause first (nothing was changed)."""


class NotParkedError(ConflictError):
    """The read model has no parked event there (it was resolved or discarded already)."""


@dataclass(frozen=True)
class ParkedEvent:
    """One event one read model has set aside, and why."""

    read_model: str
    position: int
    event_id: str | None
    event_type: str
    stream_id: str | None
    tenant_id: str | None
    error: str
    status: str

    @property
    def key(self) -> tuple[str, int]:
        return self.read_model, self.position

    @property
    def scopes(self) -> frozenset[str]:
        """What cannot be trusted while the event is parked: what it is about, its stream (a principal, an API key,
        a tenant). Its tenant's other principals and keys are not in doubt: their own events were applied."""
        return frozenset({self.stream_id} if self.stream_id else ())


def poisonous(error: Exception) -> bool:
    """True when the event itself cannot be applied (its data or the projection's code), False when the database
    is away, busy or misconfigured: that passes, or needs an operator, and parking would lose events meanwhile."""
    if isinstance(error, DBAPIError):
        return isinstance(error, DataError | IntegrityError) and not error.connection_invalidated
    if isinstance(error, StatementError):  # a value the driver could not even send (not a database error)
        return True
    return not isinstance(error, SQLAlchemyError)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def describe(error: BaseException) -> str:
    """The error as one storable line: its type and message, without control characters, bounded."""
    text = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return _CONTROL.sub("?", text)[:MAX_ERROR]


def park(connection: Connection, read_model: str, recorded: EventView, error: BaseException, at: str) -> None:
    """Parks the event for the read model (inside the transaction that moves its checkpoint past it)."""
    event = recorded.event
    stream = getattr(event, "originator_id", None)
    connection.execute(
        parked_events.insert().values(
            read_model=read_model,
            position=recorded.position,
            event_id=getattr(recorded, "event_id", None),
            event_type=type(event).__qualname__[:200],
            stream_id=str(stream) if stream is not None else None,
            tenant_id=recorded.tenant_id,
            error=describe(error),
            status=PARKED,
            reported=False,
            parked_at=at,
        )
    )


def _event(row: Any) -> ParkedEvent:
    return ParkedEvent(
        row.read_model, row.position, row.event_id, row.event_type, row.stream_id, row.tenant_id, row.error, row.status
    )


def _where(query: Select[Any], read_model: str | None, status: str | None) -> Select[Any]:
    if read_model is not None:
        query = query.where(parked_events.c.read_model == read_model)
    if status is not None:
        query = query.where(parked_events.c.status == status)
    return query.order_by(parked_events.c.read_model, parked_events.c.position)


def parked(engine: Engine, read_model: str | None = None, status: str | None = PARKED) -> list[ParkedEvent]:
    """Parked events (by default the open ones), by read model and position."""
    with engine.connect() as connection:
        return [_event(row) for row in connection.execute(_where(select(parked_events), read_model, status))]


def counts(engine: Engine) -> dict[tuple[str, str], int]:
    """Parked events by read model and status (parked, resolved, discarded)."""
    query = select(parked_events.c.read_model, parked_events.c.status, func.count()).group_by(
        parked_events.c.read_model, parked_events.c.status
    )
    with engine.connect() as connection:
        return {(str(name), str(status)): int(n) for name, status, n in connection.execute(query).all()}


def unreported(engine: Engine) -> list[ParkedEvent]:
    """Parked events not yet reported as dead letters."""
    query = _where(select(parked_events), None, None).where(parked_events.c.reported.is_(False))
    with engine.connect() as connection:
        return [_event(row) for row in connection.execute(query)]


def status_of(engine: Engine, read_model: str, position: int) -> str | None:
    """parked, resolved or discarded; None when the read model never parked an event there."""
    query = select(parked_events.c.status).where(
        parked_events.c.read_model == read_model, parked_events.c.position == position
    )
    with engine.connect() as connection:
        found = connection.execute(query).scalar()
    return str(found) if found is not None else None


def mark_reported(engine: Engine, found: ParkedEvent) -> None:
    with engine.begin() as connection:
        connection.execute(_update(found.read_model, found.position).values(reported=True))


def close(connection: Connection, read_model: str, position: int, status: str) -> int:
    """Marks a parked event resolved or discarded; returns how many rows were still parked (0 or 1)."""
    statement = _update(read_model, position).where(parked_events.c.status == PARKED).values(status=status)
    return int(connection.execute(statement).rowcount)


def _update(read_model: str, position: int) -> Any:
    return update(parked_events).where(parked_events.c.read_model == read_model, parked_events.c.position == position)
