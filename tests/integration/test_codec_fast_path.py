"""The trimmed decode (per-topic cache, no copies, upcasting only old shapes) returns what it always returned.

``decode_before`` below is codec.decode as it was before the fast path, kept here as the reference. Every
event of a spread (tenant lifecycles, sealed fields, erased keys, old shapes upcast, a stream id stored as
text, a shape newer than the class) decodes to an equal RecordedEvent and an equal domain event, down to
the order of the event's attributes. The adapters' own log SELECT reads what the recorder path reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from domain.aggregate import Aggregate
from domain.tenants import Tenant
from eventstore import codec
from eventstore.adapters import open_event_store
from eventstore.cipher import FieldCipher, KeyErasedError
from eventstore.codec import _decoder, _open, decode, encode, event_id_for, type_name, upcast
from eventstore.envelope import Metadata, RecordedEvent

NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def decode_before(position: int, stored: StoredEvent, cipher: FieldCipher | None = None) -> RecordedEvent:
    """codec.decode before the fast path, verbatim."""
    envelope = _decoder.decode(stored.state)
    cls = resolve_topic(stored.topic)
    data = upcast(cls, _open(envelope, dict(envelope.data), cipher), envelope.meta.schema_version)
    stream_id = stored.originator_id if isinstance(stored.originator_id, UUID) else UUID(stored.originator_id)
    event = cls.__new__(cls)
    event.__dict__.update(
        originator_id=stream_id,
        originator_version=stored.originator_version,
        timestamp=datetime.fromisoformat(envelope.meta.recorded_at),
        **data,
    )
    return RecordedEvent(
        position=position,
        stream_id=stream_id,
        version=stored.originator_version,
        topic=stored.topic,
        type=type_name(cls),
        metadata=envelope.meta,
        data=data,
        event=event,
    )


class Cipher:
    """Reversible sealing; tenants in ``erased`` have lost their data key."""

    def __init__(self) -> None:
        self.erased: set[str | None] = set()

    def encrypt(self, tenant_id: str | None, value: Any) -> str:
        return "sealed:" + msgspec.json.encode(value).hex()

    def decrypt(self, tenant_id: str | None, token: str) -> Any:
        if tenant_id in self.erased:
            raise KeyErasedError(tenant_id)
        return msgspec.json.decode(bytes.fromhex(token.removeprefix("sealed:")))


class Badge(Aggregate):
    """Version 3 of ``Issued``: v1 had ``label``; v2 added sealed ``holder``; v3 renamed ``label`` to ``title``."""

    class Issued(Aggregate.Created):
        class_version = 3
        encrypted_fields = ("holder",)
        title: str
        holder: str
        tags: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["holder"] = "unknown"

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["title"] = state.pop("label")

    class Revoked(Aggregate.Event):
        reason: str | None

    @event(Issued)
    def __init__(self, title: str, holder: str, tags: list[str]) -> None:
        self.title = title

    @event(Revoked)
    def revoke(self, reason: str | None) -> None:
        pass


def metadata(new_event: Any, tenant_id: str | None, schema_version: int | None = None) -> Metadata:
    return Metadata(
        event_id=str(event_id_for(new_event.originator_id, new_event.originator_version)),
        tenant_id=tenant_id,
        actor="user:alice",
        command_id="cmd-1",
        correlation_id="corr-1",
        causation_id=None,
        traceparent=None,
        recorded_at=NOW.isoformat(),
        schema_version=codec.class_version(type(new_event)) if schema_version is None else schema_version,
    )


def old_shape(badge_id: UUID, version: int, data: dict[str, Any], sealed: tuple[str, ...] = ()) -> StoredEvent:
    """A ``Badge.Issued`` as an older deployment stored it (schema ``version``)."""
    meta = Metadata(
        event_id=str(event_id_for(badge_id, 0)),
        tenant_id=None,
        actor="user:old",
        command_id="cmd-old",
        correlation_id="corr-old",
        causation_id=None,
        traceparent=None,
        recorded_at="2025-01-02T03:04:05+00:00",
        schema_version=version,
    )
    document = {"meta": meta, "data": {"originator_topic": get_topic(Badge), **data}}
    state = msgspec.json.encode(document | ({"enc": list(sealed)} if sealed else {}))
    return StoredEvent(originator_id=badge_id, originator_version=0, topic=get_topic(Badge.Issued), state=state)


def spread(cipher: Cipher) -> list[StoredEvent]:
    """Stored events of every kind the codec meets."""
    stored: list[StoredEvent] = []
    tenant = Tenant.onboard("acme", "Acme Corp", "standard")
    tenant.change_entitlements(["catalog"], {"seats": 5})
    tenant.suspend("unpaid")
    tenant.reinstate()
    tenant.offboard("left", erase=True)
    stored += [encode(e, metadata(e, str(tenant.id))) for e in tenant.collect_events()]
    tenant_id = str(uuid4())
    badge = Badge("gold", "Ada", ["a", "b"])
    badge.revoke(None)
    badge.revoke("lost")
    stored += [encode(e, metadata(e, tenant_id), cipher) for e in badge.collect_events()]
    erased = Badge("silver", "Grace", [])
    cipher.erased.add("erased-tenant")
    stored += [encode(e, metadata(e, "erased-tenant"), cipher) for e in erased.collect_events()]
    stored.append(old_shape(uuid4(), 1, {"label": "v1", "tags": []}))
    stored.append(
        old_shape(uuid4(), 2, {"label": "v2", "holder": cipher.encrypt(None, "Lin"), "tags": []}, ("holder",))
    )
    stored.append(old_shape(uuid4(), 4, {"title": "v4", "holder": "Kim", "tags": [], "extra": 1}))
    as_text = stored[0]
    stored.append(StoredEvent(str(as_text.originator_id), as_text.originator_version, as_text.topic, as_text.state))
    return stored


def assert_same(new: RecordedEvent, old: RecordedEvent) -> None:
    assert new == old
    assert type(new.event) is type(old.event)
    assert list(new.event.__dict__.items()) == list(old.event.__dict__.items())
    assert list(new.data.items()) == list(old.data.items())
    assert type(new.stream_id) is UUID


def test_decode_returns_what_it_returned_before() -> None:
    cipher = Cipher()
    events = spread(cipher)
    for position, stored in enumerate(events, start=1):
        assert_same(decode(position, stored, cipher), decode_before(position, stored, cipher))
    decoded = [decode(n, s, cipher) for n, s in enumerate(events, start=1)]
    assert {r.data.get("holder") for r in decoded if isinstance(r.event, Badge.Issued)} >= {
        "Ada",
        codec.ERASED,
        "unknown",
        "Lin",
    }
    assert [r.data["title"] for r in decoded if isinstance(r.event, Badge.Issued)] == [
        "gold",
        "silver",
        "v1",
        "v2",
        "v4",
    ]


def test_decoding_twice_gives_independent_results() -> None:
    """No cached object is shared between two decodes of the same bytes that a caller could change."""
    [stored] = [s for s in spread(Cipher()) if s.topic == get_topic(Badge.Revoked)][:1]
    first, second = decode(1, stored), decode(1, stored)
    first.data["reason"] = "changed"
    assert second.data["reason"] is None
    assert first.event is not second.event


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_read_all_reads_what_the_recorder_path_reads(kind: str, tmp_path: Path) -> None:
    cipher = Cipher()
    store = open_event_store(kind, str(tmp_path / "events.db"), cipher=cipher)
    try:
        for stored in spread(cipher)[:-1]:  # the last one repeats the first's place in its stream
            store.recorder.insert_events([stored])
        notifications = store.recorder.select_notifications(0, 100, inclusive_of_start=False)
        through_recorder = [decode_before(n.id, n, cipher) for n in notifications]
        assert len(through_recorder) == len(spread(cipher)) - 1

        assert store.read_all(0, 100) == through_recorder
        assert store.read_all(2, 3) == through_recorder[2:5]
        assert store.read_all(2, 100, until=through_recorder[6].position) == through_recorder[2:7]
        for new, old in zip(store.read_all(0, 100), through_recorder, strict=True):
            assert_same(new, old)
    finally:
        store.close()
