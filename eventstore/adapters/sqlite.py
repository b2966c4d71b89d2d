"""The SQLite adapter (the embedded default): eventsourcing's SQLite recorder, with its own SELECTs for one stream
and for the log (the recorder's select_notifications builds its statement and converts every row on each call)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import Notification

from eventstore.adapters.shared import LAST_POSITION, UnknownEventStoreError, factory_for, notification
from eventstore.cipher import FieldCipher
from eventstore.port import RawEvent
from eventstore.recorder_store import RecorderEventStore, Row


def sqlite_path(url: str) -> str:
    """``sqlite:///var/events.db`` or a plain path -> the file path (parents created)."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:") else url
    if not path:
        msg = "the sqlite event store needs a file path"
        raise UnknownEventStoreError(msg)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


def open_sqlite(url: str, poll_interval: float, cipher: FieldCipher | None) -> RecorderEventStore:
    factory = factory_for(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": sqlite_path(url), "SQLITE_LOCK_TIMEOUT": "10"}
    )
    recorder = factory.application_recorder()
    table = recorder.events_table_name
    statement = (
        f"SELECT rowid, originator_version, topic, state FROM {table} "
        "WHERE originator_id=? AND originator_version > ? ORDER BY originator_version"
    )
    log_statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
        "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
    )
    raw_log_statement = (  # CAST: a state rewritten as TEXT still reads as its bytes
        "SELECT rowid, originator_id, originator_version, topic, CAST(state AS BLOB) "
        f"FROM {table} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
    )

    def read_stream(stream_id: UUID, after_version: int | None) -> Sequence[Notification]:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (stream_id.hex, -1 if after_version is None else after_version))
            return [notification(stream_id, *row) for row in cursor.fetchall()]

    def read_log(after: int, limit: int, until: int | None) -> Sequence[Row]:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(log_statement, (after, LAST_POSITION if until is None else until, limit))
            return [(row[0], UUID(row[1]), row[2], row[3], row[4]) for row in cursor.fetchall()]

    def read_raw_log(after: int, limit: int, until: int | None) -> list[RawEvent]:
        # One SELECT in autocommit mode (a snapshot of its own), without eventsourcing's BEGIN/ROLLBACK around it and
        # with plain tuples instead of sqlite3.Row: either would cost the ledger's verification more than hashing.
        with recorder.datastore.get_connection(commit=False) as connection, connection.cursor() as cursor:
            cursor.row_factory = None
            cursor.execute(raw_log_statement, (after, LAST_POSITION if until is None else until, limit))
            rows: list[RawEvent] = cursor.fetchall()  # the stream id is stored as 32 hex digits already
            return rows

    return RecorderEventStore(
        "sqlite",
        recorder,
        read_stream,
        factory.aggregate_recorder("snapshots"),
        push=False,
        poll_interval=poll_interval,
        on_close=factory.close,
        cipher=cipher,
        read_log=read_log,
        read_raw_log=read_raw_log,
    )
