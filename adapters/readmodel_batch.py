"""One transaction's row changes: folded per row, executed per table with cached executemany statements.

Within a batch the changes to one row (named by its primary key) are folded into one (see ``fold``), and
the folded changes of a table are executed one cached statement per shape with executemany, in the order
each row first appeared: the rows come out as applying the changes one by one would leave them.
Folding assumes what our read models do: a unique column other than the key (a slug, a prefix) is set
when its row is created and never handed from one row to another within a batch.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from sqlalchemy import Connection, Executable, Table, bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from projections.base import Change, Delete, Update, Upsert

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


class Batch:
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
            execute_one(self.connection, change)
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


def execute_one(connection: Connection, change: Change) -> None:
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
