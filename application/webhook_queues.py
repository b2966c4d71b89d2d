"""The webhook queues: what each endpoint is still to receive, as the event log says (from a checkpoint on).

An event is queued for every active endpoint of its tenant that subscribed to its CloudEvents type when the log
reached it (events while an endpoint is disabled are not). A queue is kept in log order and its oldest delivery
goes first; a delivery leaves it when delivered or failed, and a requeue (a recovery, or a dead letter retried)
puts it back in its place. The state also says what the dispatcher owes the log: endpoints to disable after a 410,
deliveries a recovery asked for, failed deliveries to report as dead letters. It reads, it never writes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.tenants import Tenant
from domain.values import TenantId
from domain.webhooks import Delivery, WebhookEndpoint, delivery_id_for
from eventstore.envelope import RecordedEvent


@dataclass(frozen=True)
class Letter:
    """A failed delivery to report: the Failed event's id names the report, so it is made once."""

    failed_event_id: str
    tenant_id: TenantId
    error: str
    attempts: int
    cause: tuple[str, str]


@dataclass(frozen=True, order=True)
class Item:
    """An event waiting for an endpoint, ordered by its place in the log."""

    position: int
    event_id: str
    event_type: str


@dataclass
class Endpoint:
    """An endpoint as deliveries need it, with the events it waits for and the deliveries that failed."""

    tenant_id: TenantId
    url: str
    """Empty for an endpoint taken from a checkpoint: the delivery reads it from the endpoint's stream."""
    secret_name: str
    types: frozenset[str]
    active: bool = True
    queue: list[Item] = field(default_factory=list)
    failed: dict[UUID, tuple[datetime, Item]] = field(default_factory=dict)
    gone: UUID | None = None
    """A delivery answered 410 while the endpoint is still active: the endpoint is to be disabled."""


@dataclass(frozen=True)
class Due:
    """An attempt to make now: which delivery, to which endpoint, and its number."""

    endpoint_id: UUID
    delivery_id: UUID
    endpoint: Endpoint
    item: Item
    attempt: int


