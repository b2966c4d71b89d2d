"""Webhook endpoints: a tenant's URLs subscribed to event types, each with the secret that signs its deliveries.

An endpoint (``WebhookEndpoint``) is a URL subscribed to CloudEvents type names, with the name of the secret
that signs its deliveries (the value lives in the secrets module, sealed). Its URL is sealed too: URLs often
carry a token in their path. It is active until disabled, by its tenant or because it answered 410 Gone, and
may be enabled again. A recovery asks for the deliveries that failed since a time to be made again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import TenantId

WEBHOOK_NAMESPACE = UUID("5e0c1f2a-7d43-4b8e-a1c6-93f2d8b04e71")
MAX_URL = 2000
MAX_EVENT_TYPES = 100
MAX_REASON = 500


class EndpointDisabledError(ConflictError):
    """The webhook endpoint is disabled; enable it first."""


def endpoint_id_for(tenant_id: TenantId, key: str) -> UUID:
    """The endpoint a subscription command creates: the same command (idempotency key) names the same endpoint."""
    return uuid5(WEBHOOK_NAMESPACE, f"endpoint|{tenant_id}|{key}")


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
