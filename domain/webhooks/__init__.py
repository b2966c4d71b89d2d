"""The webhooks context: a tenant's endpoints subscribed to event types, and each event's delivery to each endpoint.

One aggregate per module: ``endpoints`` (``WebhookEndpoint``: URL, subscribed types, signing secret, disabled or
active, recoveries) and ``deliveries`` (``Delivery``: one event to one endpoint, its attempts under the retry
schedule, delivered or failed); the context's names are imported from here. Their classes were in
``domain/webhooks.py`` until issue 14; events stored under those topics still decode (``eventstore/moved_topics.py``).
"""

from __future__ import annotations

from domain.webhooks.deliveries import (
    DEFAULT_SCHEDULE,
    MAX_ERROR,
    MAX_RETRY_AFTER,
    Delivery,
    DeliveryClosedError,
    Outcome,
    delivery_id_for,
)
from domain.webhooks.endpoints import (
    MAX_EVENT_TYPES,
    MAX_REASON,
    MAX_URL,
    WEBHOOK_NAMESPACE,
    EndpointDisabledError,
    WebhookEndpoint,
    check_event_types,
    check_reason,
    check_time,
    check_url,
    endpoint_id_for,
    secret_name_for,
)

__all__ = [
    "DEFAULT_SCHEDULE",
    "MAX_ERROR",
    "MAX_EVENT_TYPES",
    "MAX_REASON",
    "MAX_RETRY_AFTER",
    "MAX_URL",
    "WEBHOOK_NAMESPACE",
    "Delivery",
    "DeliveryClosedError",
    "EndpointDisabledError",
    "Outcome",
    "WebhookEndpoint",
    "check_event_types",
    "check_reason",
    "check_time",
    "check_url",
    "delivery_id_for",
    "endpoint_id_for",
    "secret_name_for",
]