@dataclass
class Queues:
    """What the log says: the endpoints, their queues, and each begun delivery's attempts and next time."""

    type_of: Callable[[RecordedEvent], str]
    owns: Callable[[UUID], bool] = lambda _: True
    """Which endpoints these queues are for (a dispatcher's shard); the others are not followed at all."""
    endpoints: dict[UUID, Endpoint] = field(default_factory=dict)
    by_tenant: dict[str, list[UUID]] = field(default_factory=dict)
    begun: dict[UUID, tuple[UUID, Item]] = field(default_factory=dict)
    attempts: dict[UUID, tuple[int, datetime | None]] = field(default_factory=dict)
    requeue: dict[UUID, str] = field(default_factory=dict)
    """Failed deliveries a recovery asked for again, with the recovery's event id."""
    letters: dict[UUID, Letter] = field(default_factory=dict)
    """Failed deliveries to report as dead letters (again after a restart: the report is idempotent)."""

    def see(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        if isinstance(event, WebhookEndpoint.Event):
            self._see_endpoint(recorded)
        elif isinstance(event, Delivery.Event):
            self._see_delivery(recorded)
        elif isinstance(event, Tenant.Offboarded):
            for endpoint_id in self.by_tenant.pop(str(event.originator_id), []):
                self.endpoints.pop(endpoint_id, None)
        elif recorded.tenant_id in self.by_tenant:
            self._queue(recorded)

    def _queue(self, recorded: RecordedEvent) -> None:
        event_type = self.type_of(recorded)
        for endpoint_id in self.by_tenant[str(recorded.tenant_id)]:
            endpoint = self.endpoints[endpoint_id]
            if endpoint.active and event_type in endpoint.types:
                endpoint.queue.append(Item(recorded.position, recorded.event_id, event_type))

    def _see_endpoint(self, recorded: RecordedEvent) -> None:
        event, endpoint_id = recorded.event, recorded.event.originator_id
        if isinstance(event, WebhookEndpoint.Subscribed):
            if not self.owns(endpoint_id):
                return
            types = frozenset(event.event_types)
            self.endpoints[endpoint_id] = Endpoint(event.tenant_id, event.url, event.secret_name, types)
            self.by_tenant.setdefault(event.tenant_id, []).append(endpoint_id)
            return
        endpoint = self.endpoints.get(endpoint_id)
        if endpoint is None:
            return
        match event:
            case WebhookEndpoint.Disabled():
                endpoint.active, endpoint.gone = False, None
            case WebhookEndpoint.Enabled():
                endpoint.active = True
            case WebhookEndpoint.RecoveryRequested():
                since = datetime.fromisoformat(event.since)
                for delivery_id, (failed_at, _) in endpoint.failed.items():
                    if failed_at >= since:
                        self.requeue[delivery_id] = recorded.event_id

    def _see_delivery(self, recorded: RecordedEvent) -> None:
        event, delivery_id = recorded.event, recorded.event.originator_id
        if isinstance(event, Delivery.Started):
            if UUID(event.endpoint_id) in self.endpoints:
                item = Item(event.position, event.event_id, event.event_type)
                self.begun[delivery_id] = (UUID(event.endpoint_id), item)
            return
        begun = self.begun.get(delivery_id)
        endpoint = self.endpoints.get(begun[0]) if begun else None
        if begun is None or endpoint is None:
            return
        item = begun[1]
        match event:
            case Delivery.Attempted():
                self.attempts[delivery_id] = (event.attempt, _time(event.next_at))
            case Delivery.Delivered():
                _remove(endpoint.queue, item)
                self.begun.pop(delivery_id, None)
                self.attempts.pop(delivery_id, None)
            case Delivery.Failed():
                _remove(endpoint.queue, item)
                endpoint.failed[delivery_id] = (datetime.fromisoformat(event.at), item)
                if event.gone and endpoint.active:
                    endpoint.gone = delivery_id
                cause = (item.event_id, item.event_type)
                letter = Letter(recorded.event_id, endpoint.tenant_id, event.error, event.attempts, cause)
                self.letters[delivery_id] = letter
            case Delivery.Requeued():
                endpoint.failed.pop(delivery_id, None)
                self.letters.pop(delivery_id, None)
                bisect.insort(endpoint.queue, item)
                self.requeue.pop(delivery_id, None)
                self.attempts[delivery_id] = (self.attempts.get(delivery_id, (0, None))[0], None)

    def saved(self) -> dict[str, Any]:
        """The queues as JSON values. Endpoints' URLs are left out: they are personal data, sealed in the log, and
        a checkpoint keeps no copy of them (a delivery reads the URL from the endpoint when it has none)."""
        return {
            "endpoints": {str(i): _endpoint_state(e) for i, e in self.endpoints.items()},
            "begun": {str(d): [str(e), _item_state(item)] for d, (e, item) in self.begun.items()},
            "attempts": {str(d): [n, at.isoformat() if at else None] for d, (n, at) in self.attempts.items()},
            "requeue": {str(d): recovery for d, recovery in self.requeue.items()},
            "letters": {str(d): asdict(letter) for d, letter in self.letters.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Takes back what ``saved`` gave."""
        self.endpoints = {UUID(i): _endpoint_of(e) for i, e in state.get("endpoints", {}).items()}
        self.by_tenant = {}
        for endpoint_id, endpoint in self.endpoints.items():
            self.by_tenant.setdefault(endpoint.tenant_id, []).append(endpoint_id)
        self.begun = {UUID(d): (UUID(e), Item(*item)) for d, (e, item) in state.get("begun", {}).items()}
        self.attempts = {UUID(d): (n, _time(at)) for d, (n, at) in state.get("attempts", {}).items()}
        self.requeue = {UUID(d): recovery for d, recovery in state.get("requeue", {}).items()}
        self.letters = {
            UUID(d): Letter(**(letter | {"cause": tuple(letter["cause"])}))
            for d, letter in state.get("letters", {}).items()
        }

    def due(self, now: datetime, busy: set[UUID]) -> list[Due]:
        """The oldest waiting delivery of each active endpoint that is not busy, where its time has come."""
        found = []
        for endpoint_id, endpoint in self.endpoints.items():
            if not endpoint.active or endpoint.gone or not endpoint.queue or endpoint_id in busy:
                continue
            item = endpoint.queue[0]
            delivery_id = delivery_id_for(endpoint_id, item.event_id)
            attempts, next_at = self.attempts.get(delivery_id, (0, None))
            if next_at is None or next_at <= now:
                found.append(Due(endpoint_id, delivery_id, endpoint, item, attempts + 1))
        return found

    def next_due(self, now: datetime) -> datetime | None:
        """When the earliest waiting delivery is due (``now`` if one is due already); None when none waits."""
        times = []
        for endpoint_id, endpoint in self.endpoints.items():
            if endpoint.active and not endpoint.gone and endpoint.queue:
                delivery_id = delivery_id_for(endpoint_id, endpoint.queue[0].event_id)
                times.append(self.attempts.get(delivery_id, (0, None))[1] or now)
        return min(times, default=None)


def _item_state(item: Item) -> list[Any]:
    return [item.position, item.event_id, item.event_type]


def _endpoint_state(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "tenant_id": endpoint.tenant_id,
        "secret_name": endpoint.secret_name,
        "types": sorted(endpoint.types),
        "active": endpoint.active,
        "queue": [_item_state(item) for item in endpoint.queue],
        "failed": {str(d): [at.isoformat(), _item_state(item)] for d, (at, item) in endpoint.failed.items()},
        "gone": str(endpoint.gone) if endpoint.gone else None,
    }


def _endpoint_of(state: dict[str, Any]) -> Endpoint:
    failed = {UUID(d): (datetime.fromisoformat(at), Item(*item)) for d, (at, item) in state["failed"].items()}
    queue = [Item(*item) for item in state["queue"]]
    gone = UUID(state["gone"]) if state["gone"] else None
    types = frozenset(state["types"])
    return Endpoint(state["tenant_id"], "", state["secret_name"], types, state["active"], queue, failed, gone)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _remove(queue: list[Item], item: Item) -> None:
    index = bisect.bisect_left(queue, item)
    if index < len(queue) and queue[index] == item:
        del queue[index]
