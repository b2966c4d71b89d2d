"""Personal-data accesses: who was served which personal-data fields unmasked, when, and why ("who saw my data").

One row per recorded access, and one row per field served in it, so a search by field is an indexed lookup on
every database (no JSON operators).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Index, Integer, Select, String, Table, exists, select

from domain.personal_data import PersonalDataAccess
from projections.base import Change, EventView, Projection, Upsert, metadata

personal_data_accesses = Table(
    "personal_data_accesses",
    metadata,
    Column("access_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("principal_id", String(64), nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("product", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("operation", String(100), nullable=False),
    Column("route", String(300), nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("accessed_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_personal_data_accesses_tenant_position", "tenant_id", "position"),
)

personal_data_access_fields = Table(
    "personal_data_access_fields",
    metadata,
    Column("access_id", String(36), primary_key=True),
    Column("field", String(200), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Index("ix_personal_data_access_fields_tenant_field", "tenant_id", "field"),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    if not isinstance(event, PersonalDataAccess.Recorded) or recorded.tenant_id is None:
        return []
    access_id, tenant_id = str(event.originator_id), recorded.tenant_id
    row = {
        "tenant_id": tenant_id,
        "principal_id": event.principal_id,
        "principal_kind": event.principal_kind,
        "product": event.product,
        "version": event.version,
        "dataset": event.dataset,
        "fields": event.fields,
        "rows": event.rows,
        "operation": event.operation,
        "route": event.route,
        "request_id": event.request_id,
        "accessed_at": recorded.recorded_at.isoformat(),
        "position": recorded.position,
    }
    fields: list[Change] = [
        Upsert(personal_data_access_fields, {"access_id": access_id, "field": field}, {"tenant_id": tenant_id})
        for field in event.fields
    ]
    return [Upsert(personal_data_accesses, {"access_id": access_id}, row), *fields]


projection = Projection("personal_data", (personal_data_accesses, personal_data_access_fields), evolve)


@dataclass(frozen=True)
class AccessFilter:
    """Which accesses of a tenant to list: by principal, product, field and time ([since, until), ISO times)."""

    principal: str | None = None
    product: str | None = None
    field: str | None = None
    since: str | None = None
    until: str | None = None


def utc_time(name: str, raw: str) -> str:
    """An ISO 8601 time as the table stores times (UTC); a time without a zone, or a date alone, is UTC."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time, e.g. 2026-12-01T00:00:00Z") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def matches(row: dict[str, Any], wanted: AccessFilter) -> bool:
    """Whether an access row passes the filter (as ``list_query`` selects, for rows read from the log)."""
    return (
        wanted.principal in (None, row["principal_id"])
        and wanted.product in (None, row["product"])
        and (wanted.field is None or wanted.field in row["fields"])
        and (wanted.since is None or row["accessed_at"] >= wanted.since)
        and (wanted.until is None or row["accessed_at"] < wanted.until)
    )


def list_query(tenant_id: str, wanted: AccessFilter, before: int | None, limit: int) -> Select[Any]:
    """A tenant's accesses, newest first, keyset-paged by position."""
    table = personal_data_accesses
    query = select(table).where(table.c.tenant_id == tenant_id)
    if wanted.principal:
        query = query.where(table.c.principal_id == wanted.principal)
    if wanted.product:
        query = query.where(table.c.product == wanted.product)
    if wanted.field:
        fields = personal_data_access_fields
        query = query.where(exists().where(fields.c.access_id == table.c.access_id, fields.c.field == wanted.field))
    if wanted.since:
        query = query.where(table.c.accessed_at >= wanted.since)
    if wanted.until:
        query = query.where(table.c.accessed_at < wanted.until)
    if before is not None:
        query = query.where(table.c.position < before)
    return query.order_by(table.c.position.desc()).limit(limit)


class AccessView(msgspec.Struct, frozen=True):
    """One recorded access: who was served which personal-data fields unmasked, from what, when and why."""

    access_id: str
    tenant_id: str
    principal_id: str
    principal_kind: str
    product: str
    version: int
    dataset: str
    fields: list[str]
    rows: int
    operation: str
    route: str
    request_id: str
    accessed_at: str
    position: int


class AccessPage(msgspec.Struct, frozen=True):
    accesses: list[AccessView]
    next_before: int | None


class PersonalDataQueries:
    """A tenant's recorded accesses ("who saw my data") as the query API answers them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, tenant_id: str, wanted: AccessFilter, before: int | None, limit: int) -> AccessPage:
        """The accesses matching ``wanted``, newest first; ``next_before`` is the last position of a full page."""
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_id, wanted, before, limit)).all()
        accesses = [msgspec.convert(row, AccessView, from_attributes=True) for row in rows]
        return AccessPage(accesses, accesses[-1].position if len(accesses) == limit else None)
