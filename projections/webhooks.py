"""Webhooks read models: each tenant's endpoints, each delivery with its status, and every attempt.

Endpoint rows never hold the secret, only its name. An offboarding that erased the tenant clears the URLs (sealed
in the log, they read as erased from then on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy import JSON, BigInteger, Boolean, Column, Engine, Integer, Select, String, Table, Text, select

from domain.tenants import Tenant
from domain.values import DeliveryStatus, EndpointStatus
from domain.webhooks import Delivery, WebhookEndpoint
from projections.base import Change, EventView, Projection, Update, Upsert, metadata, sealed_column

endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("endpoint_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    sealed_column("url", WebhookEndpoint.Subscribed),
    Column("event_types", JSON, nullable=False),
    Column("secret_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("disabled_reason", Text),
    Column("last_recovery_since", String(40)),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("endpoint_id", String(36), nullable=False, index=True),
    Column("tenant_id", String(36), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("event_position", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("next_at", String(40)),
    Column("delivered_at", String(40)),
    Column("failed_at", String(40)),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

attempts = Table(
    "webhook_attempts",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("at", String(40), nullable=False),
    Column("status", Integer),
    Column("error", Text),
    Column("duration_ms", BigInteger, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("next_at", String(40)),
)


def _endpoint(event: WebhookEndpoint.Event, stamp: dict[str, Any]) -> list[Change]:
    key = {"endpoint_id": str(event.originator_id)}
    match event:
        case WebhookEndpoint.Subscribed():
            row = {
                "tenant_id": event.tenant_id,
                "url": event.url,
                "event_types": list(event.event_types),
                "secret_name": event.secret_name,
                "status": EndpointStatus.ACTIVE,
                "created_at": stamp["updated_at"],
            }
            return [Upsert(endpoints, key, row | stamp)]
        case WebhookEndpoint.Disabled():
            return [
                Update(endpoints, key, {"status": EndpointStatus.DISABLED, "disabled_reason": event.reason} | stamp)
            ]
        case WebhookEndpoint.Enabled():
            return [Update(endpoints, key, {"status": EndpointStatus.ACTIVE, "disabled_reason": None} | stamp)]
        case WebhookEndpoint.RecoveryRequested():
            return [Update(endpoints, key, {"last_recovery_since": event.since} | stamp)]
    return []


def _attempt(event: Delivery.Attempted | Delivery.Delivered) -> Upsert:
    delivered = isinstance(event, Delivery.Delivered)
    row = {
        "at": event.at,
        "status": event.status,
        "error": None if delivered else getattr(event, "error", None),
        "duration_ms": event.duration_ms,
        "delivered": delivered,
        "next_at": None if delivered else getattr(event, "next_at", None),
    }
    return Upsert(attempts, {"delivery_id": str(event.originator_id), "attempt": event.attempt}, row)


def _delivery(event: Delivery.Event, stamp: dict[str, Any]) -> list[Change]:
    key = {"delivery_id": str(event.originator_id)}
    match event:
        case Delivery.Started():
            row = {
                "endpoint_id": event.endpoint_id,
                "tenant_id": event.tenant_id,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "event_position": event.position,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "created_at": stamp["updated_at"],
            }
            return [Upsert(deliveries, key, row | stamp)]
        case Delivery.Attempted():
            last = {"attempts": event.attempt, "last_status": event.status, "last_error": event.error}
            row = {
                "status": DeliveryStatus.RETRYING if event.next_at else DeliveryStatus.FAILING,
                "next_at": event.next_at,
            } | last
            return [Update(deliveries, key, row | stamp), _attempt(event)]
        case Delivery.Delivered():
            last = {"attempts": event.attempt, "last_status": event.status, "last_error": None}
            row = {"status": DeliveryStatus.DELIVERED, "next_at": None, "delivered_at": event.at} | last
            return [Update(deliveries, key, row | stamp), _attempt(event)]
        case Delivery.Failed():
            row = {"status": DeliveryStatus.FAILED, "next_at": None, "failed_at": event.at, "last_error": event.error}
            return [Update(deliveries, key, row | stamp)]
        case Delivery.Requeued():
            return [
                Update(deliveries, key, {"status": DeliveryStatus.PENDING, "next_at": None, "failed_at": None} | stamp)
            ]
    return []


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    stamp = {"updated_at": recorded.recorded_at.isoformat(), "position": recorded.position}
    if isinstance(event, WebhookEndpoint.Event):
        return _endpoint(event, stamp)
    if isinstance(event, Delivery.Event):
        return _delivery(event, stamp)
    if isinstance(event, Tenant.Offboarded):
        erased = {"url": None} if event.erase else {}
        return [
            Update(endpoints, {"tenant_id": str(event.originator_id)}, {"status": EndpointStatus.OFFBOARDED} | erased)
        ]
    return []


projection = Projection("webhooks", (endpoints, deliveries, attempts), evolve)


def endpoints_query(tenant_id: str, status: str | None, after: str | None, limit: int) -> Select[Any]:
    """A tenant's endpoints by id, after an id (keyset paging)."""
    query = select(endpoints).where(endpoints.c.tenant_id == tenant_id)
    if status:
        query = query.where(endpoints.c.status == status)
    if after:
        query = query.where(endpoints.c.endpoint_id > after)
    return query.order_by(endpoints.c.endpoint_id).limit(limit)


