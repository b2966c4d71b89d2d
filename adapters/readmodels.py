"""The SQL read-model store: applies row changes and the checkpoint in one transaction.

SQLite by default, PostgreSQL supported (any SQLAlchemy URL). A batch of events is applied under a lock
on the projection's checkpoint row, skipping what the checkpoint has already seen, so two workers
(or a worker and a NATS consumer) feeding the same read model never apply an event twice; a feeder holding a
lease (``adapters/readmodel_leases.py``) writes only while it still holds it, checked in the same transaction.
Changes are folded and executed in batches (``adapters/readmodel_batch.py``). An event a read model cannot
apply is parked (``adapters/parking.py``) instead of stopping it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Executable,
    String,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from adapters.keys.rowseal import RowSealer
from adapters.parking import (
    DISCARDED,
    RESOLVED,
    NotParkedError,
    ParkedEvent,
    StillFailingError,
    close,
    describe,
    mark_reported,
    park,
    parked_events,
    poisonous,
    unreported,
)
from adapters.readmodel_batch import Batch, Shape
from adapters.readmodel_leases import LeaseLostError, holds
from adapters.readmodel_sealing import open_row, seal_change, unsealed
from adapters.sql_schema import create_tables
from projections.base import EventView, Projection, metadata

log = logging.getLogger(__name__)
T = TypeVar("T")

checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


class _WithoutRows(logging.Filter):
    """SQL logging may show statements, never the rows read: read models hold personal data."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Row ")


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_WithoutRows())


def sqlite_url(path: str | Path) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            connection.isolation_level = None  # let SQLAlchemy's BEGIN below delimit real transactions
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Freed pages are zeroed: a row rebuilt, updated or deleted leaves no old bytes in the file's free pages.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN")

        return engine
    return create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), pool_pre_ping=True, hide_parameters=True
    )


