"""Webhooks: a tenant's endpoints subscribed to event types, and each event's delivery to each endpoint.

An endpoint (``WebhookEndpoint``) is a URL subscribed to CloudEvents type names, with the name of the secret
that signs its deliveries (the value lives in the secrets module, sealed). Its URL is sealed too: URLs often
carry a token in their path. It is active until disabled, by its tenant or because it answered 410 Gone, and
may be enabled again. A recovery asks for the deliveries that failed since a time to be made again.

A delivery (``Delivery``) is one event on its way to one endpoint; its id is derived from both, so a repeated
trigger finds it. Every attempt is an event: ``Attempted`` when it failed (saying when the next is due, if any),
``Delivered`` when the endpoint took it. After the last attempt of the retry schedule, or at once on 410, the
delivery has ``Failed``: a dead letter until a recovery has it ``Requeued``. Times and outcomes are arguments:
the domain has no clock and no network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import DeliveryStatus, TenantId

WEBHOOK_NAMESPACE = UUID("5e0c1f2a-7d43-4b8e-a1c6-93f2d8b04e71")
DEFAULT_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 86400.0)
"""Seconds to wait before each attempt: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h; then it has failed."""
MAX_RETRY_AFTER = 86400.0
"""The longest Retry-After honoured; a longer one waits this long."""
MAX_URL = 2000
MAX_EVENT_TYPES = 100
MAX_ERROR = 500
MAX_REASON = 500


class EndpointDisabledError(ConflictError):
    """The webhook endpoint is disabled; enable it first."""


class DeliveryClosedError(ConflictError):
    """The delivery has already ended (delivered, or failed and not requeued)."""


def endpoint_id_for(tenant_id: TenantId, key: str) -> UUID:
    """The endpoint a subscription command creates: the same command (idempotency key) names the same endpoint."""
    return uuid5(WEBHOOK_NAMESPACE, f"endpoint|{tenant_id}|{key}")


def delivery_id_for(endpoint_id: UUID | str, event_id: str) -> UUID:
    """One delivery per endpoint and event, whoever triggers it and however often."""
    return uuid5(WEBHOOK_NAMESPACE, f"{endpoint_id}|{event_id}")


def secret_name_for(endpoint_id: UUID) -> str:
    """The name of the endpoint's signing secret in its tenant's secrets."""
    return f"webhook.{endpoint_id}"


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials and no fragment (where it resolves is checked apart)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isascii() or not url.isprintable():
        raise InvalidValueError(f"a webhook URL is 1-{MAX_URL} printable ASCII characters")
    if any(c.isspace() for c in url):
        raise InvalidValueError("a webhook URL has no spaces")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidValueError(f"a webhook URL is http or https, not {parts.scheme or 'schemeless'}")
    if not parts.hostname:
        raise InvalidValueError("a webhook URL names a host")
    if parts.username is not None or parts.password is not None:
        raise InvalidValueError("a webhook URL carries no credentials: deliveries are signed instead")
    if parts.fragment:
        raise InvalidValueError("a webhook URL has no fragment")
    try:
        parts.port  # noqa: B018 -- reading it validates it
    except ValueError:
        raise InvalidValueError("the webhook URL's port is not a number from 0 to 65535") from None
    return url


def check_event_types(event_types: Iterable[str], known: frozenset[str]) -> list[str]:
    """The subscribed types, each a CloudEvents type the platform emits (and may send to webhooks), sorted."""
    chosen = sorted(set(event_types))
    if not chosen or len(chosen) > MAX_EVENT_TYPES:
        raise InvalidValueError(f"subscribe to 1-{MAX_EVENT_TYPES} event types")
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise InvalidValueError(f"unknown event types: {', '.join(unknown)} (see the CloudEvents types listed)")
    return chosen


def check_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned or len(cleaned) > MAX_REASON:
        raise InvalidValueError(f"a reason is 1-{MAX_REASON} characters")
    return cleaned


def check_time(value: datetime) -> datetime:
    """A time with its UTC offset (a time without one is ambiguous)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValueError("give the time with its UTC offset, e.g. 2026-01-02T03:04:05Z")
    return value


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


class WebhookEndpoint(Aggregate):
    """A URL of a tenant that receives the events of the types it subscribed to, signed with its secret."""

    class Subscribed(Aggregate.Created):
        encrypted_fields = ("url",)
        tenant_id: TenantId
        url: str
        event_types: list[str]
        secret_name: str

    class Disabled(Aggregate.Event):
        reason: str
        gone: bool

    class Enabled(Aggregate.Event):
        pass

    class RecoveryRequested(Aggregate.Event):
        since: str

    @classmethod
    def subscribe(
        cls, endpoint_id: UUID, tenant_id: TenantId, url: str, event_types: Iterable[str], known: frozenset[str]
    ) -> WebhookEndpoint:
        types = check_event_types(event_types, known)
        secret_name = secret_name_for(endpoint_id)
        return cls(id=endpoint_id, tenant_id=tenant_id, url=check_url(url), event_types=types, secret_name=secret_name)

    @event(Subscribed)
    def __init__(self, id: UUID, tenant_id: TenantId, url: str, event_types: list[str], secret_name: str) -> None:
        self.tenant_id = tenant_id
        self.url = url
        self.event_types = event_types
        self.secret_name = secret_name
        self.active = True
        self.disabled_reason: str | None = None

    def disable(self, reason: str, gone: bool = False) -> None:
        """Stops deliveries; disabling a disabled endpoint changes nothing."""
        reason = check_reason(reason)
        if self.active:
            self._disabled(reason, gone)

    @event(Disabled)
    def _disabled(self, reason: str, gone: bool) -> None:
        self.active = False
        self.disabled_reason = reason

    def enable(self) -> None:
        """Resumes deliveries with the events after now (and any that were waiting); enabling twice is one."""
        if not self.active:
            self._enabled()

    @event(Enabled)
    def _enabled(self) -> None:
        self.active = True
        self.disabled_reason = None

    def recover(self, since: datetime) -> None:
        """Asks for every delivery that failed at or after ``since`` to be made again."""
        if not self.active:
            raise EndpointDisabledError(f"webhook endpoint {self.id} is disabled; enable it before recovering")
        self._recovery_requested(check_time(since).isoformat())

    @event(RecoveryRequested)
    def _recovery_requested(self, since: str) -> None:
        pass


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
