"""The contract registry's read models as the query API answers them: contracts, their versions, the changes
between two versions, and the history of every status change.

A contract or version that is not there raises ``NotFoundError`` naming which (the contract, or the version of
it), since a read of a version first finds its contract.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from sqlalchemy import Connection, Engine

from domain.contracts import changelog
from domain.contracts.semver import SemVer
from domain.errors import NotFoundError
from projections.contracts import contract_query, history_query, list_query, version_query, versions_query

T = TypeVar("T")


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


class ContractQueries:
    """Reads of one tenant's contracts; ``key`` is a contract's id within its tenant (``orders``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, tenant_id: str, q: str | None, status: str | None, after: str | None, limit: int) -> ContractPage:
        """Contracts by id after ``after``, matching every word of ``q``; ``next_after`` when the page is full."""
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_id, q, status, after, limit)).all()
        items = [view_of(row, ContractView) for row in rows]
        return ContractPage(items=items, next_after=items[-1].contract if len(items) == limit else None)

    def contract(self, tenant_id: str, key: str) -> ContractDetail:
        """One contract with its versions, oldest first."""
        with self.engine.connect() as connection:
            row = _contract(connection, tenant_id, key)
            versions = connection.execute(versions_query(row.contract_id)).all()
        return view_of(row, ContractDetail, versions=[view_of(v, VersionSummary) for v in versions])

    def version(self, tenant_id: str, key: str, version: str) -> VersionView:
        """One version, with its changes against the version active when it was drafted (``base_version``)."""
        with self.engine.connect() as connection:
            row = _contract(connection, tenant_id, key)
            found = _version(connection, row, key, version)
            base = connection.execute(version_query(row.contract_id, found.base_version or "")).first()
        changes = [dict(c) for c in changelog(base.spec, found.spec)] if base else []
        return view_of(found, VersionView, contract=key, changes=changes)

    def diff(self, tenant_id: str, key: str, from_version: str, to_version: str) -> DiffView:
        """The changelog from one version to another, each change marked breaking or not."""
        with self.engine.connect() as connection:
            row = _contract(connection, tenant_id, key)
            old = _version(connection, row, key, from_version)
            new = _version(connection, row, key, to_version)
        changes = changelog(old.spec, new.spec)
        bump = SemVer.parse(to_version).is_major_bump_over(SemVer.parse(from_version))
        breaking = any(c["breaking"] for c in changes)
        return DiffView(key, from_version, to_version, breaking, bump, [dict(c) for c in changes])

    def history(self, tenant_id: str, key: str) -> list[HistoryEntry]:
        """Every status change of every version, in the order they happened."""
        with self.engine.connect() as connection:
            row = _contract(connection, tenant_id, key)
            rows = connection.execute(history_query(row.contract_id)).all()
        return [msgspec.convert(r, HistoryEntry, from_attributes=True) for r in rows]


def _contract(connection: Connection, tenant_id: str, key: str) -> Any:
    row = connection.execute(contract_query(tenant_id, key)).first()
    if row is None:
        raise NotFoundError(f"no such contract {key}")
    return row


def _version(connection: Connection, contract: Any, key: str, version: str) -> Any:
    row = connection.execute(version_query(contract.contract_id, version)).first()
    if row is None:
        raise NotFoundError(f"no such version {version} of contract {key}")
    return row


def row_values(row: Any, **extra: Any) -> dict[str, Any]:
    """A read-model row as plain ``str`` keys (msgspec refuses SQLAlchemy's key type); ``contract`` is its id."""
    values = {str(column): value for column, value in row._mapping.items()}
    return {**values, "contract": values.get("contract_key")} | extra


def view_of(row: Any, cls: type[T], **extra: Any) -> T:
    return msgspec.convert(row_values(row, **extra), cls)