class ReadModelStore:
    """Read-model tables and their checkpoints in one SQL database."""

    def __init__(self, url: str, projections: Sequence[Projection], sealer: RowSealer | None = None) -> None:
        self.url = url
        self.sealer = sealer
        """Seals the personal values of sealed columns (``projections.base.sealed_column``) with their tenant's data
        key; a store without one refuses to write or read them."""
        self.engine = _engine(url)
        self.projections = {p.name: p for p in projections}
        self._statements: dict[Shape, Executable] = {}
        self.on_parked: Callable[[ParkedEvent], None] | None = None
        """Reports a newly parked event (as a dead letter); the composition root sets it."""
        stale = self._drop_unsealed()
        create_tables(self.engine, metadata)
        for name in stale:
            self.reset(name)

    def _drop_unsealed(self) -> list[str]:
        """Drops each read model made before its personal columns were sealed (they may hold them in clear), so it
        is rebuilt from the log, sealed; its freed pages are zeroed on SQLite, its files removed on PostgreSQL."""
        stale = []
        for name, projection in self.projections.items():
            why = unsealed(self.engine, projection.tables)
            if why is None:
                continue
            log.warning("read model %s predates sealed personal fields (%s): rebuilding it from the log", name, why)
            with self.engine.begin() as connection:
                for table in projection.tables:
                    table.drop(connection, checkfirst=True)
            stale.append(name)
        return stale

    def checkpoint(self, name: str) -> int:
        with self.engine.connect() as connection:
            found = connection.execute(select(checkpoints.c.position).where(checkpoints.c.name == name)).scalar()
        return int(found or 0)

    def low_water_mark(self) -> int:
        """The smallest checkpoint over all projections: where a shared reader must resume."""
        return min((self.checkpoint(name) for name in self.projections), default=0)

    def apply(
        self,
        name: str,
        events: Sequence[EventView],
        attempts: int = 5,
        *,
        holder: str | None = None,
        through: int | None = None,
    ) -> int:
        """Applies what the projection has not yet seen; returns the new checkpoint.

        With ``holder``, only while that feeder holds the read model's lease (checked in the same transaction;
        LeaseLostError, with nothing written, when it does not). ``through``: the checkpoint moves at least that far
        (the batch read up to there, and the events it left out are none of this read model's).
        When the batch fails because of an event (not of the database), its events are applied one at a time and
        each one that fails is parked (``adapters/parking.py``): the read model moves on past it.
        """
        fed = _Fed(self.projections[name], holder, through)
        try:
            return self._transaction(functools.partial(self._apply, fed=fed, events=events), attempts)
        except LeaseLostError:
            raise
        except Exception as error:
            if not poisonous(error):
                raise
        return self._apply_one_by_one(fed, events, attempts)

    def _apply_one_by_one(self, fed: _Fed, events: Sequence[EventView], attempts: int) -> int:
        current, parked_some = self.checkpoint(fed.projection.name), False
        alone = replace(fed, through=None)
        for recorded in events:
            try:
                current = self._transaction(functools.partial(self._apply, fed=alone, events=[recorded]), attempts)
            except LeaseLostError:
                raise
            except Exception as error:
                if not poisonous(error):
                    raise
                log.error("%s parks the event at %d: %s", fed.projection.name, recorded.position, describe(error))
                work = functools.partial(self._park, fed=alone, recorded=recorded, error=error)
                current, parked_some = self._transaction(work, attempts), True
        if fed.through is not None and fed.through > current:
            current = self._transaction(functools.partial(self._apply, fed=fed, events=[]), attempts)
        if parked_some:
            self.report_parked()
        return current

    def _transaction(self, work: Callable[[Connection], T], attempts: int) -> T:
        for attempt in range(attempts):
            try:
                with self.engine.begin() as connection:
                    return work(connection)
            except OperationalError:  # SQLite busy or a PostgreSQL serialization conflict: retry
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _apply(self, connection: Connection, fed: _Fed, events: Sequence[EventView]) -> int:
        current = _lock_checkpoint(connection, fed.projection.name, fed.holder)
        fresh = [e for e in events if e.position > current]
        batch = Batch(connection, self._statements)
        for recorded in fresh:
            for change in fed.projection.evolve(recorded):
                batch.add(seal_change(self.sealer, change, recorded.tenant_id))
        batch.flush_all()
        moved = max(fresh[-1].position if fresh else current, fed.through or current)
        if moved > current:
            current = moved
            connection.execute(_SET_CHECKPOINT, {"checkpoint": fed.projection.name, "new_position": current})
        return current

    def _park(self, connection: Connection, fed: _Fed, recorded: EventView, error: Exception) -> int:
        """Parks the event and moves the checkpoint past it, unless a racing feeder got there first."""
        name = fed.projection.name
        current = _lock_checkpoint(connection, name, fed.holder)
        if recorded.position <= current:
            return current
        park(connection, name, recorded, error, datetime.now(UTC).isoformat())
        connection.execute(_SET_CHECKPOINT, {"checkpoint": name, "new_position": recorded.position})
        return recorded.position

    def report_parked(self) -> None:
        """Hands each parked event not yet reported to ``on_parked``; a row remembers that it was (the report itself
        must be idempotent: a crash between the two reports it again)."""
        if self.on_parked is None:
            return
        for found in unreported(self.engine):
            try:
                self.on_parked(found)
            except Exception:  # the event store may be away: the next park, or the next start, reports it
                log.warning("could not report the parked event %s@%d", found.read_model, found.position, exc_info=True)
                return
            mark_reported(self.engine, found)

    def reapply(self, name: str, position: int, events: Sequence[EventView]) -> None:
        """Applies a parked event again (``events`` starts with it), then the later events of its stream the read
        model applied without it (their rows missed what it does), and resolves it; StillFailingError, with nothing
        changed, when it still fails."""
        projection = self.projections[name]
        try:
            self._transaction(functools.partial(self._reapply, projection=projection, events=events), 5)
        except Exception as error:
            if not poisonous(error):
                raise
            msg = f"read model {name} still cannot apply the event at {position}: {describe(error)}"
            raise StillFailingError(msg) from None

    def _reapply(self, connection: Connection, projection: Projection, events: Sequence[EventView]) -> None:
        current = _lock_checkpoint(connection, projection.name)
        if not close(connection, projection.name, events[0].position, RESOLVED):
            raise NotParkedError(f"read model {projection.name} has no parked event at {events[0].position}")
        batch = Batch(connection, self._statements)
        for recorded in (e for e in events if e.position <= current):
            for change in projection.evolve(recorded):
                batch.add(seal_change(self.sealer, change, recorded.tenant_id))
            close(connection, projection.name, recorded.position, RESOLVED)
        batch.flush_all()

    def discard_parked(self, name: str, position: int) -> None:
        """Leaves a parked event unapplied for good (an operator's decision): it no longer counts as parked."""
        with self.engine.begin() as connection:
            close(connection, name, position, DISCARDED)

    def opened(self, table: Table, row: Any) -> dict[str, Any]:
        """A row read from ``table`` with its sealed columns opened (``[erased]`` once their data key is destroyed)."""
        return open_row(self.sealer, table, row)

    def reset(self, name: str) -> None:
        """Empties a read model and its checkpoint, ready to be rebuilt from the log."""
        with self.engine.begin() as connection:
            for table in self.projections[name].tables:
                connection.execute(delete(table))
            connection.execute(delete(checkpoints).where(checkpoints.c.name == name))
            connection.execute(delete(parked_events).where(parked_events.c.read_model == name))

    def wait_for(self, position: int, names: Sequence[str], timeout: float) -> bool:
        """Waits until every named read model has seen ``position``; False on time-out."""
        deadline = time.monotonic() + timeout
        while True:
            if all(self.checkpoint(name) >= position for name in names):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def snapshot(self, name: str) -> tuple[int, str]:
        """The checkpoint and a SHA-256 of the rows in key order, read in one transaction."""
        sha = hashlib.sha256()
        with self.engine.begin() as connection:
            position = connection.execute(select(checkpoints.c.position).where(checkpoints.c.name == name)).scalar()
            for table in self.projections[name].tables:
                sha.update(table.name.encode())
                for row in connection.execute(select(table).order_by(*table.primary_key.columns)):
                    sha.update(json.dumps(dict(row._mapping), sort_keys=True, default=str).encode())
        return int(position or 0), sha.hexdigest()

    def close(self) -> None:
        self.engine.dispose()


