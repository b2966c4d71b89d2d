"""Turns domain events into stored bytes and back, upcasting old shapes on the way in.

Stored state is JSON: {"meta": <Metadata>, "data": <the event's own fields>}. Event fields are
JSON-native values (str, int, float, bool, None, lists and dicts of them); the event's time is the
metadata's recorded_at, so replay never consults a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import msgspec
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from eventstore.envelope import Metadata, RecordedEvent

MAX_EVENT_BYTES = 256 * 1024
"""Far below EventStoreDB's 1 MiB append limit: events carry references, never rows."""

_BASE_FIELDS = ("originator_id", "originator_version", "timestamp")


class EventTooLargeError(ValueError):
    """An event's stored form is over the size limit; store a reference to the data instead."""


class _Stored(msgspec.Struct, frozen=True):
    meta: Metadata
    data: dict[str, Any]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Stored)


def event_id_for(stream_id: UUID, version: int) -> UUID:
    """The event id is fixed by its place in its stream, so a retried write or publish is recognisable."""
    return uuid5(stream_id, str(version))


def type_name(cls: type) -> str:
    """The stable public name of an event class, e.g. ``TenantOnboarded`` (CloudEvents type suffix)."""
    return cls.__qualname__.replace(".", "")


def context_of(cls: type) -> str:
    """The bounded context an event belongs to: its module's name under ``domain``."""
    return cls.__module__.rsplit(".", 1)[-1]


def class_version(cls: type) -> int:
    return int(getattr(cls, "class_version", 1))


def event_data(event: Any) -> dict[str, Any]:
    return {k: v for k, v in event.__dict__.items() if k not in _BASE_FIELDS}


def encode(event: Any, metadata: Metadata) -> StoredEvent:
    state = _encoder.encode(_Stored(meta=metadata, data=event_data(event)))
    if len(state) > MAX_EVENT_BYTES:
        msg = f"event {type_name(type(event))} is {len(state)} bytes; the limit is {MAX_EVENT_BYTES}"
        raise EventTooLargeError(msg)
    return StoredEvent(
        originator_id=event.originator_id,
        originator_version=event.originator_version,
        topic=get_topic(type(event)),
        state=state,
    )


def upcast(cls: type, data: dict[str, Any], from_version: int) -> dict[str, Any]:
    """Applies the class's ``upcast_vN_vM`` static methods until the data has the current shape."""
    version = from_version
    while version < class_version(cls):
        getattr(cls, f"upcast_v{version}_v{version + 1}")(data)
        version += 1
    return data


def decode(position: int, stored: StoredEvent) -> RecordedEvent:
    envelope = _decoder.decode(stored.state)
    cls = resolve_topic(stored.topic)
    data = upcast(cls, dict(envelope.data), envelope.meta.schema_version)
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
