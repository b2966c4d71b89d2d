"""What a read model is: tables, plus a pure function from one event to the row changes it causes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Column, MetaData, RowMapping, Table, Text

from domain.aggregate import encrypted_fields_of

metadata = MetaData()
"""Every read-model table is declared on this one MetaData."""

SEALED = "sealed"
"""``Column.info`` flag: the read-model store keeps this column's values sealed with the owner's data key."""


def sealed_column(name: str, declared_by: type, **options: Any) -> Column[Any]:
    """A column holding the event field ``name`` that the event class ``declared_by`` lists in ``encrypted_fields``
    (personal data, secrets): the read-model store keeps it sealed with the tenant's data key, AEAD-bound to its
    row, and it reads ``[erased]`` once that key is destroyed. The event's declaration is the one list."""
    if name not in encrypted_fields_of(declared_by):
        msg = f"{declared_by.__qualname__} does not declare {name!r} in encrypted_fields"
        raise TypeError(msg)
    return Column(name, Text, info={SEALED: True}, **options)


def sealed_columns(table: Table) -> frozenset[str]:
    """The names of the table's sealed columns."""
    return frozenset(column.name for column in table.columns if column.info.get(SEALED))


@dataclass(frozen=True)
class Fingerprint:
    """A value the read-model store keeps only as a keyed digest (HMAC under the platform's data key): rows can be
    looked up by a personal value (a person's subject) that is itself kept sealed."""

    text: str


class EventView(Protocol):
    """The parts of a recorded event a projection may read."""

    @property
    def position(self) -> int: ...

    @property
    def event(self) -> Any: ...

    @property
    def recorded_at(self) -> datetime: ...

    @property
    def tenant_id(self) -> str | None: ...


@dataclass(frozen=True)
class Upsert:
    """Insert the row, or replace these columns of the row with this key."""

    table: Table
    key: Mapping[str, Any]
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Update:
    """Change these columns of the row with this key (no row: nothing happens)."""

    table: Table
    key: Mapping[str, Any]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Delete:
    """Remove the row with this key."""

    table: Table
    key: Mapping[str, Any]


Change = Upsert | Update | Delete


@dataclass(frozen=True)
class Projection:
    """A named read model: its tables and its ``evolve(event) -> changes`` function."""

    name: str
    tables: tuple[Table, ...]
    evolve: Callable[[EventView], list[Change]]


def plain(row: RowMapping) -> dict[str, Any]:
    """A row as a dict with plain ``str`` keys (SQLAlchemy's are a subclass, which msgspec does not take as keys),
    for ``msgspec.convert`` into a query's answer."""
    return {str(key): value for key, value in row.items()}
