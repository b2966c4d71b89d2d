"""Builds the event store a setting names: memory, sqlite (the embedded default), postgres, eventstoredb.

Each adapter is the shared RecorderEventStore plus its eventsourcing persistence module and a short
function that reads one stream with its positions; SQLite and PostgreSQL also read the log (decoded, and raw for
the evidence ledger) with their own SELECT (the recorders' select_notifications builds its statement and converts
every row on each call).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, InterfaceError, Notification, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic, retry
from psycopg import sql
from psycopg.rows import tuple_row

from eventstore.blobs import BlobStore
from eventstore.cipher import FieldCipher
from eventstore.port import RawEvent
from eventstore.recorder_store import RecorderEventStore, Row

KINDS = ("memory", "sqlite", "postgres", "eventstoredb")
LAST_POSITION = 2**63 - 1
"""The largest position SQLite and PostgreSQL can hold: ``until`` when the caller gives none."""


class UnknownEventStoreError(ValueError):
    """The setting names no event-store adapter."""


def open_event_store(
    kind: str,
    url: str = "",
    *,
    poll_interval: float = 0.05,
    cipher: FieldCipher | None = None,
    blobs: BlobStore | None = None,
) -> RecorderEventStore:
    """Opens (and creates where needed) the event store of the given kind at the given URL.

    With a field cipher, the fields events declare in ``encrypted_fields`` are stored encrypted; with a blob store,
    those they declare in ``blob_fields`` are stored apart, by content (the same way on every kind).
    """
    store = _open(kind, url, poll_interval, cipher)
    store.blobs = blobs
    return store


def _open(kind: str, url: str, poll_interval: float, cipher: FieldCipher | None) -> RecorderEventStore:
    if kind == "memory":
        return _memory(cipher)
    if kind == "sqlite":
        return _sqlite(url, poll_interval, cipher)
    if kind == "postgres":
        return _postgres(url, cipher)
    if kind == "eventstoredb":
        return _eventstoredb(url, cipher)
    msg = f"unknown event store {kind!r}; choose one of {', '.join(KINDS)}"
    raise UnknownEventStoreError(msg)


def _factory(env: dict[str, str]) -> Any:
    return InfrastructureFactory.construct(env)


def _memory(cipher: FieldCipher | None) -> RecorderEventStore:
    recorder = cast(Any, _factory({"PERSISTENCE_MODULE": "eventsourcing.popo"}).application_recorder())

    def read_stream(stream_id: UUID) -> Sequence[Notification]:
        with recorder._database_lock:
            index = recorder._stored_events_index[str(stream_id)]
            return [_notification(i + 1, recorder._stored_events[i]) for i in index.values()]

    return RecorderEventStore("memory", recorder, read_stream, push=True, cipher=cipher)


def sqlite_path(url: str) -> str:
    """``sqlite:///var/events.db`` or a plain path -> the file path (parents created)."""
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:") else url
    if not path:
        msg = "the sqlite event store needs a file path"
        raise UnknownEventStoreError(msg)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


def _sqlite(url: str, poll_interval: float, cipher: FieldCipher | None) -> RecorderEventStore:
    factory = _factory(
        {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": sqlite_path(url), "SQLITE_LOCK_TIMEOUT": "10"}
    )
    recorder = factory.application_recorder()
    statement = f"SELECT rowid, * FROM {recorder.events_table_name} WHERE originator_id=? ORDER BY originator_version"
    log_statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
        "WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
    )
    raw_log_statement = (  # CAST: a state rewritten as TEXT still reads as its bytes
        "SELECT rowid, originator_id, originator_version, topic, CAST(state AS BLOB) "
        f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
    )

    def read_stream(stream_id: UUID) -> Sequence[Notification]:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (stream_id.hex,))
            return [
                Notification(
                    id=row["rowid"],
                    originator_id=stream_id,
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in cursor.fetchall()
            ]

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
        push=False,
        poll_interval=poll_interval,
        on_close=factory.close,
        cipher=cipher,
        read_log=read_log,
        read_raw_log=read_raw_log,
    )


def postgres_env(url: str) -> dict[str, str]:
    """``postgresql://user:pass@host:port/db?schema=name`` -> eventsourcing's POSTGRES_* settings."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql") or not parsed.path.strip("/"):
        msg = f"not a PostgreSQL URL with a database name: {url!r}"
        raise UnknownEventStoreError(msg)
    query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
    return {
        "POSTGRES_DBNAME": parsed.path.strip("/"),
        "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parsed.port or 5432),
        "POSTGRES_USER": unquote(parsed.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_SCHEMA": query.get("schema", "public"),
        # seconds a command waits for a connection when the server is gone (eventsourcing's default is 30)
        "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", "30"),
    }


class OneTripPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder, appending in one round trip instead of several.

    A function in the store's schema takes the table lock (so positions commit in order: a reader of the log
    never passes a position that commits later), inserts, and notifies the channel eventsourcing's
    LISTEN/NOTIFY subscription listens on; it is called once, in autocommit, as a prepared statement.
    A clash on (stream, version) still raises eventsourcing's IntegrityError.
    """

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        function = f"{self.events_table_name}_append"
        self.check_identifier_length(function)
        names = {
            "schema": sql.Identifier(self.datastore.schema),
            "table": sql.Identifier(self.events_table_name),
            "function": sql.Identifier(function),
            "channel": sql.Identifier(self.channel_name),
            "id_type": sql.Identifier(self.datastore.originator_id_type),
            "lock_timeout": sql.Literal(f"{self.datastore.lock_timeout}s"),
        }
        self.create_append_function = sql.SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}"
            "(ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $$ BEGIN "
            "SET LOCAL lock_timeout = {lock_timeout}; "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
            "END $$"
        ).format(**names)
        self.append_statement = sql.SQL(
            "SELECT * FROM {schema}.{function}(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[])"
        ).format(**names)
        self.create_lock = sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
            sql.Literal(f"{self.datastore.schema}.{self.events_table_name}")
        )

    def _create_table(self, curs: Any) -> None:
        curs.execute(self.create_lock)  # two processes starting at once would clash on CREATE OR REPLACE
        super()._create_table(curs)
        curs.execute(self.create_append_function)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[Any], **_: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        with self.datastore.get_connection() as connection, connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(self.append_statement, columns, prepare=True)
            return [row[0] for row in cursor.fetchall()]


