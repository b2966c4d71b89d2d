"""The tenant directory: one row per tenant, as the query API shows it."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Integer, Select, String, Table, Text, select

from domain.tenants import Tenant
from domain.values import TenantStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata

tenants = Table(
    "tenant_directory",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("slug", String(63), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("plan", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text),
    Column("features", JSON, nullable=False),
    Column("quotas", JSON, nullable=False),
    Column("onboarded_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    key = {"tenant_id": str(event.originator_id)}
    stamp = {
        "updated_at": recorded.recorded_at.isoformat(),
        "version": event.originator_version,
        "position": recorded.position,
    }
    match event:
        case Tenant.Onboarded():
            values: dict[str, Any] = {
                "slug": event.slug,
                "display_name": event.display_name,
                "plan": event.plan,
                "status": TenantStatus.ACTIVE,
                "status_reason": None,
                "features": [],
                "quotas": {},
                "onboarded_at": recorded.recorded_at.isoformat(),
            }
            return [Upsert(tenants, key, values | stamp)]
        case Tenant.EntitlementsChanged():
            return [Update(tenants, key, {"features": event.features, "quotas": event.quotas} | stamp)]
        case Tenant.Suspended():
            return [Update(tenants, key, {"status": TenantStatus.SUSPENDED, "status_reason": event.reason} | stamp)]
        case Tenant.Reinstated():
            return [Update(tenants, key, {"status": TenantStatus.ACTIVE, "status_reason": None} | stamp)]
        case Tenant.Offboarded():
            return [Update(tenants, key, {"status": TenantStatus.OFFBOARDED, "status_reason": event.reason} | stamp)]
    return []


projection = Projection("tenant_directory", (tenants,), evolve)


def list_query(status: str | None, after: str | None, limit: int, tenant_id: str | None = None) -> Select[Any]:
    """Tenants ordered by slug, optionally of one status or one tenant only, after a slug (keyset paging)."""
    query = select(tenants).order_by(tenants.c.slug).limit(limit)
    if tenant_id:
        query = query.where(tenants.c.tenant_id == tenant_id)
    if status:
        query = query.where(tenants.c.status == status)
    if after:
        query = query.where(tenants.c.slug > after)
    return query


def get_query(tenant_id: str) -> Select[Any]:
    return select(tenants).where(tenants.c.tenant_id == tenant_id)


class TenantView(msgspec.Struct, frozen=True):
    tenant_id: str
    slug: str
    display_name: str
    plan: str
    status: str
    status_reason: str | None
    features: list[str]
    quotas: dict[str, int]
    onboarded_at: str
    updated_at: str
    version: int
    position: int


class TenantPage(msgspec.Struct, frozen=True):
    items: list[TenantView]
    next_after: str | None


class TenantQueries:
    """The tenant directory as the query API answers it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, status: str | None, after: str | None, limit: int, tenant_id: str | None = None) -> TenantPage:
        """Tenants by slug after ``after``; ``next_after`` names the last slug when the page is full."""
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(status, after, limit, tenant_id)).all()
        items = [msgspec.convert(row, TenantView, from_attributes=True) for row in rows]
        return TenantPage(items=items, next_after=items[-1].slug if len(items) == limit else None)

    def tenant(self, tenant_id: str) -> TenantView | None:
        with self.engine.connect() as connection:
            row = connection.execute(get_query(tenant_id)).first()
        return None if row is None else msgspec.convert(row, TenantView, from_attributes=True)
