"""The SQL read-model store: applies row changes and the checkpoint in one transaction.

SQLite by default, PostgreSQL supported (any SQLAlchemy URL). A batch of events is applied under a lock
on the projection's checkpoint row, skipping what the checkpoint has already seen, so two workers
(or a worker and a NATS consumer) feeding the same read model never apply an event twice.

Within a batch the changes to one row (named by its primary key) are folded into one (see ``fold``), and
the folded changes of a table are executed one cached statement per shape with executemany, in the order
each row first appeared: the rows come out as applying the changes one by one would leave them.
Folding assumes what our read models do: a unique column other than the key (a slug, a prefix) is set
when its row is created and never handed from one row to another within a batch.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
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
from sqlalchemy.sql import ClauseElement

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
        self._statements: dict[Shape, Executable] = {}
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
        batch = _Batch(connection, self._statements)
        for recorded in fresh:
            for change in projection.evolve(recorded):
                batch.add(change)
        batch.flush_all()
        if fresh:
            current = fresh[-1].position
            connection.execute(_SET_CHECKPOINT, {"checkpoint": projection.name, "new_position": current})
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


_NEW_CHECKPOINT = {
    "postgresql": postgresql.insert(checkpoints).values(position=0).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(checkpoints).values(position=0).on_conflict_do_nothing(),
}
_LOCK_CHECKPOINT = select(checkpoints.c.position).where(checkpoints.c.name == bindparam("checkpoint")).with_for_update()
_SET_CHECKPOINT = (
    update(checkpoints).where(checkpoints.c.name == bindparam("checkpoint")).values(position=bindparam("new_position"))
)


def _lock_checkpoint(connection: Connection, name: str) -> int:
    dialect = "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
    connection.execute(_NEW_CHECKPOINT[dialect], {"name": name})
    return int(connection.execute(_LOCK_CHECKPOINT, {"checkpoint": name}).scalar_one())


Shape = tuple[str, Table, type, tuple[str, ...], tuple[str, ...]]
"""(dialect, table, change kind, key columns, value columns): what one cached statement executes."""


def fold(before: Change, after: Change) -> Change | None:
    """One change to a row doing what ``before`` then ``after`` do, or None when no single change does."""
    match before, after:
        case _, Delete():
            return after
        case Delete(), Update():
            return before  # no row left to update
        case Upsert(), Upsert() | Update():
            return Upsert(before.table, before.key, {**before.values, **after.values})
        case Update(), Update():
            return Update(before.table, before.key, {**before.values, **after.values})
    return None  # Update or Delete, then Upsert: the row's earlier change must run first


@functools.cache
def _primary_key(table: Table) -> tuple[tuple[str, ...], frozenset[str]]:
    """The table's primary-key columns, in order and as a set."""
    names = tuple(column.name for column in table.primary_key.columns)
    return names, frozenset(names)


def _foldable(change: Change) -> bool:
    """Keyed by the whole primary key, with plain values (not SQL expressions such as ``times + 1``)."""
    if change.key.keys() != _primary_key(change.table)[1]:
        return False
    return isinstance(change, Delete) or not any(isinstance(value, ClauseElement) for value in change.values.values())


class _Batch:
    """The row changes of one transaction: folded per row, executed per table in order of first appearance.

    A change that cannot be folded (not keyed by the primary key, or with SQL expressions) first flushes its
    table's pending changes and then runs on its own, so each table sees its changes in log order.
    """

    def __init__(self, connection: Connection, statements: dict[Shape, Executable]) -> None:
        self.connection = connection
        self.statements = statements
        self.pending: dict[Table, dict[tuple[Any, ...], Change]] = {}

    def add(self, change: Change) -> None:
        table = change.table
        if not _foldable(change):
            self.flush(table)
            _execute(self.connection, change)
            return
        rows = self.pending.setdefault(table, {})
        row = tuple([change.key[column] for column in _primary_key(table)[0]])
        before = rows.get(row)
        folded = change if before is None else fold(before, change)
        if folded is None:
            self.flush(table)
            self.pending[table] = {row: change}
        else:
            rows[row] = folded

    def flush_all(self) -> None:
        for table in list(self.pending):
            self.flush(table)

    def flush(self, table: Table) -> None:
        """Executes the table's pending changes, one executemany per run of changes of the same shape."""
        for shape, changes in itertools.groupby(self.pending.pop(table, {}).values(), key=self._shape):
            self.connection.execute(self._statement(shape), [_parameters(change) for change in changes])

    def _shape(self, change: Change) -> Shape:
        values = () if isinstance(change, Delete) else tuple(sorted(change.values))
        return (self.connection.dialect.name, change.table, type(change), _primary_key(change.table)[0], values)

    def _statement(self, shape: Shape) -> Executable:
        found = self.statements.get(shape)
        if found is None:
            found = self.statements[shape] = _statement(shape)
        return found


def _statement(shape: Shape) -> Executable:
    dialect, table, kind, key, values = shape
    where = [table.c[column] == bindparam(f"key_{column}") for column in key]
    if kind is Upsert:
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        if not values:
            return insert.on_conflict_do_nothing()
        return insert.on_conflict_do_update(index_elements=list(key), set_={c: insert.excluded[c] for c in values})
    if kind is Update:
        return update(table).where(*where).values({column: bindparam(f"set_{column}") for column in values})
    return delete(table).where(*where)


def _parameters(change: Change) -> dict[str, Any]:
    if isinstance(change, Upsert):
        return {**change.key, **change.values}
    parameters = {f"key_{column}": value for column, value in change.key.items()}
    if isinstance(change, Update):
        parameters.update({f"set_{column}": value for column, value in change.values.items()})
    return parameters


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
