"""What a read model is: tables, plus a pure function from one event to the row changes it causes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import MetaData, Table

metadata = MetaData()
"""Every read-model table is declared on this one MetaData."""


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