def _postgres(url: str, cipher: FieldCipher | None) -> RecorderEventStore:
    import psycopg

    env = postgres_env(url)
    with psycopg.connect(_libpq(env), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(env["POSTGRES_SCHEMA"])))
    recorder_class = {"APPLICATION_RECORDER_TOPIC": get_topic(OneTripPostgresRecorder)}
    factory = _factory({"PERSISTENCE_MODULE": "eventsourcing.postgres", **recorder_class, **env})
    recorder = factory.application_recorder()
    table = sql.Identifier(env["POSTGRES_SCHEMA"], recorder.events_table_name)
    statement = sql.SQL(
        "SELECT notification_id, originator_version, topic, state FROM {} "
        "WHERE originator_id = %s ORDER BY originator_version"
    ).format(table)
    log_statement = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
    ).format(table)
    raw_log_statement = sql.SQL(
        "SELECT notification_id, encode(uuid_send(originator_id), 'hex'), originator_version, topic, state FROM {} "
        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
    ).format(table)

    def read_stream(stream_id: UUID) -> Sequence[Notification]:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, (stream_id,))
            return [
                Notification(
                    id=row["notification_id"],
                    originator_id=stream_id,
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in cursor.fetchall()
            ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the recorder's own reads do
    def read_log(after: int, limit: int, until: int | None) -> Sequence[Row]:
        parameters = (after, LAST_POSITION if until is None else until, limit)
        with recorder.datastore.get_connection() as connection, connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(log_statement, parameters, prepare=True)
            return [(row[0], row[1], row[2], row[3], bytes(row[4])) for row in cursor.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def read_raw_log(after: int, limit: int, until: int | None) -> list[RawEvent]:
        parameters = (after, LAST_POSITION if until is None else until, limit)
        with recorder.datastore.get_connection() as connection, connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(raw_log_statement, parameters, prepare=True)
            rows: list[RawEvent] = cursor.fetchall()  # the stream id as 32 hex digits; bytea reads as bytes
            return rows

    return RecorderEventStore(
        "postgres",
        recorder,
        read_stream,
        push=True,
        on_close=factory.close,
        cipher=cipher,
        read_log=read_log,
        read_raw_log=read_raw_log,
    )


def _libpq(env: dict[str, str]) -> str:
    return (
        f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} dbname={env['POSTGRES_DBNAME']} "
        f"user={env['POSTGRES_USER']} password={env['POSTGRES_PASSWORD']}"
    )


def _eventstoredb(url: str, cipher: FieldCipher | None) -> RecorderEventStore:
    from eventsourcing_eventstoredb.recorders import EventStoreDBApplicationRecorder
    from kurrentdbclient.exceptions import NotFoundError

    class PerEventPositions(EventStoreDBApplicationRecorder):
        """Answers each appended event's own commit position (the module answers the append's for all of them)."""

        def insert_events(self, stored_events: Any, **kwargs: Any) -> Sequence[int]:
            super().insert_events(stored_events, **kwargs)
            first = stored_events[0]
            recorded = self.client.read_stream(
                str(first.originator_id), stream_position=first.originator_version, limit=len(stored_events)
            )
            return [_commit_position(r) for r in recorded]

    factory = _factory({"PERSISTENCE_MODULE": "eventsourcing_eventstoredb", "EVENTSTOREDB_URI": url})
    recorder = PerEventPositions(factory.client)

    def read_stream(stream_id: UUID) -> Sequence[Notification]:
        try:
            return [
                Notification(
                    id=_commit_position(recorded),
                    originator_id=stream_id,
                    originator_version=recorded.stream_position,
                    topic=recorded.type,
                    state=recorded.data,
                )
                for recorded in factory.client.read_stream(str(stream_id))
            ]
        except NotFoundError:
            return []

    return RecorderEventStore("eventstoredb", recorder, read_stream, push=True, cipher=cipher)


def _commit_position(recorded: Any) -> int:
    if recorded.commit_position is None:
        msg = f"EventStoreDB gave no commit position for {recorded.stream_name}@{recorded.stream_position}"
        raise ValueError(msg)
    return int(recorded.commit_position)


def _notification(position: int, stored: Any) -> Notification:
    return Notification(
        id=position,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )
