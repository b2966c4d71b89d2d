"""Process managers' checkpoints in the read-model database: one row per process manager (its position and the
JSON state of its unfinished work) and the facts about finished work they keep, saved together in one transaction.

The tables are not read models: replay neither rebuilds nor compares them, and they hold no personal data (ids,
positions, dataset manifests and error texts of the platform's own steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import JSON, BigInteger, Column, Engine, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql_schema import create_tables
from application.checkpoints import Checkpoint, Fact

_metadata = MetaData()
process_checkpoints = Table(
    "process_checkpoints",
    _metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("state", JSON, nullable=False),
)
process_facts = Table(
    "process_facts",
    _metadata,
    Column("name", String(100), primary_key=True),
    Column("key", String(800), primary_key=True),
    Column("item", String(100), primary_key=True),
    Column("ordinal", BigInteger, nullable=False),
    Column("value", JSON, nullable=False),
)


class SqlCheckpoints:
    """The ``Checkpoints`` port over a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine, _metadata)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def load(self, name: str) -> Checkpoint | None:
        query = select(process_checkpoints.c.position, process_checkpoints.c.state).where(
            process_checkpoints.c.name == name
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return Checkpoint(int(row.position), dict(row.state)) if row is not None else None

    def save(self, checkpoints: Mapping[str, Checkpoint], facts: Sequence[tuple[str, Fact]] = ()) -> None:
        with self.engine.begin() as connection:
            for name, checkpoint in checkpoints.items():
                row = {"name": name, "position": checkpoint.position, "state": checkpoint.state}
                upsert = self._insert(process_checkpoints).values(row)
                changed = {"position": checkpoint.position, "state": checkpoint.state}
                connection.execute(upsert.on_conflict_do_update(index_elements=["name"], set_=changed))
            if facts:
                rows = [
                    {"name": n, "key": f.key, "item": f.item, "ordinal": f.order, "value": f.value} for n, f in facts
                ]
                connection.execute(self._insert(process_facts).on_conflict_do_nothing(), rows)

    def facts(self, name: str, key: str) -> list[Fact]:
        table = process_facts.c
        query = (
            select(table.item, table.ordinal, table.value)
            .where(table.name == name, table.key == key)
            .order_by(table.ordinal)
        )
        with self.engine.connect() as connection:
            return [Fact(key, row.item, int(row.ordinal), dict(row.value)) for row in connection.execute(query)]
