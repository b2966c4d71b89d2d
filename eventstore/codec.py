"""Turns domain events into stored bytes and back, upcasting old shapes on the way in.

Stored state is JSON: {"meta": <Metadata>, "data": <the event's own fields>}. Event fields are
JSON-native values (str, int, float, bool, None, lists and dicts of them); the event's time is the
metadata's recorded_at, so replay never consults a clock.

With a field cipher, the fields an event class names in ``encrypted_fields`` are stored sealed with the
tenant's data key and listed under "enc": {"meta": ..., "data": ..., "enc": ["display_name"]}. Once the
tenant's key is destroyed they read as ERASED, and the event is otherwise intact.

With a blob store, the fields an event class names in ``blob_fields`` are stored apart, by content, and the event
carries their SHA-256, listed under "blobs" (see eventstore/blobs.py); reading checks each blob against its hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import msgspec
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from eventstore.blobs import BlobStore, BlobStoreMissingError, blob_fields_of, canonical, owner_of
from eventstore.cipher import FieldCipher, KeyErasedError, encrypted_fields_of
from eventstore.envelope import Metadata, RecordedEvent
from eventstore.moved_topics import register_moved_topics

register_moved_topics()  # before any event is decoded: the log holds the old topics of moved classes for ever

MAX_EVENT_BYTES = 256 * 1024
"""Far below EventStoreDB's 1 MiB append limit: events carry references, never rows."""

_BASE_FIELDS = ("originator_id", "originator_version", "timestamp")

ERASED = "[erased]"
"""What a sealed field reads as once its tenant's data key has been destroyed."""


class EventTooLargeError(ValueError):
    """An event's stored form is over the size limit; store a reference to the data instead."""


class FieldCipherMissingError(ValueError):
    """A stored event has sealed fields but the event store was opened without the field cipher."""


class _Stored(msgspec.Struct, frozen=True, omit_defaults=True):
    meta: Metadata
    data: dict[str, Any]
    enc: list[str] = []
    blobs: list[str] = []


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Stored)


def event_id_for(stream_id: UUID, version: int) -> UUID:
    """The event id is fixed by its place in its stream, so a retried write or publish is recognisable."""
    return uuid5(stream_id, str(version))


def type_name(cls: type) -> str:
    """The stable public name of an event class, e.g. ``TenantOnboarded`` (CloudEvents type suffix)."""
    return cls.__qualname__.replace(".", "")


def context_of(cls: type) -> str:
    """The bounded context an event belongs to: its module's name under ``domain`` (a package's name for the
    modules inside it, as ``domain.actions.runs`` is the actions context)."""
    parts = cls.__module__.split(".")
    return parts[1] if parts[0] == "domain" and len(parts) > 1 else parts[-1]


def class_version(cls: type) -> int:
    return int(getattr(cls, "class_version", 1))


def event_data(event: Any) -> dict[str, Any]:
    return {k: v for k, v in event.__dict__.items() if k not in _BASE_FIELDS}


def _seal(cls: type, data: dict[str, Any], tenant_id: str | None, cipher: FieldCipher | None) -> list[str]:
    """Replaces the class's encrypted fields in ``data`` by sealed tokens; returns their names."""
    if cipher is None:
        return []
    sealed = [name for name in encrypted_fields_of(cls) if name in data]
    for name in sealed:
        data[name] = cipher.encrypt(tenant_id, data[name])
    return sealed


def _open(envelope: _Stored, data: dict[str, Any], cipher: FieldCipher | None) -> dict[str, Any]:
    """Opens the sealed fields of ``data``; a field whose data key was destroyed reads as ERASED."""
    if not envelope.enc:
        return data
    if cipher is None:
        msg = f"event {envelope.meta.event_id} has sealed fields; open the event store with the field cipher"
        raise FieldCipherMissingError(msg)
    for name in envelope.enc:
        try:
            data[name] = cipher.decrypt(envelope.meta.tenant_id, data[name])
        except KeyErasedError:
            data[name] = ERASED
    return data


