"""The request and response bodies of the contract registry's HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

T = TypeVar("T")
Version = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class VersionCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: Version
    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class RejectVersion(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: Version
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class Accepted(msgspec.Struct, frozen=True):
    contract_id: str
    contract: str
    version: str
    position: int


class ContractView(msgspec.Struct, frozen=True):
    contract_id: str
    contract: str
    name: str | None
    status: str
    current_version: str | None
    latest_version: str
    created_at: str
    updated_at: str
    position: int


class VersionSummary(msgspec.Struct, frozen=True):
    version: str
    status: str
    name: str | None
    author: str
    approver: str | None
    status_reason: str | None
    sha256: str
    base_version: str | None
    drafted_at: str
    updated_at: str
    position: int


class ContractDetail(ContractView, frozen=True):
    versions: list[VersionSummary]


class VersionView(VersionSummary, frozen=True):
    contract_id: str
    contract: str
    document: dict[str, Any]
    spec: dict[str, Any]
    changes: list[dict[str, Any]]


class ContractPage(msgspec.Struct, frozen=True):
    items: list[ContractView]
    next_after: str | None


class DiffView(msgspec.Struct, frozen=True):
    contract: str
    from_version: str
    to_version: str
    breaking: bool
    major_bump: bool
    changes: list[dict[str, Any]]


class HistoryEntry(msgspec.Struct, frozen=True):
    version: str
    status: str
    by: str
    reason: str | None
    recorded_at: str
    position: int


def row_values(row: Any, **extra: Any) -> dict[str, Any]:
    """A read-model row as plain ``str`` keys (msgspec refuses SQLAlchemy's key type); ``contract`` is its id."""
    values = {str(column): value for column, value in row._mapping.items()}
    return {**values, "contract": values.get("contract_key")} | extra


def view_of(row: Any, cls: type[T], **extra: Any) -> T:
    return msgspec.convert(row_values(row, **extra), cls)
