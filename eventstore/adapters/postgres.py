"""The PostgreSQL adapter: the one-trip recorder (postgres_recorder.py), with its own SELECTs for one stream and
for the log (decoded, and raw for the evidence ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote, urlparse
from uuid import UUID

from eventsourcing.persistence import InterfaceError, Notification, OperationalError
from eventsourcing.utils import get_topic, retry
from psycopg import sql
from psycopg.rows import tuple_row

from eventstore.adapters.postgres_recorder import OneTripPostgresRecorder
from eventstore.adapters.shared import LAST_POSITION, UnknownEventStoreError, factory_for, notification
from eventstore.cipher import FieldCipher
from eventstore.port import RawEvent
from eventstore.recorder_store import RecorderEventStore, Row


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
        # connections each process keeps open, and how many more it may open under load (eventsourcing's defaults)
        "POSTGRES_POOL_SIZE": _count(query, "pool_size", "5", least=1),
        "POSTGRES_MAX_OVERFLOW": _count(query, "max_overflow", "10", least=0),
    }


def _count(query: dict[str, str], name: str, default: str, least: int) -> str:
    value = query.get(name, default)
    if not value.isdigit() or int(value) < least:
        msg = f"the PostgreSQL event-store URL's {name} must be a whole number of at least {least}, not {value!r}"
        raise UnknownEventStoreError(msg)
    return value


def open_postgres(url: str, cipher: FieldCipher | None) -> RecorderEventStore:
    import psycopg

    env = postgres_env(url)
    with psycopg.connect(_libpq(env), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(env["POSTGRES_SCHEMA"])))
    recorder_class = {"APPLICATION_RECORDER_TOPIC": get_topic(OneTripPostgresRecorder)}
    factory = factory_for({"PERSISTENCE_MODULE": "eventsourcing.postgres", **recorder_class, **env})
    recorder = factory.application_recorder()
    table = sql.Identifier(env["POSTGRES_SCHEMA"], recorder.events_table_name)
    statement = sql.SQL(
        "SELECT notification_id, originator_version, topic, state FROM {} "
        "WHERE originator_id = %s AND originator_version > %s ORDER BY originator_version"
    ).format(table)
    log_statement = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
    ).format(table)
    raw_log_statement = sql.SQL(
        "SELECT notification_id, encode(uuid_send(originator_id), 'hex'), originator_version, topic, state FROM {} "
        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
    ).format(table)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the recorder's own reads do
    def read_stream(stream_id: UUID, after_version: int | None) -> Sequence[Notification]:
        parameters = (stream_id, -1 if after_version is None else after_version)
        with recorder.datastore.get_connection() as connection, connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(statement, parameters, prepare=True)
            return [notification(stream_id, row[0], row[1], row[2], bytes(row[3])) for row in cursor.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
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
        factory.aggregate_recorder("snapshots"),
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