_NEW_CHECKPOINT = {
    "postgresql": postgresql.insert(checkpoints).values(position=0).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(checkpoints).values(position=0).on_conflict_do_nothing(),
}
_LOCK_CHECKPOINT = select(checkpoints.c.position).where(checkpoints.c.name == bindparam("checkpoint")).with_for_update()
_SET_CHECKPOINT = (
    update(checkpoints).where(checkpoints.c.name == bindparam("checkpoint")).values(position=bindparam("new_position"))
)


def _lock_checkpoint(connection: Connection, name: str, holder: str | None = None) -> int:
    """Locks the read model's checkpoint row and reads it; with ``holder``, LeaseLostError unless that feeder holds
    the read model's lease."""
    dialect = "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
    connection.execute(_NEW_CHECKPOINT[dialect], {"name": name})
    position = int(connection.execute(_LOCK_CHECKPOINT, {"checkpoint": name}).scalar_one())
    if holder is not None and not holds(connection, name, holder):
        raise LeaseLostError(f"{holder} no longer holds the lease of read model {name}")
    return position


@dataclass(frozen=True)
class _Fed:
    """One feed of a read model: the projection, the feeder whose lease fences it (None: unfenced), and how far
    the batch read (None: its last event)."""

    projection: Projection
    holder: str | None = None
    through: int | None = None
