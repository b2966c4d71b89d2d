"""Where the read-model store seals personal values on the way in and opens them on the way out.

Projections stay pure: they put event values in their rows as the events carry them. A column declared with
``projections.base.sealed_column`` is sealed here, with the data key of the event's tenant, bound to its cell (table,
column, primary key); a ``Fingerprint`` value becomes a keyed digest. Reading code opens rows with ``open_row``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, Table, inspect, literal, select

from adapters.keys.rowseal import ERASED, TOKEN_VERSION, RowSealer, row_identity, sealable
from projections.base import Change, Delete, Fingerprint, sealed_columns


def unsealed(engine: Engine, tables: Iterable[Table]) -> str | None:
    """Why these tables (one read model's) must be rebuilt to be sealed: a table with sealed columns that lacks a
    column this version declares, or holds a value in clear in a sealed column (made before sealing); else None."""
    inspector = inspect(engine)
    for table in (t for t in tables if sealed_columns(t) and inspector.has_table(t.name)):
        found = {column["name"] for column in inspector.get_columns(table.name)}
        missing = sorted({column.name for column in table.columns} - found)
        if missing:
            return f"{table.name} has no column {', '.join(missing)}"
        for name in sealed_columns(table):
            column = table.c[name]
            clear = column.is_not(None) & (column != ERASED) & column.not_like(f"{TOKEN_VERSION}.%")
            with engine.connect() as connection:
                if connection.execute(select(literal(1)).select_from(table).where(clear).limit(1)).first():
                    return f"{table.name}.{name} holds values in clear"
    return None


class SealedKeyError(ValueError):
    """A read model changed a sealed column by something other than its row's primary key (a programming error)."""


@functools.cache
def _primary_key(table: Table) -> frozenset[str]:
    return frozenset(column.name for column in table.primary_key.columns)


def seal_change(sealer: RowSealer | None, change: Change, owner: str | None) -> Change:
    """The change with its sealed columns sealed and its fingerprints digested (unchanged when it has neither)."""
    if isinstance(change, Delete):
        return change
    values = change.values
    sealed = sealed_columns(change.table) & values.keys()
    digests = [name for name, value in values.items() if isinstance(value, Fingerprint)]
    if not sealed and not digests:
        return change
    if sealer is None:
        msg = f"read model table {change.table.name} keeps sealed values: open the store with the row sealer"
        raise SealedKeyError(msg)
    out = dict(values)
    for name in digests:
        out[name] = sealer.fingerprint(values[name].text)
    for name in (n for n in sealed if sealable(values[n])):
        if change.key.keys() != _primary_key(change.table):
            msg = f"{change.table.name}.{name} is sealed per row: change it by the row's primary key"
            raise SealedKeyError(msg)
        out[name] = sealer.seal(owner, row_identity(change.table.name, name, change.key), values[name])
    return dataclasses.replace(change, values=out)


def open_row(sealer: RowSealer | None, table: Table, row: Any) -> dict[str, Any]:
    """A row of ``table`` (a SQLAlchemy Row or a mapping) with its sealed columns opened."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    values: dict[str, Any] = {str(name): value for name, value in mapping.items()}  # plain str: column names are not
    sealed = sealed_columns(table) & values.keys()
    if not sealed:
        return values
    if sealer is None:
        msg = f"read model table {table.name} keeps sealed values: open the store with the row sealer"
        raise SealedKeyError(msg)
    key: Mapping[str, Any] = {name: values[name] for name in _primary_key(table)}
    for name in sealed:
        values[name] = sealer.open(row_identity(table.name, name, key), values[name])
    return values
