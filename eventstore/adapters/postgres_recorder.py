"""eventsourcing's PostgreSQL recorder, appending each batch in one round trip through a PL/pgSQL function."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import sql
from psycopg.rows import tuple_row


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
