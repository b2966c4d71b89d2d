"""Baselines: the raw drivers doing the least the event store must do, at the same durability setting."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from bench.events import Row
from bench.harness import SkipFigure

_decode = msgspec.json.Decoder().decode
"""Untyped JSON decoding of the state bytes: the least any projection must do with an event."""

SQLITE_EVENTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS raw_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
    "state BLOB, PRIMARY KEY (originator_id, originator_version))"
)
"""The same table eventsourcing's SQLite application recorder creates (a rowid table)."""

POSTGRES_EVENTS_TABLE = (
    "CREATE TABLE IF NOT EXISTS {table} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
    "topic text, state bytea, notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
)
POSTGRES_POSITION_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} (notification_id)"


class RawSqlite:
    """sqlite3 with the event store's journal mode and synchronous level: BEGIN, INSERT, COMMIT per event."""

    def __init__(self, path: Path, journal_mode: str, synchronous: int) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.connection.execute(f"PRAGMA journal_mode={journal_mode}")
        self.connection.execute(f"PRAGMA synchronous={int(synchronous)}")
        self.connection.execute(SQLITE_EVENTS_TABLE)

    def durability(self) -> tuple[str, int]:
        return sqlite_durability(self.connection.cursor())

    def insert(self, row: tuple[str, int, str, bytes]) -> int | None:
        self.connection.execute("BEGIN")
        cursor = self.connection.execute("INSERT INTO raw_events VALUES (?,?,?,?)", row)
        self.connection.commit()
        return cursor.lastrowid

    def close(self) -> None:
        self.connection.close()


def sqlite_rows(rows: Sequence[Row]) -> list[tuple[str, int, str, bytes]]:
    """Rows as the SQLite recorder binds them: the stream id as 32 hex digits."""
    return [(r[0].hex if isinstance(r[0], uuid.UUID) else r[0], r[1], r[2], r[3]) for r in rows]


def sqlite_durability(cursor: Any) -> tuple[str, int]:
    """(journal_mode, synchronous) as this cursor's connection sees them (sqlite3's or eventsourcing's cursor)."""
    cursor.execute("PRAGMA journal_mode")
    journal_mode = cursor.fetchone()[0]
    cursor.execute("PRAGMA synchronous")
    synchronous = cursor.fetchone()[0]
    return str(journal_mode).lower(), int(synchronous)


class RawPostgres:
    """psycopg 3: INSERT ... RETURNING the bigserial position, then COMMIT, per event."""

    def __init__(self, url: str, schema: str) -> None:
        self.connection = psycopg.connect(url)
        table = sql.Identifier(schema, "raw_events")
        self.connection.execute(sql.SQL(POSTGRES_EVENTS_TABLE).format(table=table))
        index = sql.Identifier("raw_events_position")
        self.connection.execute(sql.SQL(POSTGRES_POSITION_INDEX).format(index=index, table=table))
        self.connection.commit()
        self.statement = sql.SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s) "
            "RETURNING notification_id"
        ).format(table)

    def synchronous_commit(self) -> str:
        return str(self.connection.execute("SHOW synchronous_commit").fetchone()[0])  # type: ignore[index]

    def insert(self, row: Row) -> int:
        found = self.connection.execute(self.statement, row, prepare=True).fetchone()
        self.connection.commit()
        assert found is not None
        return int(found[0])

    def close(self) -> None:
        self.connection.close()


def scan_sqlite(connection: sqlite3.Connection, table: str, batch: int) -> Callable[[], int]:
    """An ordered scan of an event table by rowid in batches, decoding each state; returns the event count."""
    statement = f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    statement += "WHERE rowid > ? ORDER BY rowid LIMIT ?"
    return lambda: _scan(lambda after: connection.execute(statement, (after, batch)).fetchall())


def scan_postgres(connection: psycopg.Connection[Any], schema: str, table: str, batch: int) -> Callable[[], int]:
    """An ordered scan of an event table by notification_id in batches, decoding each state."""
    statement = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
        "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
    ).format(sql.Identifier(schema, table))
    return lambda: _scan(lambda after: connection.execute(statement, (after, batch), prepare=True).fetchall())


def _scan(fetch: Callable[[int], list[Any]]) -> int:
    position = seen = 0
    while rows := fetch(position):
        for row in rows:
            _decode(row[4])
        position = rows[-1][0]
        seen += len(rows)
    return seen


def libpq_url(url: str) -> str:
    return url.split("?", 1)[0]


@contextmanager
def postgres_schema(url: str, name: str) -> Iterator[str]:
    """A schema that exists for the duration of the block and is dropped (with everything in it) after."""
    try:
        admin = psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        msg = f"PostgreSQL at {libpq_url(url)} is unreachable: {error}"
        raise SkipFigure(msg) from error
    try:
        yield name
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        admin.close()


@contextmanager
def connect_postgres(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        yield connection


def recreate_schema(url: str, name: str) -> None:
    """Drops and creates a schema, leaving it empty."""
    with psycopg.connect(libpq_url(url), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
