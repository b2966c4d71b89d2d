"""The contract registry's read models: contracts (with text search), their versions, and each status change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Integer, Select, String, Table, Text, UniqueConstraint, select

from domain.contracts import DataContract
from domain.values import ContractStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata

contracts = Table(
    "contracts",
    metadata,
    Column("contract_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("contract_key", String(200), nullable=False),
    Column("name", Text),
    Column("status", String(16), nullable=False),
    Column("current_version", String(100)),
    Column("latest_version", String(100), nullable=False),
    Column("search_text", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", Integer, nullable=False),
    UniqueConstraint("tenant_id", "contract_key"),
)
"""One row per contract; ``status`` is draft until a version is approved, then that of the version in force."""

contract_versions = Table(
    "contract_versions",
    metadata,
    Column("contract_id", String(36), primary_key=True),
    Column("version", String(100), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("name", Text),
    Column("author", String(36), nullable=False),
    Column("approver", String(36)),
    Column("status_reason", Text),
    Column("sha256", String(64), nullable=False),
    Column("document", JSON, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("base_version", String(100)),
    Column("drafted_at", String(40), nullable=False),
    Column("drafted_position", Integer, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", Integer, nullable=False),
)
"""One row per version; ``position`` is that of its latest change, ``drafted_position`` orders the versions."""

contract_history = Table(
    "contract_history",
    metadata,
    Column("contract_id", String(36), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("version", String(100), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("by", String(36), nullable=False),
    Column("reason", Text),
    Column("recorded_at", String(40), nullable=False),
)

STATUS_OF = {
    DataContract.Proposed: ContractStatus.PROPOSED,
    DataContract.Approved: ContractStatus.ACTIVE,
    DataContract.Rejected: ContractStatus.REJECTED,
    DataContract.Deprecated: ContractStatus.DEPRECATED,
    DataContract.Retired: ContractStatus.RETIRED,
}


def search_text(key: str, document: dict[str, Any], spec: dict[str, Any]) -> str:
    """What ``?q=`` matches: id, name, domain, tags, descriptions, servers, objects, fields and KPIs (lowercase)."""
    description = document.get("description")
    words = [key, document.get("name"), document.get("domain"), *(document.get("tags") or [])]
    words += list(description.values()) if isinstance(description, dict) else [description]
    words += [s.get("type") for s in document.get("servers") or [] if isinstance(s, dict)]
    words += [o.get("description") for o in document.get("schema") or [] if isinstance(o, dict)]
    for obj in spec["objects"]:
        words += [obj["name"], obj["physical_name"], *(f["name"] for f in obj["fields"])]
    words += [kpi["name"] for kpi in spec["kpis"]]
    return " ".join(str(w) for w in words if isinstance(w, str | int | float)).lower()


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    match event:
        case DataContract.Drafted():
            return _drafted(recorded)
        case DataContract.VersionDrafted():
            return _version_drafted(recorded)
        case DataContract.Proposed() | DataContract.Rejected() | DataContract.Deprecated() | DataContract.Retired():
            return _status_changed(recorded, STATUS_OF[type(event)], getattr(event, "reason", None))
        case DataContract.Approved():
            return _approved(recorded)
    return []


def _drafted(recorded: EventView) -> list[Change]:
    event, at = recorded.event, recorded.recorded_at.isoformat()
    values = {
        "tenant_id": event.tenant_id,
        "contract_key": event.key,
        "name": event.name,
        "status": ContractStatus.DRAFT,
        "current_version": None,
        "latest_version": event.version,
        "search_text": search_text(event.key, event.document, event.spec),
        "created_at": at,
        "updated_at": at,
        "position": recorded.position,
    }
    row = Upsert(contracts, {"contract_id": str(event.originator_id)}, values)
    return [
        row,
        _version_row(recorded, event.tenant_id, None),
        _history(recorded, event.tenant_id, ContractStatus.DRAFT),
    ]


def _version_drafted(recorded: EventView) -> list[Change]:
    event, at = recorded.event, recorded.recorded_at.isoformat()
    tenant_id = recorded.tenant_id or ""
    key = {"contract_id": str(event.originator_id)}
    values = {"latest_version": event.version, "name": event.name, "updated_at": at, "position": recorded.position}
    values["search_text"] = search_text(event.document.get("id", ""), event.document, event.spec)
    return [
        Update(contracts, key, values),
        _version_row(recorded, tenant_id, event.base_version),
        _history(recorded, tenant_id, ContractStatus.DRAFT),
    ]


def _version_row(recorded: EventView, tenant_id: str, base: str | None) -> Upsert:
    event, at = recorded.event, recorded.recorded_at.isoformat()
    values = {
        "tenant_id": tenant_id,
        "status": ContractStatus.DRAFT,
        "name": event.name,
        "author": event.by,
        "approver": None,
        "status_reason": None,
        "sha256": event.sha256,
        "document": event.document,
        "spec": event.spec,
        "base_version": base,
        "drafted_at": at,
        "drafted_position": recorded.position,
        "updated_at": at,
        "position": recorded.position,
    }
    return Upsert(contract_versions, {"contract_id": str(event.originator_id), "version": event.version}, values)


def _status_changed(
    recorded: EventView, status: ContractStatus, reason: str | None, version: str | None = None
) -> list[Change]:
    event, tenant_id = recorded.event, recorded.tenant_id or ""
    version = version or event.version
    stamp = {"updated_at": recorded.recorded_at.isoformat(), "position": recorded.position}
    changes: list[Change] = [
        Update(
            contract_versions,
            {"contract_id": str(event.originator_id), "version": version},
            {"status": status, "status_reason": reason or None} | stamp,
        ),
        _history(recorded, tenant_id, status, version, reason),
    ]
    if status in (ContractStatus.DEPRECATED, ContractStatus.RETIRED) and version == event.version:
        in_force = {"contract_id": str(event.originator_id), "current_version": version}
        after = {"status": status} | ({"current_version": None} if status == ContractStatus.RETIRED else {})
        changes.append(Update(contracts, in_force, after | stamp))
    return changes


def _approved(recorded: EventView) -> list[Change]:
    event = recorded.event
    stamp = {"updated_at": recorded.recorded_at.isoformat(), "position": recorded.position}
    changes: list[Change] = []
    if event.superseded:
        reason = f"superseded by {event.version}"
        changes += _status_changed(recorded, ContractStatus.DEPRECATED, reason, event.superseded)
    changes += _status_changed(recorded, ContractStatus.ACTIVE, None)
    changes.append(Update(contract_versions, _version_key(event), {"approver": event.by}))
    key = {"contract_id": str(event.originator_id)}
    return [
        *changes,
        Update(contracts, key, {"status": ContractStatus.ACTIVE, "current_version": event.version} | stamp),
    ]


def _version_key(event: Any) -> dict[str, str]:
    return {"contract_id": str(event.originator_id), "version": event.version}


def _history(
    recorded: EventView, tenant_id: str, status: ContractStatus, version: str | None = None, reason: str | None = None
) -> Upsert:
    event = recorded.event
    key = {"contract_id": str(event.originator_id), "position": recorded.position, "version": version or event.version}
    values = {
        "tenant_id": tenant_id,
        "status": status,
        "by": event.by,
        "reason": reason or None,
        "recorded_at": recorded.recorded_at.isoformat(),
    }
    return Upsert(contract_history, key, values)


projection = Projection("contracts", (contracts, contract_versions, contract_history), evolve)


def list_query(tenant_id: str, q: str | None, status: str | None, after: str | None, limit: int) -> Select[Any]:
    """A tenant's contracts by id, matching every word of ``q`` if given, after an id (keyset paging)."""
    query = select(contracts).where(contracts.c.tenant_id == tenant_id).order_by(contracts.c.contract_key)
    for word in (q or "").lower().split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(contracts.c.search_text.like(f"%{escaped}%", escape="\\"))
    if status:
        query = query.where(contracts.c.status == status)
    if after:
        query = query.where(contracts.c.contract_key > after)
    return query.limit(limit)


def contract_query(tenant_id: str, key: str) -> Select[Any]:
    return select(contracts).where(contracts.c.tenant_id == tenant_id, contracts.c.contract_key == key)


def versions_query(contract_id: str) -> Select[Any]:
    table = contract_versions
    return select(table).where(table.c.contract_id == contract_id).order_by(table.c.drafted_position)


def version_query(contract_id: str, version: str) -> Select[Any]:
    table = contract_versions
    return select(table).where(table.c.contract_id == contract_id, table.c.version == version)


def history_query(contract_id: str) -> Select[Any]:
    table = contract_history
    return select(table).where(table.c.contract_id == contract_id).order_by(table.c.position, table.c.version)
