"""The codec with a field cipher: declared fields are sealed at rest, opened on read, and read as erased
once their tenant's key is gone. A hand-written fake cipher stands in for adapters/keys (our own port)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import StoredEvent

from domain.aggregate import Aggregate
from domain.tenants import Tenant
from eventstore.cipher import KeyErasedError, encrypted_fields_of
from eventstore.codec import ERASED, FieldCipherMissingError, decode, encode, event_id_for
from eventstore.envelope import Metadata

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


class FakeCipher:
    """Reversible and obviously not clear text; tenants in ``erased`` have lost their key."""

    def __init__(self) -> None:
        self.erased: set[str | None] = set()
        self.calls: list[tuple[str, str | None]] = []

    def encrypt(self, tenant_id: str | None, value: Any) -> str:
        self.calls.append(("encrypt", tenant_id))
        if tenant_id in self.erased:
            raise KeyErasedError(tenant_id)
        return "sealed:" + msgspec.json.encode(value).hex()

    def decrypt(self, tenant_id: str | None, token: str) -> Any:
        self.calls.append(("decrypt", tenant_id))
        if tenant_id in self.erased:
            raise KeyErasedError(tenant_id)
        return msgspec.json.decode(bytes.fromhex(token.removeprefix("sealed:")))


class Person(Aggregate):
    class Noted(Aggregate.Created):
        encrypted_fields = ("name", "tags")
        name: str
        tags: list[str]
        city: str

    class Renamed(Aggregate.Event):
        class_version = 2
        encrypted_fields = ("full_name",)
        full_name: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["full_name"] = state.pop("name")

    @event(Noted)
    def __init__(self, name: str, tags: list[str], city: str) -> None:
        self.name = name

    @event(Renamed)
    def rename(self, full_name: str) -> None:
        self.name = full_name


def meta(new_event: Any, tenant_id: str | None, schema_version: int = 1) -> Metadata:
    return Metadata(
        event_id=str(event_id_for(new_event.originator_id, new_event.originator_version)),
        tenant_id=tenant_id,
        actor="user:alice",
        command_id="cmd-1",
        correlation_id="corr-1",
        causation_id=None,
        traceparent=None,
        recorded_at=NOW.isoformat(),
        schema_version=schema_version,
    )


def noted(tenant: str | None = "t-1") -> tuple[Any, Metadata]:
    [new] = Person("Alice Liddell", ["vip"], "Oxford").collect_events()
    return new, meta(new, tenant)


def test_declared_fields_are_sealed_at_rest_and_listed_in_the_envelope() -> None:
    cipher = FakeCipher()
    new, metadata = noted()

    document = json.loads(encode(new, metadata, cipher).state)

    assert document["enc"] == ["name", "tags"]
    assert document["data"]["name"].startswith("sealed:")
    assert document["data"]["tags"].startswith("sealed:")
    assert document["data"]["city"] == "Oxford"
    assert b"Alice" not in encode(new, metadata, cipher).state
    assert ("encrypt", "t-1") in cipher.calls


def test_sealed_fields_are_opened_on_read() -> None:
    cipher = FakeCipher()
    new, metadata = noted()

    recorded = decode(7, encode(new, metadata, cipher), cipher)

    assert recorded.data == {
        "originator_topic": new.originator_topic,
        "name": "Alice Liddell",
        "tags": ["vip"],
        "city": "Oxford",
    }
    assert (recorded.event.name, recorded.event.tags) == ("Alice Liddell", ["vip"])
    assert recorded.event.mutate(None).name == "Alice Liddell"


def test_fields_of_an_erased_tenant_read_as_erased_and_the_rest_of_the_event_is_intact() -> None:
    cipher = FakeCipher()
    new, metadata = noted()
    stored = encode(new, metadata, cipher)
    cipher.erased.add("t-1")

    recorded = decode(7, stored, cipher)

    assert (recorded.event.name, recorded.event.tags, recorded.event.city) == (ERASED, ERASED, "Oxford")
    assert recorded.metadata == metadata
    assert recorded.event.mutate(None).name == ERASED


def test_events_of_no_tenant_use_the_platform_key() -> None:
    cipher = FakeCipher()
    new, metadata = noted(tenant=None)

    recorded = decode(1, encode(new, metadata, cipher), cipher)

    assert recorded.event.name == "Alice Liddell"
    assert cipher.calls == [("encrypt", None), ("encrypt", None), ("decrypt", None), ("decrypt", None)]


def test_without_a_cipher_nothing_is_sealed_and_the_stored_form_is_unchanged() -> None:
    new, metadata = noted()

    document = json.loads(encode(new, metadata).state)

    assert "enc" not in document
    assert document["data"]["name"] == "Alice Liddell"
    assert decode(1, encode(new, metadata)).event.name == "Alice Liddell"


def test_events_declaring_nothing_are_byte_for_byte_what_they_were_without_a_cipher() -> None:
    tenant = Tenant.onboard("acme", "Acme Corp", "trial")
    [onboarded] = tenant.collect_events()
    metadata = meta(onboarded, str(tenant.id))

    assert encode(onboarded, metadata, FakeCipher()).state == encode(onboarded, metadata).state
    assert encrypted_fields_of(Tenant.Onboarded) == ()


def test_reading_sealed_fields_without_the_cipher_fails_loudly_rather_than_showing_tokens() -> None:
    new, metadata = noted()
    stored = encode(new, metadata, FakeCipher())

    with pytest.raises(FieldCipherMissingError, match="field cipher"):
        decode(1, stored)


def test_writing_for_a_tenant_whose_key_is_destroyed_is_refused() -> None:
    cipher = FakeCipher()
    cipher.erased.add("t-1")
    new, metadata = noted()

    with pytest.raises(KeyErasedError):
        encode(new, metadata, cipher)


def test_an_old_shape_is_opened_before_it_is_upcast() -> None:
    """A v1 ``Renamed`` sealed ``name``; it is decrypted under its stored name, then upcast to ``full_name``."""
    cipher = FakeCipher()
    person = Person("Alice", [], "Oxford")
    person.rename("Alice Liddell")
    _, renamed = person.collect_events()
    old_shape = {"meta": msgspec.to_builtins(meta(renamed, "t-1", schema_version=1)), "enc": ["name"]}
    old_shape["data"] = {"name": cipher.encrypt("t-1", "Alice Liddell")}
    current = encode(renamed, meta(renamed, "t-1", 2), cipher)
    state = json.dumps(old_shape).encode()
    stored = StoredEvent(current.originator_id, current.originator_version, current.topic, state)

    recorded = decode(3, stored, cipher)

    assert recorded.event.full_name == "Alice Liddell"
    assert "name" not in recorded.data


def test_the_principal_event_declares_its_personal_fields() -> None:
    from domain.access import Principal
    from domain.secrets import Secret

    assert set(encrypted_fields_of(Principal.Registered)) == {"subject", "display_name"}
    assert encrypted_fields_of(Secret.Stored) == ("value",)
    assert encrypted_fields_of(Secret.Rotated) == ("value",)
