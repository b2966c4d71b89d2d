"""Webhook rules, read as Given (past events) / When (a command) / Then (new events or an error): endpoints
(subscription checks, disable, enable, recovery) and deliveries (the retry schedule, Retry-After, 410, requeue)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.errors import InvalidValueError
from domain.webhooks import (
    DEFAULT_SCHEDULE,
    MAX_RETRY_AFTER,
    Delivery,
    DeliveryClosedError,
    EndpointDisabledError,
    Outcome,
    WebhookEndpoint,
    check_url,
    delivery_id_for,
    endpoint_id_for,
    secret_name_for,
)

TENANT = "8f0e0c8e-8a55-4f6c-9c1e-0d8e6f1b2a3c"
KNOWN = frozenset({"platform.tenants.TenantSuspended", "platform.secrets.SecretStored"})
AT = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
OK, BUSY, BROKEN, GONE = Outcome(200), Outcome(429, retry_after=120.0), Outcome(500, "boom"), Outcome(410)


def given(events: list[Any]) -> Any:
    """The aggregate rebuilt from its past events alone."""
    aggregate = None
    for past in events:
        aggregate = past.mutate(aggregate)
    return aggregate


def when(aggregate: Any, command: Callable[[Any], None]) -> list[Any]:
    """The new events the command records."""
    command(aggregate)
    return list(aggregate.collect_events())


def subscribed(endpoint_id: UUID | None = None) -> list[Any]:
    endpoint = WebhookEndpoint.subscribe(
        endpoint_id or uuid4(), TENANT, "https://hooks.example.com/in?x=1", ["platform.tenants.TenantSuspended"], KNOWN
    )
    return list(endpoint.collect_events())


def started(*outcomes: Outcome, schedule: tuple[float, ...] = DEFAULT_SCHEDULE) -> list[Any]:
    """A delivery's events after attempts with these outcomes, one a minute apart."""
    delivery = Delivery.start(TENANT, str(uuid4()), str(uuid4()), "platform.tenants.TenantSuspended", 42)
    for minute, outcome in enumerate(outcomes):
        delivery.record(outcome, AT + timedelta(minutes=minute), schedule)
    return list(delivery.collect_events())


# --- endpoints


def test_a_subscription_records_the_url_the_sorted_types_and_the_secrets_name_never_a_secret() -> None:
    endpoint_id = uuid4()
    endpoint = WebhookEndpoint.subscribe(
        endpoint_id, TENANT, "http://hooks.example.com/", KNOWN, KNOWN | {"platform.x.Unused"}
    )
    [event] = endpoint.collect_events()
    assert isinstance(event, WebhookEndpoint.Subscribed)
    assert event.originator_id == endpoint_id
    assert event.event_types == sorted(KNOWN)
    assert event.secret_name == secret_name_for(endpoint_id) == f"webhook.{endpoint_id}"
    assert set(vars(event)) == {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "tenant_id",
        "url",
        "event_types",
        "secret_name",
    }
    assert WebhookEndpoint.Subscribed.encrypted_fields == ("url",)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://hooks.example.com/", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("hooks.example.com/in", "http or https"),
        ("https:///in", "names a host"),
        ("https://user:pw@hooks.example.com/", "no credentials"),
        ("https://hooks.example.com/#top", "no fragment"),
        ("https://hooks.example.com:99999/", "port"),
        ("https://hooks.example.com/a b", "no spaces"),
        ("https://hooks.exämple.com/", "ASCII"),
        ("https://hooks.example.com/" + "a" * 2000, "characters"),
    ],
)
def test_a_url_that_is_not_a_plain_http_address_is_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidValueError, match=why):
        WebhookEndpoint.subscribe(uuid4(), TENANT, url, ["platform.tenants.TenantSuspended"], KNOWN)


def test_unknown_event_types_are_refused_by_name() -> None:
    with pytest.raises(InvalidValueError, match=r"unknown event types: platform\.nope\.Nothing"):
        WebhookEndpoint.subscribe(uuid4(), TENANT, "https://h.example/", ["platform.nope.Nothing"], KNOWN)
    with pytest.raises(InvalidValueError, match="1-100 event types"):
        WebhookEndpoint.subscribe(uuid4(), TENANT, "https://h.example/", [], KNOWN)


def test_disabling_records_why_and_twice_is_once() -> None:
    endpoint = given(subscribed())
    [event] = when(endpoint, lambda e: e.disable("maintenance window"))
    assert isinstance(event, WebhookEndpoint.Disabled)
    assert (event.reason, event.gone) == ("maintenance window", False)
    assert when(endpoint, lambda e: e.disable("again")) == []
    assert endpoint.active is False


def test_enabling_a_disabled_endpoint_resumes_it_and_an_active_one_is_left_alone() -> None:
    history = subscribed()
    assert when(given(history), lambda e: e.enable()) == []
    endpoint = given(history)
    [disabled] = when(endpoint, lambda e: e.disable("gone for lunch", gone=True))
    assert disabled.gone is True
    [event] = when(endpoint, lambda e: e.enable())
    assert isinstance(event, WebhookEndpoint.Enabled)
    assert endpoint.active is True


