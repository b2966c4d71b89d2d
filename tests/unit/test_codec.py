"""The codec: domain events to stored bytes and back, event ids, public names, size limit, upcasting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.aggregate import Aggregate
from domain.tenants import Tenant
from eventstore.codec import (
    MAX_EVENT_BYTES,
    EventTooLargeError,
    class_version,
    context_of,
    decode,
    encode,
    event_id_for,
    type_name,
    upcast,
)
from eventstore.envelope import Metadata

NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def metadata_for(new_event: Any, schema_version: int = 1) -> Metadata:
    return Metadata(
        event_id=str(event_id_for(new_event.originator_id, new_event.originator_version)),
        tenant_id=str(new_event.originator_id),
        actor="user:alice",
        command_id="cmd-1",
        correlation_id="corr-1",
        causation_id=None,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        recorded_at=NOW.isoformat(),
        schema_version=schema_version,
    )


class Memo(Aggregate):
    class Written(Aggregate.Created):
        text: str

    @event(Written)
    def __init__(self, text: str) -> None:
        self.text = text


class Meter(Aggregate):
    """Version 3 of ``Read``: v1 had ``value``; v2 added ``unit``; v3 renamed ``value`` to ``amount``."""

    class Read(Aggregate.Created):
        class_version = 3
        amount: int
        unit: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["unit"] = "kWh"

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["amount"] = state.pop("value")

    @event(Read)
    def __init__(self, amount: int, unit: str) -> None:
        self.amount = amount
        self.unit = unit


def test_an_event_round_trips_through_its_stored_form() -> None:
    tenant = Tenant.onboard("acme", "Acme Corp", "trial")
    tenant.suspend("unpaid")
    onboarded, suspended = tenant.collect_events()
    meta = metadata_for(suspended)

    stored = encode(suspended, meta)
    recorded = decode(42, stored)

    assert (stored.originator_id, stored.originator_version) == (tenant.id, 1)
    assert stored.topic == "domain.tenants:Tenant.Suspended"
    assert recorded.position == 42
    assert (recorded.stream_id, recorded.version) == (tenant.id, 1)
    assert recorded.type == "TenantSuspended"
    assert recorded.metadata == meta
    assert recorded.data == {"reason": "unpaid"}
    assert isinstance(recorded.event, Tenant.Suspended)
    assert recorded.event.reason == "unpaid"
    assert recorded.event.originator_id == tenant.id
    assert recorded.event.timestamp == recorded.recorded_at == NOW
    assert (recorded.event_id, recorded.tenant_id) == (meta.event_id, str(tenant.id))

    rebuilt = decode(41, encode(onboarded, metadata_for(onboarded))).event.mutate(None)
    assert (rebuilt.id, rebuilt.slug, rebuilt.display_name, rebuilt.plan) == (tenant.id, "acme", "Acme Corp", "trial")
    assert (rebuilt.version, rebuilt.created_on) == (0, NOW)


def test_the_stored_form_is_the_documented_json_envelope() -> None:
    memo = Memo("hello")
    [written] = memo.collect_events()
    meta = metadata_for(written)

    document = json.loads(encode(written, meta).state)

    assert document == {
        "meta": {name: value for name, value in msgspec.structs.asdict(meta).items() if name != "request_fingerprint"},
        "data": {"originator_topic": get_topic(Memo), "text": "hello"},
    }
    assert not {"originator_id", "originator_version", "timestamp"} & set(document["data"])


def test_decode_accepts_a_stream_id_stored_as_text() -> None:
    memo = Memo("hello")
    [written] = memo.collect_events()
    stored = encode(written, metadata_for(written))
    as_text = StoredEvent(originator_id=str(memo.id), originator_version=0, topic=stored.topic, state=stored.state)

    recorded = decode(1, as_text)

    assert recorded.stream_id == memo.id
    assert isinstance(recorded.stream_id, UUID)


def test_the_event_id_is_fixed_by_stream_and_version() -> None:
    stream, other = uuid4(), uuid4()

    assert event_id_for(stream, 3) == event_id_for(UUID(str(stream)), 3)
    assert event_id_for(stream, 3).version == 5
    assert len({event_id_for(stream, 0), event_id_for(stream, 1), event_id_for(other, 0)}) == 3


def test_event_ids_never_change_between_releases() -> None:
    """Downstream ids (uuid5 of the causing event id) and deduplication rely on these exact values."""
    stream = UUID("6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10")

    assert event_id_for(stream, 0) == UUID("c4b6e3bb-e106-5293-bd6f-c38ee84bc040")
    assert event_id_for(stream, 7) == UUID("fda9b1ed-6647-5852-ac6c-1a16f0e9be16")


@pytest.mark.parametrize(
    ("cls", "name", "context"),
    [
        (Tenant.Onboarded, "TenantOnboarded", "tenants"),
        (Tenant.EntitlementsChanged, "TenantEntitlementsChanged", "tenants"),
        (Tenant.Offboarded, "TenantOffboarded", "tenants"),
        (Memo.Written, "MemoWritten", "test_codec"),
    ],
)
def test_public_type_name_and_context(cls: type, name: str, context: str) -> None:
    assert type_name(cls) == name
    assert context_of(cls) == context


def test_class_version_defaults_to_1() -> None:
    assert class_version(Tenant.Suspended) == 1
    assert class_version(Meter.Read) == 3


def test_the_size_limit_is_on_the_stored_bytes_exactly() -> None:
    probe = Memo("")
    [empty] = probe.collect_events()
    overhead = len(encode(empty, metadata_for(empty)).state)
    at_limit, over_limit = Memo("a" * (MAX_EVENT_BYTES - overhead)), Memo("a" * (MAX_EVENT_BYTES - overhead + 1))
    [fits] = at_limit.collect_events()
    [too_big] = over_limit.collect_events()
    # the two memos' ids differ, but every id has the same length, so the overhead is the same

    assert len(encode(fits, metadata_for(fits)).state) == MAX_EVENT_BYTES
    with pytest.raises(EventTooLargeError, match="MemoWritten"):
        encode(too_big, metadata_for(too_big))


def test_upcasting_applies_each_step_in_order_until_the_current_version() -> None:
    assert upcast(Meter.Read, {"value": 7}, from_version=1) == {"amount": 7, "unit": "kWh"}
    assert upcast(Meter.Read, {"value": 7, "unit": "MWh"}, from_version=2) == {"amount": 7, "unit": "MWh"}
    assert upcast(Meter.Read, {"amount": 7, "unit": "MWh"}, from_version=3) == {"amount": 7, "unit": "MWh"}


def test_decode_upcasts_an_old_stored_shape() -> None:
    meter_id = uuid4()
    meta = Metadata(
        event_id=str(event_id_for(meter_id, 0)),
        tenant_id=None,
        actor="user:old",
        command_id="cmd-old",
        correlation_id="corr-old",
        causation_id=None,
        traceparent=None,
        recorded_at=NOW.isoformat(),
        schema_version=1,
    )
    state = msgspec.json.encode({"meta": meta, "data": {"originator_topic": get_topic(Meter), "value": 9}})
    stored = StoredEvent(originator_id=meter_id, originator_version=0, topic=get_topic(Meter.Read), state=state)

    recorded = decode(5, stored)

    assert isinstance(recorded.event, Meter.Read)
    assert (recorded.event.amount, recorded.event.unit) == (9, "kWh")
    meter = recorded.event.mutate(None)
    assert (meter.id, meter.amount, meter.unit) == (meter_id, 9, "kWh")
