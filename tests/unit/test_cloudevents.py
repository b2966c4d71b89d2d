"""Platform events as CloudEvents 1.0 (structured JSON) and back; NATS subjects."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.delivery.events import webhook_payload
from adapters.nats import cloudevents
from domain.aggregate import Aggregate
from domain.tenants import Tenant
from eventstore import codec
from eventstore.cipher import KeyErasedError
from eventstore.envelope import Metadata, RecordedEvent

NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
TENANT = "8f0e0c8e-8a55-4f6c-9c1e-0d8e6f1b2a3c"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Gauge(Aggregate):
    """Version 2 of ``Read``: v1 had ``value``, v2 calls it ``amount``."""

    class Read(Aggregate.Created):
        class_version = 2
        amount: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["amount"] = state.pop("value")

    @event(Read)
    def __init__(self, amount: int) -> None:
        self.amount = amount


class Vault(Aggregate):
    class Filled(Aggregate.Created):
        encrypted_fields = ("secret",)
        label: str
        secret: str

    @event(Filled)
    def __init__(self, label: str, secret: str) -> None:
        self.label = label
        self.secret = secret


class FakeCipher:
    """Seals by wrapping in a readable token; tenants in ``erased`` have lost their key."""

    def __init__(self, erased: frozenset[str | None] = frozenset()) -> None:
        self.erased = erased

    def encrypt(self, tenant_id: str | None, value: Any) -> str:
        if tenant_id in self.erased:
            raise KeyErasedError(tenant_id)
        return f"sealed:{tenant_id}:{json.dumps(value)}"

    def decrypt(self, tenant_id: str | None, token: str) -> Any:
        if tenant_id in self.erased:
            raise KeyErasedError(tenant_id)
        prefix = f"sealed:{tenant_id}:"
        assert token.startswith(prefix)
        return json.loads(token.removeprefix(prefix))


def metadata(new_event: Any, *, tenant_id: str | None, schema_version: int = 1, **changes: Any) -> Metadata:
    values: dict[str, Any] = {
        "event_id": str(codec.event_id_for(new_event.originator_id, new_event.originator_version)),
        "tenant_id": tenant_id,
        "actor": "user:alice",
        "command_id": "cmd-1",
        "correlation_id": "corr-1",
        "causation_id": "cause-1",
        "traceparent": TRACEPARENT,
        "recorded_at": NOW.isoformat(),
        "schema_version": schema_version,
    }
    return Metadata(**(values | changes))


def recorded_tenant_events() -> list[RecordedEvent]:
    tenant = Tenant.onboard("acme", "Acme Corp", "trial")
    tenant.suspend("unpaid")
    return [
        codec.decode(position, codec.encode(new, metadata(new, tenant_id=str(tenant.id))))
        for position, new in enumerate(tenant.collect_events(), start=7)
    ]


def test_a_recorded_event_becomes_a_cloud_event_with_its_metadata_as_extensions() -> None:
    onboarded, _ = recorded_tenant_events()

    cloud_event = json.loads(cloudevents.encode(onboarded))

    assert cloud_event == {
        "specversion": "1.0",
        "id": onboarded.event_id,
        "source": "/platform/tenants",
        "type": "platform.tenants.TenantOnboarded",
        "subject": str(onboarded.stream_id),
        "time": NOW.isoformat(),
        "datacontenttype": "application/json",
        "data": onboarded.data,
        "position": "7",
        "streamid": str(onboarded.stream_id),
        "streamversion": 0,
        "eventtopic": "domain.tenants:Tenant.Onboarded",
        "actor": "user:alice",
        "commandid": "cmd-1",
        "correlationid": "corr-1",
        "schemaversion": 1,
        "tenantid": str(onboarded.stream_id),
        "causationid": "cause-1",
        "traceparent": TRACEPARENT,
    }
    assert cloud_event["data"]["slug"] == "acme"


def test_attribute_names_are_lowercase_alphanumeric_and_absent_ones_are_omitted() -> None:
    _, suspended = recorded_tenant_events()
    bare = dataclasses.replace(
        suspended, metadata=msgspec.structs.replace(suspended.metadata, causation_id=None, traceparent=None)
    )

    cloud_event = json.loads(cloudevents.encode(bare))

    assert all(re.fullmatch(r"[a-z0-9]{1,20}", name) for name in cloud_event)
    assert None not in cloud_event.values()
    assert {"causationid", "traceparent", "sealedfields"}.isdisjoint(cloud_event)


def test_a_cloud_event_decodes_back_into_the_same_recorded_event() -> None:
    for recorded in recorded_tenant_events():
        back = cloudevents.decode(cloudevents.encode(recorded))

        assert dataclasses.replace(back, event=None) == dataclasses.replace(recorded, event=None)
        assert type(back.event) is type(recorded.event)
        assert back.event.__dict__ == recorded.event.__dict__


def test_the_tenant_is_rebuilt_from_its_cloud_events() -> None:
    onboarded, suspended = (cloudevents.decode(cloudevents.encode(r)) for r in recorded_tenant_events())

    tenant = suspended.event.mutate(onboarded.event.mutate(None))

    assert (tenant.slug, tenant.display_name, tenant.plan, tenant.status) == ("acme", "Acme Corp", "trial", "suspended")


def test_data_is_sent_in_the_current_shape_and_never_upcast_twice() -> None:
    gauge_id = uuid4()
    old = Metadata(
        event_id=str(codec.event_id_for(gauge_id, 0)),
        tenant_id=None,
        actor="user:old",
        command_id="cmd-old",
        correlation_id="corr-old",
        causation_id=None,
        traceparent=None,
        recorded_at=NOW.isoformat(),
        schema_version=1,
    )
    state = msgspec.json.encode({"meta": old, "data": {"originator_topic": get_topic(Gauge), "value": 9}})
    stored = StoredEvent(originator_id=gauge_id, originator_version=0, topic=get_topic(Gauge.Read), state=state)
    recorded = codec.decode(3, stored)

    cloud_event = cloudevents.to_cloud_event(recorded)
    back = cloudevents.decode(cloudevents.encode(recorded))

    assert (cloud_event.schemaversion, cloud_event.data["amount"]) == (2, 9)
    assert "value" not in cloud_event.data
    assert back.event.amount == 9
    assert back.metadata.schema_version == 2


def test_an_older_message_shape_is_upcast_on_the_way_in() -> None:
    gauge = Gauge(4)
    [read] = gauge.collect_events()
    recorded = codec.decode(1, codec.encode(read, metadata(read, tenant_id=None, schema_version=2)))
    old_message = msgspec.structs.replace(
        cloudevents.to_cloud_event(recorded), schemaversion=1, data={"originator_topic": get_topic(Gauge), "value": 4}
    )

    back = cloudevents.to_recorded(old_message)

    assert back.event.amount == 4
    assert back.event.mutate(None).amount == 4


@pytest.mark.parametrize(
    ("tenant_id", "expected"),
    [
        (
            "8f0e0c8e-8a55-4f6c-9c1e-0d8e6f1b2a3c",
            "platform.8f0e0c8e-8a55-4f6c-9c1e-0d8e6f1b2a3c.tenants.TenantSuspended",
        ),
        (None, "platform._platform.tenants.TenantSuspended"),
        ("odd.tenant *>", "platform.odd_tenant___.tenants.TenantSuspended"),
    ],
)
def test_the_nats_subject_names_tenant_context_and_event(tenant_id: str | None, expected: str) -> None:
    _, suspended = recorded_tenant_events()
    recorded = dataclasses.replace(suspended, metadata=msgspec.structs.replace(suspended.metadata, tenant_id=tenant_id))

    assert cloudevents.nats_subject("platform", recorded) == expected


def test_subject_filters() -> None:
    assert cloudevents.subject_filter("platform") == "platform.>"
    assert cloudevents.subject_filter("platform", "tenants") == "platform.*.tenants.>"


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"specversion": "1.0"}',
        b"[]",
        lambda good: good.replace(b'"specversion":"1.0"', b'"specversion":"0.3"'),
        lambda good: good.replace(b'"position":"7"', b'"position":"-7"'),
    ],
)
def test_what_is_not_a_platform_cloud_event_is_refused(payload: Any) -> None:
    good = cloudevents.encode(recorded_tenant_events()[0])
    raw = payload(good) if callable(payload) else payload
    assert raw != good

    with pytest.raises(cloudevents.NotACloudEventError):
        cloudevents.parse(raw)


def test_unknown_extensions_from_other_producers_are_ignored() -> None:
    onboarded, _ = recorded_tenant_events()
    document = json.loads(cloudevents.encode(onboarded)) | {"dataref": "s3://x", "partitionkey": "p"}

    back = cloudevents.decode(json.dumps(document).encode())

    assert back.event_id == onboarded.event_id


def test_with_the_field_cipher_encrypted_fields_travel_sealed() -> None:
    vault = Vault("main", "hunter2")
    [filled] = vault.collect_events()
    recorded = codec.decode(1, codec.encode(filled, metadata(filled, tenant_id="t-1")))
    cipher = FakeCipher()

    message = cloudevents.to_cloud_event(recorded, cipher)
    back = cloudevents.decode(cloudevents.encode(recorded, cipher), cipher)

    assert message.sealedfields == "secret"
    assert message.data["secret"] == 'sealed:t-1:"hunter2"'
    assert message.data["label"] == "main"
    assert (back.event.secret, back.event.label) == ("hunter2", "main")
    assert back.data == recorded.data


def test_a_sealed_field_reads_as_erased_once_the_tenant_key_is_destroyed() -> None:
    vault = Vault("main", "hunter2")
    [filled] = vault.collect_events()
    recorded = codec.decode(1, codec.encode(filled, metadata(filled, tenant_id="t-1")))
    payload = cloudevents.encode(recorded, FakeCipher())

    back = cloudevents.decode(payload, FakeCipher(erased=frozenset({"t-1"})))

    assert back.event.secret == codec.ERASED
    assert cloudevents.to_cloud_event(back, FakeCipher(erased=frozenset({"t-1"}))).sealedfields == ""


def test_every_metadata_field_travels_in_the_message() -> None:
    """Fails when Metadata gains a field that no CloudEvent attribute carries yet."""
    onboarded, _ = recorded_tenant_events()

    back = cloudevents.decode(cloudevents.encode(onboarded))

    assert {f.name for f in msgspec.structs.fields(Metadata)} == {
        "event_id",
        "tenant_id",
        "actor",
        "command_id",
        "correlation_id",
        "causation_id",
        "traceparent",
        "recorded_at",
        "schema_version",
        "request_fingerprint",
    }
    assert back.metadata == onboarded.metadata
    keyed = dataclasses.replace(
        onboarded, metadata=msgspec.structs.replace(onboarded.metadata, request_fingerprint="f" * 64)
    )
    assert cloudevents.decode(cloudevents.encode(keyed)).metadata.request_fingerprint == "f" * 64
    assert "requestfingerprint" not in json.loads(cloudevents.encode(onboarded))  # absent, not null


def test_sealed_fields_travel_as_one_comma_separated_string() -> None:
    vault = Vault("main", "hunter2")
    [filled] = vault.collect_events()
    recorded = codec.decode(1, codec.encode(filled, metadata(filled, tenant_id="t-1")))

    document = json.loads(cloudevents.encode(recorded, FakeCipher()))

    assert document["sealedfields"] == "secret"
    assert cloudevents.field_names("label,secret") == ["label", "secret"]
    assert cloudevents.field_names("") == []


def test_a_message_still_carrying_the_old_array_form_is_read() -> None:
    vault = Vault("main", "hunter2")
    [filled] = vault.collect_events()
    recorded = codec.decode(1, codec.encode(filled, metadata(filled, tenant_id="t-1")))
    document = json.loads(cloudevents.encode(recorded, FakeCipher()))
    document["sealedfields"] = ["secret"]

    back = cloudevents.decode(json.dumps(document).encode(), FakeCipher())

    assert back.event.secret == "hunter2"


def test_a_field_name_holding_a_comma_is_refused_rather_than_listed() -> None:
    with pytest.raises(ValueError, match="comma"):
        cloudevents.name_list(["a,b"])


INT32 = range(-(2**31), 2**31)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def cloud_event_type_errors(document: dict[str, Any]) -> list[str]:
    """Every attribute that is not of a CloudEvents 1.0 type in the JSON format (spec section 2 and the JSON
    event format section 2.2): Boolean as a JSON boolean, Integer as a JSON number in the signed 32-bit range,
    String, Binary (base64), URI, URI-reference and Timestamp as JSON strings; names 1-20 lowercase letters or
    digits. Arrays, objects and null have no place among attributes."""
    errors = []
    for name, value in document.items():
        if name in ("data", "data_base64"):
            continue
        if not re.fullmatch(r"[a-z0-9]{1,20}", name):
            errors.append(f"{name}: not a valid attribute name")
        if isinstance(value, bool | str):
            continue
        if not (isinstance(value, int) and value in INT32):
            errors.append(f"{name}: {type(value).__name__} {value!r} is no CloudEvents type")
    if not RFC3339.fullmatch(document.get("time", "")):
        errors.append("time: not an RFC 3339 timestamp")
    if document.get("specversion") != "1.0" or not document.get("id") or not document.get("source"):
        errors.append("specversion, id and source are required")
    return errors


def test_every_attribute_of_an_emitted_cloud_event_is_of_a_cloudevents_type() -> None:
    """The ``cloudevents`` SDK is not in the lock file, so the types are checked here, per the spec."""
    vault = Vault("main", "hunter2")
    [filled] = vault.collect_events()
    sealed = codec.decode(1, codec.encode(filled, metadata(filled, tenant_id="t-1")))
    payloads = [cloudevents.encode(r) for r in recorded_tenant_events()]
    payloads.append(cloudevents.encode(sealed, FakeCipher()))

    documents = [json.loads(payload) for payload in payloads]

    assert "sealedfields" in documents[-1]
    assert [cloud_event_type_errors(d) for d in documents] == [[], [], []]
    assert cloud_event_type_errors(documents[-1] | {"sealedfields": ["secret"]}) != []


def test_a_webhook_payload_leaves_the_request_fingerprint_out() -> None:
    onboarded, _ = recorded_tenant_events()
    keyed = dataclasses.replace(
        onboarded, metadata=msgspec.structs.replace(onboarded.metadata, request_fingerprint="f" * 64)
    )
    assert "requestfingerprint" in json.loads(cloudevents.encode(keyed))
    assert "requestfingerprint" not in json.loads(webhook_payload(keyed))