def test_a_recovery_records_its_time_with_its_offset_and_needs_an_active_endpoint() -> None:
    endpoint = given(subscribed())
    [event] = when(endpoint, lambda e: e.recover(AT))
    assert isinstance(event, WebhookEndpoint.RecoveryRequested)
    assert datetime.fromisoformat(event.since) == AT
    with pytest.raises(InvalidValueError, match="UTC offset"):
        endpoint.recover(datetime(2026, 1, 1))
    endpoint.disable("off")
    with pytest.raises(EndpointDisabledError):
        endpoint.recover(AT)


def test_ids_are_derived_so_a_repeated_command_or_trigger_finds_what_it_made() -> None:
    assert endpoint_id_for(TENANT, "key-1") == endpoint_id_for(TENANT, "key-1") != endpoint_id_for(TENANT, "key-2")
    endpoint = uuid4()
    assert delivery_id_for(endpoint, "e1") == delivery_id_for(str(endpoint), "e1") != delivery_id_for(endpoint, "e2")
    delivery = Delivery.start(TENANT, str(endpoint), "e1", "t", 1)
    assert delivery.id == delivery_id_for(endpoint, "e1")


# --- deliveries


def test_a_2xx_answer_is_delivered_at_the_first_attempt() -> None:
    [start, done] = started(Outcome(204, duration_ms=12))
    assert isinstance(start, Delivery.Started)
    assert isinstance(done, Delivery.Delivered)
    assert (done.attempt, done.status, done.duration_ms, done.at) == (1, 204, 12, AT.isoformat())


def test_a_failure_is_retried_after_the_schedules_next_wait() -> None:
    _, first, second = started(BROKEN, BROKEN)
    assert isinstance(first, Delivery.Attempted)
    assert (first.attempt, first.status, first.error) == (1, 500, "HTTP 500: boom")
    assert first.next_at == (AT + timedelta(seconds=5)).isoformat()
    assert second.next_at == (AT + timedelta(minutes=1, seconds=300)).isoformat()


def test_a_429_waits_as_long_as_retry_after_asks_when_that_is_longer_than_the_schedule() -> None:
    _, busy = started(BUSY)
    assert busy.next_at == (AT + timedelta(seconds=120)).isoformat()
    _, brief = started(Outcome(429, retry_after=1.0))
    assert brief.next_at == (AT + timedelta(seconds=5)).isoformat()
    _, endless = started(Outcome(429, retry_after=10 * MAX_RETRY_AFTER))
    assert endless.next_at == (AT + timedelta(seconds=MAX_RETRY_AFTER)).isoformat()


def test_a_410_fails_at_once_and_says_the_endpoint_is_gone() -> None:
    _, attempted, failed = started(GONE)
    assert attempted.next_at is None
    assert isinstance(failed, Delivery.Failed)
    assert (failed.attempts, failed.gone, failed.error) == (1, True, "HTTP 410")


def test_after_the_last_attempt_of_the_schedule_the_delivery_has_failed() -> None:
    events = started(*[Outcome(None, "connection refused")] * 3, schedule=(0, 1, 2))
    attempts = [e for e in events if isinstance(e, Delivery.Attempted)]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[-1].next_at is None
    failed = events[-1]
    assert isinstance(failed, Delivery.Failed)
    assert (failed.attempts, failed.gone, failed.error) == (3, False, "no response: connection refused")
    assert len(DEFAULT_SCHEDULE) == 8


def test_an_ended_delivery_takes_no_more_attempts() -> None:
    for history in (started(OK), started(GONE)):
        with pytest.raises(DeliveryClosedError):
            given(history).record(OK, AT, DEFAULT_SCHEDULE)


def test_a_requeued_delivery_starts_the_schedule_again_and_keeps_counting_attempts() -> None:
    delivery = given(started(BROKEN, BROKEN, schedule=(0, 1)))
    with pytest.raises(DeliveryClosedError):
        given(started(OK)).requeue("r1")
    [requeued] = when(delivery, lambda d: d.requeue("r1"))
    assert isinstance(requeued, Delivery.Requeued)
    [again] = when(delivery, lambda d: d.record(BROKEN, AT, (0, 1)))
    assert (again.attempt, again.next_at) == (3, (AT + timedelta(seconds=1)).isoformat())
    [done] = when(delivery, lambda d: d.record(OK, AT, (0, 1)))
    assert (done.attempt, delivery.status) == (4, "delivered")
    with pytest.raises(DeliveryClosedError):
        delivery.requeue("r2")


def test_attempt_times_need_their_offset() -> None:
    delivery = given(started())
    with pytest.raises(InvalidValueError, match="UTC offset"):
        delivery.record(OK, datetime(2026, 1, 1), DEFAULT_SCHEDULE)


def test_an_error_is_kept_short() -> None:
    _, attempted = started(Outcome(502, "x" * 5000))
    assert len(attempted.error) == 500


def test_check_url_returns_the_url_unchanged() -> None:
    url = "https://hooks.example.com:8443/path?q=1"
    assert check_url(url) == url
