"""The secret directory: a tenant's secrets by name, with version, times and fingerprint, never the value."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import BigInteger, Column, Engine, Integer, Select, String, Table, select

from domain.secrets import Secret
from domain.tenants import Tenant
from domain.values import SecretStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata

secrets = Table(
    "secret_directory",
    metadata,
    Column("secret_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("fingerprint", String(80)),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    key = {"secret_id": str(event.originator_id)}
    at = recorded.recorded_at.isoformat()
    stamp = {"version": event.originator_version + 1, "updated_at": at, "position": recorded.position}
    match event:
        case Secret.Stored():
            values: dict[str, Any] = {
                "tenant_id": event.tenant_id,
                "name": event.name,
                "status": SecretStatus.ACTIVE,
                "fingerprint": event.fingerprint,
                "created_at": at,
            }
            return [Upsert(secrets, key, values | stamp)]
        case Secret.Rotated():
            return [Update(secrets, key, {"status": SecretStatus.ACTIVE, "fingerprint": event.fingerprint} | stamp)]
        case Secret.Deleted():
            return [Update(secrets, key, {"status": SecretStatus.DELETED, "fingerprint": None} | stamp)]
        case Tenant.Offboarded() if event.erase:
            # Crypto-shredded with the tenant: the values are unreadable, so the rows say so.
            erased = {"status": "erased", "fingerprint": None}
            return [Update(secrets, {"tenant_id": str(event.originator_id)}, erased)]
    return []


projection = Projection("secret_directory", (secrets,), evolve)


def list_query(tenant_id: str, after: str | None, limit: int) -> Select[Any]:
    """A tenant's live secrets ordered by name, after a name (keyset paging)."""
    query = select(secrets).where(secrets.c.tenant_id == tenant_id, secrets.c.status == SecretStatus.ACTIVE)
    if after:
        query = query.where(secrets.c.name > after)
    return query.order_by(secrets.c.name).limit(limit)


class SecretView(msgspec.Struct, frozen=True):
    name: str
    version: int
    fingerprint: str | None
    created_at: str
    updated_at: str


class SecretPage(msgspec.Struct, frozen=True):
    items: list[SecretView]
    next_after: str | None


class SecretQueries:
    """The secret directory as the query API answers it: names, versions and fingerprints, never values."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, tenant_id: str, after: str | None, limit: int) -> SecretPage:
        """The tenant's live secrets by name after ``after``; ``next_after`` names the last when the page is full."""
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_id, after, limit)).all()
        items = [msgspec.convert(row, SecretView, from_attributes=True) for row in rows]
        return SecretPage(items=items, next_after=items[-1].name if len(items) == limit else None)
