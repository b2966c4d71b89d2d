"""Webhook deliveries: each event's way to each endpoint, attempt by attempt.

A delivery (``Delivery``) is one event on its way to one endpoint; its id is derived from both, so a repeated
trigger finds it. Every attempt is an event: ``Attempted`` when it failed (saying when the next is due, if any),
``Delivered`` when the endpoint took it. After the last attempt of the retry schedule, or at once on 410, the
delivery has ``Failed``: a dead letter until a recovery has it ``Requeued``. Times and outcomes are arguments:
the domain has no clock and no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError
from domain.values import DeliveryStatus, TenantId
from domain.webhooks.endpoints import WEBHOOK_NAMESPACE, check_time

DEFAULT_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 86400.0)
"""Seconds to wait before each attempt: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h; then it has failed."""
MAX_RETRY_AFTER = 86400.0
"""The longest Retry-After honoured; a longer one waits this long."""
MAX_ERROR = 500


class DeliveryClosedError(ConflictError):
    """The delivery has already ended (delivered, or failed and not requeued)."""


def delivery_id_for(endpoint_id: UUID | str, event_id: str) -> UUID:
    """One delivery per endpoint and event, whoever triggers it and however often."""
    return uuid5(WEBHOOK_NAMESPACE, f"{endpoint_id}|{event_id}")


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the HTTP status (None when no answer came), why it failed, and Retry-After."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None
    duration_ms: int = 0

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        return self.status == 410

    def describe(self) -> str:
        said = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"{said}: {self.error}" if self.error else said
        return text[:MAX_ERROR]


class Delivery(Aggregate):
    """One event on its way to one endpoint: its attempts, and how it ended."""

    class Started(Aggregate.Created):
        tenant_id: TenantId
        endpoint_id: str
        event_id: str
        event_type: str
        position: int

    class Attempted(Aggregate.Event):
        attempt: int
        at: str
        status: int | None
        error: str
        duration_ms: int
        next_at: str | None

    class Delivered(Aggregate.Event):
        attempt: int
        at: str
        status: int
        duration_ms: int

    class Failed(Aggregate.Event):
        attempts: int
        at: str
        error: str
        gone: bool

    class Requeued(Aggregate.Event):
        recovery: str

    @staticmethod
    def create_id(tenant_id: TenantId, endpoint_id: str, event_id: str, event_type: str, position: int) -> UUID:
        return delivery_id_for(endpoint_id, event_id)

    @classmethod
    def start(cls, tenant_id: TenantId, endpoint_id: str, event_id: str, event_type: str, position: int) -> Delivery:
        return cls(tenant_id, endpoint_id, event_id, event_type, position)

    @event(Started)
    def __init__(self, tenant_id: TenantId, endpoint_id: str, event_id: str, event_type: str, position: int) -> None:
        self.tenant_id = tenant_id
        self.endpoint_id = endpoint_id
        self.event_id = event_id
        self.event_type = event_type
        self.position = position
        self.status = DeliveryStatus.PENDING
        self.attempts = 0
        self.round = 0
        self.next_at: str | None = None

    def record(self, outcome: Outcome, at: datetime, schedule: Sequence[float]) -> None:
        """Records an attempt made at ``at``: delivered, to be retried as the schedule says, or failed."""
        if self.status != DeliveryStatus.PENDING:
            raise DeliveryClosedError(f"delivery {self.id} is {self.status}")
        attempt, stamp = self.attempts + 1, check_time(at).isoformat()
        if outcome.delivered:
            assert outcome.status is not None
            self._delivered(attempt, stamp, outcome.status, outcome.duration_ms)
            return
        wait = self._wait(outcome, schedule)
        next_at = None if wait is None else (at + timedelta(seconds=wait)).isoformat()
        error = outcome.describe()
        self._attempted(attempt, stamp, outcome.status, error, outcome.duration_ms, next_at)
        if next_at is None:
            self._failed(attempt, stamp, error, outcome.gone)

    def _wait(self, outcome: Outcome, schedule: Sequence[float]) -> float | None:
        """Seconds until the next attempt, or None when this was the last: the schedule's wait, or Retry-After
        when the endpoint asked for longer."""
        tried = self.round + 1
        if outcome.gone or tried >= len(schedule):
            return None
        return max(schedule[tried], min(outcome.retry_after or 0.0, MAX_RETRY_AFTER))

    @event(Delivered)
    def _delivered(self, attempt: int, at: str, status: int, duration_ms: int) -> None:
        self.attempts = attempt
        self.status = DeliveryStatus.DELIVERED
        self.next_at = None

    @event(Attempted)
    def _attempted(
        self, attempt: int, at: str, status: int | None, error: str, duration_ms: int, next_at: str | None
    ) -> None:
        self.attempts = attempt
        self.round += 1
        self.next_at = next_at

    @event(Failed)
    def _failed(self, attempts: int, at: str, error: str, gone: bool) -> None:
        self.status = DeliveryStatus.FAILED
        self.next_at = None

    def requeue(self, recovery: str) -> None:
        """Makes a failed delivery pending again, with a fresh retry schedule."""
        if self.status != DeliveryStatus.FAILED:
            raise DeliveryClosedError(f"delivery {self.id} is {self.status}, not failed")
        self._requeued(recovery)

    @event(Requeued)
    def _requeued(self, recovery: str) -> None:
        self.status = DeliveryStatus.PENDING
        self.round = 0
        self.next_at = None
