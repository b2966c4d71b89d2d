"""The SQL read-model store: applies row changes and the checkpoint in one transaction.

SQLite by default, PostgreSQL supported (any SQLAlchemy URL). A batch of events is applied under a lock
on the projection's checkpoint row, skipping what the checkpoint has already seen, so two workers
(or a worker and a NATS consumer) feeding the same read model never apply an event twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    String,
    Table,
    create_engine,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from projections.base import Change, Delete, EventView, Projection, Update, Upsert, metadata

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

    def __init__(self, url: str, projections: Sequence[Projection]) -> None:
        self.url = url
        self.engine = _engine(url)
        self.projections = {p.name: p for p in projections}
        metadata.create_all(self.engine)

    def checkpoint(self, name: str) -> int:
        with self.engine.connect() as connection:
            found = connection.execute(select(checkpoints.c.position).where(checkpoints.c.name == name)).scalar()
        return int(found or 0)

    def low_water_mark(self) -> int:
        """The smallest checkpoint over all projections: where a shared reader must resume."""
        return min((self.checkpoint(name) for name in self.projections), default=0)

    def apply(self, name: str, events: Sequence[EventView], attempts: int = 5) -> int:
        """Applies what the projection has not yet seen; returns the new checkpoint."""
        for attempt in range(attempts):
            try:
                with self.engine.begin() as connection:
                    return self._apply(connection, self.projections[name], events)
            except OperationalError:  # SQLite busy or a PostgreSQL serialization conflict: retry
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _apply(self, connection: Connection, projection: Projection, events: Sequence[EventView]) -> int:
        current = _lock_checkpoint(connection, projection.name)
        fresh = [e for e in events if e.position > current]
        for recorded in fresh:
            for change in projection.evolve(recorded):
                _execute(connection, change)
        if fresh:
            current = fresh[-1].position
            connection.execute(
                update(checkpoints).where(checkpoints.c.name == projection.name).values(position=current)
            )
        return current

    def reset(self, name: str) -> None:
        """Empties a read model and its checkpoint, ready to be rebuilt from the log."""
        with self.engine.begin() as connection:
            for table in self.projections[name].tables:
                connection.execute(delete(table))
            connection.execute(delete(checkpoints).where(checkpoints.c.name == name))

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


def _lock_checkpoint(connection: Connection, name: str) -> int:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(insert(checkpoints).values(name=name, position=0).on_conflict_do_nothing())
    found = connection.execute(
        select(checkpoints.c.position).where(checkpoints.c.name == name).with_for_update()
    ).scalar_one()
    return int(found)


def _execute(connection: Connection, change: Change) -> None:
    table = change.table
    where = [table.c[column] == value for column, value in change.key.items()]
    match change:
        case Upsert():
            insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
            statement = insert(table).values({**change.key, **change.values})
            if change.values:
                statement = statement.on_conflict_do_update(index_elements=list(change.key), set_=dict(change.values))
            else:
                statement = statement.on_conflict_do_nothing()
            connection.execute(statement)
        case Update():
            connection.execute(update(table).where(*where).values(dict(change.values)))
        case Delete():
            connection.execute(delete(table).where(*where))
