"""The tenant directory: one row per tenant, as the query API shows it."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Integer, String, Table

from domain.tenants import Tenant
from projections.base import Change, EventView, Projection, Update, Upsert, metadata

tenants = Table(
    "tenant_directory",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("slug", String(63), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("plan", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(1000)),
    Column("features", JSON, nullable=False),
    Column("quotas", JSON, nullable=False),
    Column("onboarded_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("position", Integer, nullable=False),
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
            values = {
                "slug": event.slug,
                "display_name": event.display_name,
                "plan": event.plan,
                "status": "active",
                "status_reason": None,
                "features": [],
                "quotas": {},
                "onboarded_at": recorded.recorded_at.isoformat(),
            }
            return [Upsert(tenants, key, values | stamp)]
        case Tenant.EntitlementsChanged():
            return [Update(tenants, key, {"features": event.features, "quotas": event.quotas} | stamp)]
        case Tenant.Suspended():
            return [Update(tenants, key, {"status": "suspended", "status_reason": event.reason} | stamp)]
        case Tenant.Reinstated():
            return [Update(tenants, key, {"status": "active", "status_reason": None} | stamp)]
        case Tenant.Offboarded():
            return [Update(tenants, key, {"status": "offboarded", "status_reason": event.reason} | stamp)]
    return []


projection = Projection("tenant_directory", (tenants,), evolve)