def _put_apart(cls: type, data: dict[str, Any], tenant_id: str | None, blobs: BlobStore | None) -> list[str]:
    """Stores the class's blob fields of ``data`` in the blob store and puts their SHA-256 in their place."""
    if blobs is None:
        return []
    apart = [name for name in blob_fields_of(cls) if name in data]
    for name in apart:
        content = canonical(data[name])
        data[name] = hashlib.sha256(content).hexdigest()
        blobs.put(owner_of(tenant_id), data[name], content)
    return apart


def _fetch(envelope: _Stored, data: dict[str, Any], blobs: BlobStore | None) -> dict[str, Any]:
    """Puts the content of each blob field back in place of its hash, checked against it by the blob store."""
    if not envelope.blobs:
        return data
    if blobs is None:
        msg = f"event {envelope.meta.event_id} has fields stored apart; open the event store with the blob store"
        raise BlobStoreMissingError(msg)
    for name in envelope.blobs:
        data[name] = json.loads(blobs.get(owner_of(envelope.meta.tenant_id), data[name]))
    return data


def encode(
    event: Any, metadata: Metadata, cipher: FieldCipher | None = None, blobs: BlobStore | None = None
) -> StoredEvent:
    data = event_data(event)
    sealed = _seal(type(event), data, metadata.tenant_id, cipher)
    apart = _put_apart(type(event), data, metadata.tenant_id, blobs)
    state = _encoder.encode(_Stored(meta=metadata, data=data, enc=sealed, blobs=apart))
    if len(state) > MAX_EVENT_BYTES:
        msg = f"event {type_name(type(event))} is {len(state)} bytes; the limit is {MAX_EVENT_BYTES}"
        raise EventTooLargeError(msg)
    return StoredEvent(
        originator_id=event.originator_id,
        originator_version=event.originator_version,
        topic=get_topic(type(event)),
        state=state,
    )


def as_read(position: int, event: Any, metadata: Metadata) -> RecordedEvent:
    """An event just appended at ``position``, as a read of the log gives it back: through its stored JSON, so its
    fields have the types a read gives them (the fields a read opens or fetches are taken as they are, in clear)."""
    state = _encoder.encode(_Stored(meta=metadata, data=event_data(event)))
    return decode_row(position, event.originator_id, event.originator_version, get_topic(type(event)), state)


def upcast(cls: type, data: dict[str, Any], from_version: int) -> dict[str, Any]:
    """Applies the class's ``upcast_vN_vM`` static methods until the data has the current shape."""
    version = from_version
    while version < class_version(cls):
        getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
        version += 1
    return data


@functools.cache
def _resolved(topic: str) -> tuple[Any, str, int]:
    """The class a topic names, its public type name and its current class version (a topic never changes)."""
    cls = resolve_topic(topic)
    return cls, type_name(cls), class_version(cls)


def decode(
    position: int, stored: StoredEvent, cipher: FieldCipher | None = None, blobs: BlobStore | None = None
) -> RecordedEvent:
    stream_id = stored.originator_id if isinstance(stored.originator_id, UUID) else UUID(stored.originator_id)
    return decode_row(position, stream_id, stored.originator_version, stored.topic, stored.state, cipher, blobs)


def decode_row(
    position: int,
    stream_id: UUID,
    version: int,
    topic: str,
    state: bytes,
    cipher: FieldCipher | None = None,
    blobs: BlobStore | None = None,
) -> RecordedEvent:
    """``decode`` for the columns an adapter's own SELECT reads, without building a StoredEvent first."""
    envelope = _decoder.decode(state)
    cls, name, current_version = _resolved(topic)
    meta = envelope.meta
    data = _fetch(envelope, _open(envelope, envelope.data, cipher), blobs)  # a dict of our own: msgspec made it
    if meta.schema_version < current_version:
        data = upcast(cls, data, meta.schema_version)
    event = cls.__new__(cls)
    event.__dict__.update(
        originator_id=stream_id,
        originator_version=version,
        timestamp=datetime.fromisoformat(meta.recorded_at),
        **data,
    )
    return RecordedEvent(position, stream_id, version, topic, name, meta, data, event)
