"""Webhooks service: a tenant subscribes URLs to event types, disables, enables and recovers them; and the
recording of delivery attempts for the dispatcher (``application/webhook_dispatcher.py``).

Each endpoint's ``whsec_`` signing secret is generated here, stored through the secrets service under
``webhook.<endpoint id>`` (sealed in the event log, like every secret) and returned once, to the subscriber.
Endpoint events name the secret; they never hold it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from application.secrets import SecretService
from domain.errors import ConflictError, NotFoundError
from domain.values import TenantId, tenant_id_of
from domain.webhooks import (
    Delivery,
    Outcome,
    WebhookEndpoint,
    check_event_types,
    check_url,
    endpoint_id_for,
    secret_name_for,
)


class UrlGuard(Protocol):
    """Decides whether deliveries may go to a URL (where its host resolves to); raises InvalidValueError if not."""

    def check(self, url: str) -> None: ...


@dataclass(frozen=True)
class Message:
    """One webhook request to make: where, the message id (the event id), the attempt's time, body and secret."""

    url: str
    message_id: str
    sent_at: datetime
    body: bytes
    secret: str


class Sender(Protocol):
    """Sends one signed webhook request and tells what came of it; never raises for the endpoint's faults."""

    def send(self, message: Message) -> Outcome: ...


@dataclass(frozen=True)
class Subscription:
    """A subscribed endpoint: the command's result, the endpoint id and its signing secret (shown once)."""

    result: CommandResult
    endpoint_id: UUID
    secret: str
    event_types: list[str]


@dataclass(frozen=True)
class DeliveryStart:
    """Which event goes to which endpoint: what a delivery's first event records."""

    tenant_id: TenantId
    endpoint_id: UUID
    event_id: str
    event_type: str
    position: int


class _DeliveryExistsError(ConflictError):
    """The delivery has begun: the attempt goes onto its stream."""


def _tenant_of(aggregate: WebhookEndpoint | Delivery) -> str:
    return aggregate.tenant_id


class WebhookService:
    """Commands on a tenant's webhook endpoints and on deliveries."""

    def __init__(
        self,
        runner: CommandRunner,
        secrets: SecretService,
        guard: UrlGuard,
        event_types: frozenset[str],
        new_secret: Callable[[], str],
    ) -> None:
        self.runner = runner
        self.secrets = secrets
        self.guard = guard
        self.event_types = event_types
        self.new_secret = new_secret

    def subscribe_endpoint(
        self, context: CommandContext, tenant_id: TenantId, url: str, event_types: Sequence[str]
    ) -> Subscription:
        """Subscribes a URL to event types; the answer carries the endpoint's signing secret, this once."""
        types = check_event_types(event_types, self.event_types)
        self.guard.check(check_url(url))
        endpoint_id = endpoint_id_for(tenant_id_of(tenant_id), context.command_id)
        name = secret_name_for(endpoint_id)
        secret_context = CommandContext(context.actor, f"{context.command_id}|secret", context.correlation_id)
        secret = self.new_secret()
        stored = self.secrets.put_secret(secret_context, tenant_id, name, secret)
        if stored.result.replayed:  # the same command again: its endpoint keeps the secret it was given
            secret = self.secrets.reveal_secret(tenant_id, name)
        result = self.runner.create(
            context,
            "subscribe_webhook",
            endpoint_id,
            make=lambda: WebhookEndpoint.subscribe(endpoint_id, tenant_id_of(tenant_id), url, types, self.event_types),
            tenant_of=_tenant_of,
            exists=lambda: ConflictError(f"webhook endpoint {endpoint_id} exists"),
        )
        return Subscription(result, endpoint_id, secret, types)

    def disable_endpoint(
        self, context: CommandContext, tenant_id: TenantId, endpoint_id: UUID, reason: str, gone: bool = False
    ) -> CommandResult:
        """Stops deliveries to the endpoint (``gone`` when it answered 410 Gone)."""
        return self._change(context, "disable_webhook", tenant_id, endpoint_id, lambda e: e.disable(reason, gone))

    def enable_endpoint(self, context: CommandContext, tenant_id: TenantId, endpoint_id: UUID) -> CommandResult:
        """Resumes deliveries to a disabled endpoint."""
        return self._change(context, "enable_webhook", tenant_id, endpoint_id, lambda e: e.enable())

    def recover_endpoint(
        self, context: CommandContext, tenant_id: TenantId, endpoint_id: UUID, since: datetime
    ) -> CommandResult:
        """Delivers again every event whose delivery to the endpoint failed at or after ``since``."""
        return self._change(context, "recover_webhook", tenant_id, endpoint_id, lambda e: e.recover(since))

    def endpoint(self, tenant_id: TenantId, endpoint_id: UUID) -> WebhookEndpoint:
        """The endpoint as its events say now."""
        found = replay(self.runner.store.read_stream(endpoint_id))
        if not isinstance(found, WebhookEndpoint) or found.tenant_id != tenant_id_of(tenant_id):
            raise NotFoundError(f"no such webhook endpoint: {endpoint_id}")
        return found

    def signing_secret(self, tenant_id: TenantId, secret_name: str) -> str:
        """The endpoint's ``whsec_`` secret, for signing (never for a response)."""
        return self.secrets.reveal_secret(tenant_id, secret_name)

    def record_attempt(
        self,
        context: CommandContext,
        start: DeliveryStart,
        outcome: Outcome,
        at: datetime,
        schedule: Sequence[float],
    ) -> CommandResult:
        """Records an attempt to deliver an event to an endpoint (the delivery's first event with its first)."""

        def attempt(delivery: Delivery) -> None:
            delivery.record(outcome, at, schedule)

        def begin() -> Delivery:
            delivery = Delivery.start(
                start.tenant_id, str(start.endpoint_id), start.event_id, start.event_type, start.position
            )
            attempt(delivery)
            return delivery

        delivery_id = Delivery.create_id(
            start.tenant_id, str(start.endpoint_id), start.event_id, start.event_type, start.position
        )
        try:
            return self.runner.create(
                context, "attempt_delivery", delivery_id, make=begin, tenant_of=_tenant_of, exists=_DeliveryExistsError
            )
        except _DeliveryExistsError:
            return self.runner.update(context, "attempt_delivery", delivery_id, attempt, _tenant_of)

    def requeue_delivery(self, context: CommandContext, delivery_id: UUID, recovery: str) -> CommandResult:
        """Makes a failed delivery pending again, as a recovery asked."""

        def requeue(delivery: Delivery) -> None:
            delivery.requeue(recovery)

        return self.runner.update(context, "requeue_delivery", delivery_id, requeue, _tenant_of)

    def _change(
        self,
        context: CommandContext,
        name: str,
        tenant_id: TenantId,
        endpoint_id: UUID,
        change: Callable[[WebhookEndpoint], None],
    ) -> CommandResult:
        def checked(endpoint: WebhookEndpoint) -> None:
            if not isinstance(endpoint, WebhookEndpoint) or endpoint.tenant_id != tenant_id_of(tenant_id):
                raise NotFoundError(f"no such webhook endpoint: {endpoint_id}")
            change(endpoint)

        # one text whether the endpoint is another tenant's or nobody's
        return self.runner.update(context, name, endpoint_id, checked, _tenant_of, noun="webhook endpoint")