def endpoint_query(tenant_id: str, endpoint_id: str) -> Select[Any]:
    return select(endpoints).where(endpoints.c.tenant_id == tenant_id, endpoints.c.endpoint_id == endpoint_id)


def deliveries_query(endpoint_id: str, status: str | None, before: int | None, limit: int) -> Select[Any]:
    """An endpoint's deliveries, newest event first, keyset-paged by the event's position."""
    query = select(deliveries).where(deliveries.c.endpoint_id == endpoint_id)
    if status:
        query = query.where(deliveries.c.status == status)
    if before is not None:
        query = query.where(deliveries.c.event_position < before)
    return query.order_by(deliveries.c.event_position.desc()).limit(limit)


def attempts_query(delivery_ids: list[str]) -> Select[Any]:
    """The attempts of these deliveries, in order."""
    query = select(attempts).where(attempts.c.delivery_id.in_(delivery_ids))
    return query.order_by(attempts.c.delivery_id, attempts.c.attempt)


V = TypeVar("V", bound=msgspec.Struct)


class EndpointView(msgspec.Struct, frozen=True):
    endpoint_id: str
    url: str | None
    event_types: list[str]
    secret_name: str
    status: str
    disabled_reason: str | None
    last_recovery_since: str | None
    created_at: str
    updated_at: str


class EndpointPage(msgspec.Struct, frozen=True):
    items: list[EndpointView]
    next_after: str | None


class AttemptView(msgspec.Struct, frozen=True):
    attempt: int
    at: str
    status: int | None
    error: str | None
    duration_ms: int
    delivered: bool
    next_at: str | None


class DeliveryView(msgspec.Struct, frozen=True):
    delivery_id: str
    event_id: str
    event_type: str
    event_position: int
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_at: str | None
    delivered_at: str | None
    failed_at: str | None
    created_at: str
    updated_at: str
    history: list[AttemptView] = []


class DeliveryPage(msgspec.Struct, frozen=True):
    items: list[DeliveryView]
    next_before: int | None


class WebhookQueries:
    """The webhook read models, read: endpoints (their URLs opened from the sealed column) and deliveries."""

    def __init__(self, engine: Engine, opened: Callable[[Table, Any], dict[str, Any]]) -> None:
        self.engine = engine
        self.opened = opened

    def endpoints(self, tenant_id: str, status: str | None, after: str | None, limit: int) -> EndpointPage:
        with self.engine.connect() as connection:
            rows = connection.execute(endpoints_query(tenant_id, status, after, limit)).all()
        items = [msgspec.convert(self.opened(endpoints, row), EndpointView) for row in rows]
        return EndpointPage(items, items[-1].endpoint_id if len(items) == limit else None)

    def endpoint(self, tenant_id: str, endpoint_id: str) -> EndpointView | None:
        with self.engine.connect() as connection:
            row = connection.execute(endpoint_query(tenant_id, endpoint_id)).first()
        return None if row is None else msgspec.convert(self.opened(endpoints, row), EndpointView)

    def deliveries(self, endpoint_id: str, status: str | None, before: int | None, limit: int) -> DeliveryPage:
        """An endpoint's deliveries, newest event first, each with its attempts in order."""
        with self.engine.connect() as connection:
            rows = connection.execute(deliveries_query(endpoint_id, status, before, limit)).all()
            ids = [row.delivery_id for row in rows]
            tries = connection.execute(attempts_query(ids)).all() if ids else []
        history: dict[str, list[AttemptView]] = {}
        for attempt in tries:
            history.setdefault(attempt.delivery_id, []).append(_view(attempt, AttemptView))
        items = [
            msgspec.structs.replace(_view(row, DeliveryView), history=history.get(row.delivery_id, [])) for row in rows
        ]
        return DeliveryPage(items, items[-1].event_position if len(items) == limit else None)


def _view(row: Any, view: type[V]) -> V:
    """A row as a response struct (by attribute: SQLAlchemy's column names are not plain str keys)."""
    return msgspec.convert(row, view, from_attributes=True)
