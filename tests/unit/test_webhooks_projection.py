"""The webhooks read models as a table: each endpoint and delivery event -> the row changes it causes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.tenants import Tenant
from domain.webhooks import Delivery, Outcome, WebhookEndpoint
from projections.base import Change, Update, Upsert
from projections.webhooks import attempts, deliveries, endpoints, evolve

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
STAMP = WHEN.isoformat()
AT = datetime(2026, 3, 4, 5, 0, 0, tzinfo=UTC)
TYPE = "platform.tenants.TenantSuspended"


@dataclass(frozen=True)
class Seen:
    """An event as the log hands it to a projection."""

    position: int
    event: Any
    recorded_at: datetime = WHEN
    tenant_id: str | None = None


tenant = Tenant.onboard("acme", "Acme Corp", "standard")
TENANT = str(tenant.id)
ENDPOINT_ID = uuid4()
endpoint = WebhookEndpoint.subscribe(ENDPOINT_ID, TENANT, "https://h.example/in", [TYPE], frozenset({TYPE}))
endpoint.disable("paused")
endpoint.enable()
endpoint.recover(AT)
SUBSCRIBED, DISABLED, ENABLED, RECOVERY = endpoint.collect_events()
E_KEY = {"endpoint_id": str(ENDPOINT_ID)}

delivery = Delivery.start(TENANT, str(ENDPOINT_ID), "evt-1", TYPE, 41)
delivery.record(Outcome(500, "boom", duration_ms=7), AT, (0, 5))
delivery.record(Outcome(None, "refused", duration_ms=3), AT + timedelta(seconds=5), (0, 5))
delivery.requeue("recovery-1")
delivery.record(Outcome(200, duration_ms=9), AT + timedelta(minutes=1), (0, 5))
STARTED, ATTEMPTED, LAST_ATTEMPT, FAILED, REQUEUED, DELIVERED = delivery.collect_events()
D_KEY = {"delivery_id": str(delivery.id)}


def stamp(position: int) -> dict[str, Any]:
    return {"updated_at": STAMP, "position": position}


def attempt_row(number: int, **values: Any) -> Upsert:
    return Upsert(attempts, {"delivery_id": str(delivery.id), "attempt": number}, values)


TABLE: list[tuple[str, Any, list[Change]]] = [
    (
        "a subscription inserts the endpoint with its secret's name",
        SUBSCRIBED,
        [
            Upsert(
                endpoints,
                E_KEY,
                {
                    "tenant_id": TENANT,
                    "url": "https://h.example/in",
                    "event_types": [TYPE],
                    "secret_name": f"webhook.{ENDPOINT_ID}",
                    "status": "active",
                    "created_at": STAMP,
                }
                | stamp(1),
            )
        ],
    ),
    (
        "disabling says why",
        DISABLED,
        [Update(endpoints, E_KEY, {"status": "disabled", "disabled_reason": "paused"} | stamp(1))],
    ),
    (
        "enabling clears it",
        ENABLED,
        [Update(endpoints, E_KEY, {"status": "active", "disabled_reason": None} | stamp(1))],
    ),
    (
        "a recovery shows its time",
        RECOVERY,
        [Update(endpoints, E_KEY, {"last_recovery_since": AT.isoformat()} | stamp(1))],
    ),
    (
        "a delivery begins pending",
        STARTED,
        [
            Upsert(
                deliveries,
                D_KEY,
                {
                    "endpoint_id": str(ENDPOINT_ID),
                    "tenant_id": TENANT,
                    "event_id": "evt-1",
                    "event_type": TYPE,
                    "event_position": 41,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": STAMP,
                }
                | stamp(1),
            )
        ],
    ),
    (
        "a failed attempt says when the next is due, and is listed",
        ATTEMPTED,
        [
            Update(
                deliveries,
                D_KEY,
                {
                    "status": "retrying",
                    "next_at": (AT + timedelta(seconds=5)).isoformat(),
                    "attempts": 1,
                    "last_status": 500,
                    "last_error": "HTTP 500: boom",
                }
                | stamp(1),
            ),
            attempt_row(
                1,
                at=AT.isoformat(),
                status=500,
                error="HTTP 500: boom",
                duration_ms=7,
                delivered=False,
                next_at=(AT + timedelta(seconds=5)).isoformat(),
            ),
        ],
    ),
    (
        "giving up ends the delivery as failed",
        FAILED,
        [
            Update(
                deliveries,
                D_KEY,
                {
                    "status": "failed",
                    "next_at": None,
                    "failed_at": (AT + timedelta(seconds=5)).isoformat(),
                    "last_error": "no response: refused",
                }
                | stamp(1),
            )
        ],
    ),
    (
        "a requeue makes it pending again",
        REQUEUED,
        [Update(deliveries, D_KEY, {"status": "pending", "next_at": None, "failed_at": None} | stamp(1))],
    ),
    (
        "the successful attempt delivers it",
        DELIVERED,
        [
            Update(
                deliveries,
                D_KEY,
                {
                    "status": "delivered",
                    "next_at": None,
                    "delivered_at": (AT + timedelta(minutes=1)).isoformat(),
                    "attempts": 3,
                    "last_status": 200,
                    "last_error": None,
                }
                | stamp(1),
            ),
            attempt_row(
                3,
                at=(AT + timedelta(minutes=1)).isoformat(),
                status=200,
                error=None,
                duration_ms=9,
                delivered=True,
                next_at=None,
            ),
        ],
    ),
]


@pytest.mark.parametrize(("case", "event", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_each_event_causes_its_row_changes(case: str, event: Any, expected: list[Change]) -> None:
    assert evolve(Seen(1, event)) == expected


def test_an_erasing_offboarding_clears_the_tenants_urls_and_a_plain_one_keeps_them() -> None:
    erasing = Tenant.onboard("gone", "Gone Co", "standard")
    erasing.offboard("contract ended", erase=True)
    _, offboarded = erasing.collect_events()
    assert evolve(Seen(9, offboarded)) == [
        Update(endpoints, {"tenant_id": str(erasing.id)}, {"status": "offboarded", "url": None})
    ]
    keeping = Tenant.onboard("kept", "Kept Co", "standard")
    keeping.offboard("contract ended")
    _, plain = keeping.collect_events()
    assert evolve(Seen(9, plain)) == [Update(endpoints, {"tenant_id": str(keeping.id)}, {"status": "offboarded"})]


def test_other_events_change_nothing() -> None:
    [onboarded] = Tenant.onboard("other", "Other", "standard").collect_events()
    assert evolve(Seen(3, onboarded)) == []
