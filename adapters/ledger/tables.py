"""The ledger's SQL tables (in the read-model database) and the statements that read and extend them.

``ledger_leaves`` holds one row per event (leaf index, log position, event id, tenant, leaf hash);
``ledger_nodes`` the hashes of complete subtrees of 2**NODE_LEVEL leaves and up, so a proof needs a few
rows instead of every leaf; ``ledger_state`` the size and last position hashed, moved in the same transaction
as the rows (and used as an optimistic lock: two writers never both extend the tree);
``ledger_checkpoints`` every signed checkpoint. Everything here is derived from the event log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from adapters.sql_schema import create_tables
from domain.merkle import Node

NODE_LEVEL = 8
"""Subtrees of 256 leaves and more are stored; smaller ones are hashed from at most 256 leaf hashes on demand."""
STATE_ROW = "ledger"

LEAF_INDEX = BigInteger().with_variant(Integer(), "sqlite")
"""On SQLite an INTEGER PRIMARY KEY is the rowid itself: leaves are read in ranges of it without a second index."""

metadata = MetaData()
leaves = Table(
    "ledger_leaves",
    metadata,
    Column("leaf_index", LEAF_INDEX, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False, unique=True),
    Column("event_id", String(36), nullable=False),
    Column("tenant_id", String(64)),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Index("ledger_leaves_event_id", "event_id"),
)
nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("node_index", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)
state = Table(
    "ledger_state",
    metadata,
    Column("name", String(20), primary_key=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
)
checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", String(40), nullable=False),
)


class LedgerMovedError(Exception):
    """Another writer extended the ledger first; reload its state and carry on from there."""


@dataclass(frozen=True)
class Leaf:
    """One leaf: an event's place in the tree and in the log, whose it is, and its hash."""

    leaf_index: int
    position: int
    event_id: str
    tenant_id: str | None
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str
    signed_at: str


LeafRow = dict[str, object]
"""A new leaf row: leaf_index, position, event_id, tenant_id, leaf_hash."""

_SET_STATE = (
    update(state)
    .where(state.c.name == STATE_ROW, state.c.tree_size == bindparam("expected"))
    .values(tree_size=bindparam("new_size"), position=bindparam("new_position"))
)


def _insert(dialect: str, table: Table) -> Any:
    """INSERT that leaves an existing row alone (ON CONFLICT DO NOTHING on SQLite and PostgreSQL)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).on_conflict_do_nothing()


class LedgerTables:
    """Reads and extends the ledger's tables through one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._leaf_range = (
            f"SELECT position, leaf_hash FROM {leaves.name} "
            f"WHERE leaf_index >= {mark} AND leaf_index < {mark} ORDER BY leaf_index"
        )
        create_tables(engine, metadata)
        with engine.begin() as connection:
            new = {"name": STATE_ROW, "tree_size": 0, "position": 0}
            connection.execute(_insert(connection.dialect.name, state), new)

    def state(self) -> tuple[int, int]:
        """(tree size, position of the last event hashed)."""
        with self.engine.connect() as connection:
            row = connection.execute(select(state.c.tree_size, state.c.position).where(state.c.name == STATE_ROW))
            size, position = row.one()
        return int(size), int(position)

    def append(self, expected_size: int, rows: Sequence[LeafRow], new_nodes: Sequence[Node]) -> None:
        """Adds leaves (and finished subtrees) after ``expected_size`` in one transaction, or LedgerMovedError."""
        last = rows[-1]
        with self.engine.begin() as connection:
            moved = connection.execute(
                _SET_STATE,
                {"expected": expected_size, "new_size": expected_size + len(rows), "new_position": last["position"]},
            )
            if moved.rowcount != 1:
                raise LedgerMovedError
            connection.execute(insert(leaves), list(rows))
            if new_nodes:
                node_rows = [{"level": level, "node_index": index, "hash": h} for level, index, h in new_nodes]
                connection.execute(insert(nodes), node_rows)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of leaves start..end-1 (fewer when the ledger is shorter)."""
        query = select(leaves.c.leaf_hash).where(leaves.c.leaf_index >= start, leaves.c.leaf_index < end)
        with self.engine.connect() as connection:
            return [bytes(h) for h in connection.execute(query.order_by(leaves.c.leaf_index)).scalars()]

    def leaf_range(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """(position, leaf hash) of leaves start..end-1, in leaf order.

        Through the DBAPI cursor: verification reads every leaf, and SQLAlchemy's rows would cost it more than
        the hashing it reads them for."""
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(self._leaf_range, (start, end))
            rows = cursor.fetchall()
            cursor.close()
        finally:
            connection.close()  # back to the pool
        return cast(list[tuple[int, bytes]], rows)

    def nodes(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored subtree hashes among the (level, node index) pairs asked for."""
        pairs = list(wanted)
        if not pairs:
            return {}
        query = select(nodes.c.level, nodes.c.node_index, nodes.c.hash).where(
            or_(*(and_(nodes.c.level == level, nodes.c.node_index == index) for level, index in pairs))
        )
        with self.engine.connect() as connection:
            return {(level, index): bytes(h) for level, index, h in connection.execute(query)}

    def all_nodes(self, within: int) -> dict[tuple[int, int], bytes]:
        """Every stored subtree hash of a subtree inside the first ``within`` leaves."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(nodes.c.level, nodes.c.node_index, nodes.c.hash))
            found = {(level, index): bytes(h) for level, index, h in rows}
        return {key: h for key, h in found.items() if (key[1] + 1) << key[0] <= within}

    def leaf(self, leaf_index: int) -> Leaf | None:
        return self._leaf(leaves.c.leaf_index == leaf_index)

    def leaf_at_position(self, position: int) -> Leaf | None:
        return self._leaf(leaves.c.position == position)

    def leaf_of_event(self, event_id: str) -> Leaf | None:
        return self._leaf(leaves.c.event_id == event_id)

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Every signed checkpoint, smallest tree first."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(checkpoints).order_by(checkpoints.c.tree_size)).all()
        return [StoredCheckpoint(r.tree_size, bytes(r.root_hash), r.note, r.signed_at) for r in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.engine.connect() as connection:
            query = select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1)
            row = connection.execute(query).first()
        return None if row is None else StoredCheckpoint(row.tree_size, bytes(row.root_hash), row.note, row.signed_at)

    def checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(checkpoints).where(checkpoints.c.tree_size == tree_size)).first()
        return None if row is None else StoredCheckpoint(row.tree_size, bytes(row.root_hash), row.note, row.signed_at)

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> StoredCheckpoint:
        """Stores a signed checkpoint; one already stored for that tree size stays (and is returned)."""
        row = {
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "note": checkpoint.note,
            "signed_at": checkpoint.signed_at,
        }
        with self.engine.begin() as connection:
            connection.execute(_insert(connection.dialect.name, checkpoints), row)
        stored = self.checkpoint(checkpoint.tree_size)
        assert stored is not None
        return stored

    def _leaf(self, where: ColumnElement[bool]) -> Leaf | None:
        query = select(leaves).where(where).order_by(leaves.c.leaf_index).limit(1)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return Leaf(row.leaf_index, row.position, row.event_id, row.tenant_id, bytes(row.leaf_hash))
