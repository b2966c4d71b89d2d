"""Event fields stored apart by content (``blob_fields``): contract documents and their typed forms."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent
from jsonschema import Draft202012Validator

from adapters.catalogue.events import json_schemas
from adapters.nats import cloudevents
from domain.contracts import DataContract, canonical_json, read_contract
from eventstore import codec
from eventstore.blobs import (
    BlobIntegrityError,
    BlobMissingError,
    BlobStoreMissingError,
    InMemoryBlobs,
    canonical,
)
from eventstore.envelope import Metadata

TENANT = "4f9a1c52-0000-4000-8000-000000000001"


def contract_document(version: str = "1.0.0") -> dict[str, Any]:
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "orders",
        "version": version,
        "name": "Orders",
        "description": {"purpose": "Ünïcode stays as it is"},
        "schema": [{"name": "orders", "properties": [{"name": "order_id", "logicalType": "string"}]}],
    }


def drafted() -> Any:
    [event] = DataContract.draft(TENANT, read_contract(contract_document()), "engineer-1").collect_events()
    return event


def meta(event: Any) -> Metadata:
    return Metadata(
        event_id=str(codec.event_id_for(event.originator_id, event.originator_version)),
        tenant_id=TENANT,
        actor="engineer-1",
        command_id="cmd-1",
        correlation_id="corr-1",
        causation_id=None,
        traceparent=None,
        recorded_at="2026-01-01T00:00:00+00:00",
        schema_version=1,
    )


def test_blob_fields_are_stored_apart_and_the_event_carries_their_sha256() -> None:
    event, blobs = drafted(), InMemoryBlobs()

    stored = codec.encode(event, meta(event), blobs=blobs)

    state = json.loads(stored.state)
    assert state["blobs"] == ["document", "spec"]
    assert state["data"]["document"] == event.sha256 == hashlib.sha256(canonical_json(event.document)).hexdigest()
    assert state["data"]["spec"] == hashlib.sha256(canonical(event.spec)).hexdigest()
    assert blobs.blobs[(TENANT, event.sha256)] == canonical_json(event.document)


def test_reading_the_event_puts_the_checked_content_back() -> None:
    event, blobs = drafted(), InMemoryBlobs()
    stored = codec.encode(event, meta(event), blobs=blobs)

    back = codec.decode(5, stored, blobs=blobs)

    assert back.event.document == event.document
    assert back.event.spec == event.spec
    assert back.event.mutate(None).versions["1.0.0"].spec == event.spec


def test_an_altered_blob_is_refused_when_read() -> None:
    event, blobs = drafted(), InMemoryBlobs()
    stored = codec.encode(event, meta(event), blobs=blobs)
    blobs.blobs[(TENANT, event.sha256)] = blobs.blobs[(TENANT, event.sha256)].replace(b"Orders", b"Ordres")

    with pytest.raises(BlobIntegrityError):
        codec.decode(5, stored, blobs=blobs)


def test_a_missing_blob_or_a_missing_blob_store_is_an_error_not_an_empty_field() -> None:
    event = drafted()
    stored = codec.encode(event, meta(event), blobs=InMemoryBlobs())

    with pytest.raises(BlobMissingError):
        codec.decode(5, stored, blobs=InMemoryBlobs())
    with pytest.raises(BlobStoreMissingError):
        codec.decode(5, stored)


def test_without_a_blob_store_the_fields_stay_inline() -> None:
    event = drafted()

    stored = codec.encode(event, meta(event))

    assert "blobs" not in json.loads(stored.state)
    assert codec.decode(5, stored).event.document == event.document


def test_an_event_stored_before_documents_went_apart_still_reads_and_replays() -> None:
    """The old shape: document and typed form inline, no "blobs" list; read as it is, blob store or not."""
    event = drafted()
    data = {k: v for k, v in event.__dict__.items() if k not in ("originator_id", "originator_version", "timestamp")}
    old_state = msgspec.json.encode({"meta": meta(event), "data": data})
    assert b'"blobs"' not in old_state
    old = StoredEvent(
        originator_id=event.originator_id,
        originator_version=0,
        topic="domain.contracts:DataContract.Drafted",
        state=old_state,
    )

    back = codec.decode(5, old, blobs=InMemoryBlobs())

    assert back.event.document == event.document
    assert back.event.mutate(None).versions["1.0.0"].document == event.document


def test_on_nats_a_blob_field_travels_as_its_sha256_and_comes_back_from_the_blob_store() -> None:
    event, blobs = drafted(), InMemoryBlobs()
    recorded = codec.decode(5, codec.encode(event, meta(event), blobs=blobs), blobs=blobs)

    payload = cloudevents.encode(recorded)
    message = json.loads(payload)
    back = cloudevents.decode(payload, blobs=blobs)

    assert message["blobfields"] == "document,spec"
    assert message["data"]["document"] == event.sha256
    assert len(payload) < 2048
    assert back.event.document == event.document
    assert back.event.spec == event.spec


def test_the_event_catalogue_describes_a_blob_field_as_the_hash_the_wire_carries() -> None:
    event, blobs = drafted(), InMemoryBlobs()
    recorded = codec.decode(5, codec.encode(event, meta(event), blobs=blobs), blobs=blobs)
    schema = json_schemas()["platform.contracts.DataContractDrafted"]
    wire = msgspec.to_builtins(cloudevents.to_cloud_event(recorded))

    assert schema["properties"]["document"]["pattern"] == "^[0-9a-f]{64}$"
    assert Draft202012Validator(schema).is_valid(wire["data"])
    assert not Draft202012Validator(schema).is_valid(wire["data"] | {"document": event.document})
