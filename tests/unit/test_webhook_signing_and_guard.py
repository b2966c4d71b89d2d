"""The pieces of webhook delivery that need no network: Standard Webhooks signatures (checked with the
``standardwebhooks`` package), the SSRF guard's judgement of addresses, Retry-After, the subscribable event types
and the payload with its sealed fields left out."""

from __future__ import annotations

import ipaddress
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from standardwebhooks import Webhook

from adapters.delivery.events import event_types, type_of_class, webhook_event_types, webhook_payload
from adapters.delivery.guard import AddressGuard, TargetRefusedError
from adapters.delivery.http import retry_after
from adapters.delivery.signing import BadSecretError, headers, new_secret, signature, signing_key
from adapters.nats import cloudevents
from domain.errors import InvalidValueError
from domain.secrets import Secret
from domain.tenants import Tenant
from domain.webhooks import Delivery, WebhookEndpoint
from eventstore import codec
from eventstore.envelope import Metadata, RecordedEvent
from interfaces.settings.values import networks

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
TENANT = "8f0e0c8e-8a55-4f6c-9c1e-0d8e6f1b2a3c"


# --- signatures


def test_the_signature_matches_the_standards_published_example() -> None:
    # The example of the Standard Webhooks specification (and of its reference libraries' tests).
    secret, msg_id, timestamp = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(secret, msg_id, timestamp, b'{"test": 2432232314}') == expected


def test_headers_verify_with_the_standardwebhooks_package() -> None:
    secret, body, at = new_secret(), b'{"type":"platform.tenants.TenantSuspended"}', datetime.now(UTC)
    sent = headers(secret, "evt-1", at, body)
    assert sent["webhook-id"] == "evt-1"
    assert sent["webhook-timestamp"] == str(int(at.timestamp()))
    assert Webhook(secret).verify(body, sent) == {"type": "platform.tenants.TenantSuspended"}
    tampered = dict(sent, **{"webhook-id": "evt-2"})
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(secret).verify(body, tampered)


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert first != second
    assert len(signing_key(first)) == 32


@pytest.mark.parametrize("bad", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_what_is_not_a_whsec_secret_is_refused(bad: str) -> None:
    with pytest.raises(BadSecretError):
        signing_key(bad)


# --- the SSRF guard


def resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        family = socket.AF_INET6
        return [(family, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:a00:1::",
        "64:ff9b::a9fe:a9fe",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    guard = AddressGuard(resolve=resolver(address))
    assert not guard.permits(ipaddress.ip_address(address))
    with pytest.raises(TargetRefusedError, match="not a public address"):
        guard.check("https://hooks.example.com/in")


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    guard = AddressGuard(resolve=resolver(address))
    guard.check("https://hooks.example.com/in")
    assert guard.addresses("hooks.example.com", 443) == [ipaddress.ip_address(address)]


def test_one_refused_address_among_the_answers_refuses_the_host_without_naming_it() -> None:
    guard = AddressGuard(resolve=resolver("93.184.215.14", "10.0.0.7"))
    with pytest.raises(TargetRefusedError, match="not in the allowed networks") as refused:
        guard.check("http://hooks.example.com/")
    assert "10.0.0.7" not in str(refused.value)
    assert "93.184.215.14" not in str(refused.value)


def test_allowed_networks_let_their_addresses_through_and_only_those() -> None:
    guard = AddressGuard(networks("127.0.0.0/8, ::1/128"), resolve=resolver("127.0.0.1"))
    guard.check("http://localhost:8080/")
    assert guard.permits(ipaddress.ip_address("::1"))
    assert not guard.permits(ipaddress.ip_address("10.0.0.1"))


def test_a_host_that_does_not_resolve_is_refused() -> None:
    def fails(*_: Any, **__: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(TargetRefusedError, match="does not resolve") as refused:
        AddressGuard(resolve=fails).check("https://nowhere.invalid/")
    assert "Name or service" not in str(refused.value)  # the resolver's own words stay out of the answer


def test_refusals_are_invalid_values_and_so_422s() -> None:
    assert issubclass(TargetRefusedError, InvalidValueError)


# --- Retry-After


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("120", NOW) == 120.0
    assert retry_after("Wed, 06 May 2026 07:10:09 GMT", NOW) == 120.0
    assert retry_after("Wed, 06 May 2026 07:00:00 GMT", NOW) == 0.0
    assert retry_after(None, NOW) is None
    assert retry_after("soon", NOW) is None


# --- event types and payloads


def recorded(event: Any, tenant_id: str | None = TENANT) -> RecordedEvent:
    meta = Metadata(
        event_id=str(uuid4()),
        tenant_id=tenant_id,
        actor="user:test",
        command_id="c1",
        correlation_id="c1",
        causation_id=None,
        traceparent=None,
        recorded_at=NOW.isoformat(),
        schema_version=1,
    )
    stored = codec.encode(event, meta)
    return codec.decode(7, stored)


def test_the_types_are_those_the_cloudevents_mapping_gives_and_webhook_events_are_not_offered() -> None:
    tenant = Tenant.onboard("acme", "Acme", "standard")
    tenant.suspend("unpaid")
    [_, suspended] = tenant.collect_events()
    assert (
        type_of_class(type(suspended))
        == cloudevents.event_type(recorded(suspended))
        == ("platform.tenants.TenantSuspended")
    )
    assert {"platform.tenants.TenantOnboarded", "platform.secrets.SecretStored"} <= webhook_event_types()
    assert "platform.tenants.TenantCreated" not in event_types()  # eventsourcing's unused base
    assert not any(name.endswith("Event") for name in event_types())
    assert type_of_class(WebhookEndpoint.Subscribed) in event_types()
    assert type_of_class(Delivery.Delivered) not in webhook_event_types()
    assert not any(name.startswith("platform.webhooks.") for name in webhook_event_types())


def test_a_payload_is_the_cloudevent_without_the_fields_sealed_in_the_log() -> None:
    stored = Secret.store(TENANT, "api-token", "s3cret-value", "fp")
    [event] = stored.collect_events()
    item = recorded(event)
    body = webhook_payload(item)
    assert b"s3cret-value" not in body
    payload = json.loads(body)
    assert payload["type"] == "platform.secrets.SecretStored"
    assert payload["id"] == item.event_id
    assert "value" not in payload["data"]
    assert (payload["data"]["name"], payload["data"]["fingerprint"]) == ("api-token", "fp")
    assert payload["specversion"] == "1.0"
    assert webhook_payload(item) == body  # every attempt sends the same bytes


def test_a_payload_without_sealed_fields_is_the_cloudevent_as_nats_carries_it() -> None:
    tenant = Tenant.onboard("acme", "Acme", "standard")
    [event] = tenant.collect_events()
    item = recorded(event, str(tenant.id))
    assert webhook_payload(item) == cloudevents.encode(item)
    assert datetime.fromisoformat(json.loads(webhook_payload(item))["time"]) - NOW == timedelta(0)
