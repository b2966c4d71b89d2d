"""Snapshots: an aggregate's state as of one version of its stream, so loading it reads only the events after.

A snapshot is derived data: it is kept apart from the log (a table or stream of its own, never a position, never
in the evidence ledger or on NATS) and may be dropped at any time; loading falls back to the whole stream.

The state is packed with MessagePack (dict keys keep their types, datetimes stay datetimes) and kept only when it
unpacks equal to what was packed, so an aggregate whose state does not survive the trip is never snapshotted.
The commands its events recorded (command id -> last position and request fingerprint) travel with it, so a
retried command is still answered as its first run after its events fell behind the snapshot.

With a field cipher, the whole packed snapshot is sealed with its tenant's data key. An aggregate's state need not
name its events' sealed fields as the events do (a field may be copied or renamed), so sealing only the fields the
events declare could leak; sealing all of it cannot. Once the tenant's key is destroyed the snapshot no longer
opens and loading replays the stream, whose sealed fields read as erased.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent

from eventstore.cipher import FieldCipher, KeyErasedError
from eventstore.codec import MAX_EVENT_BYTES

TOPIC_SUFFIX = "#Snapshot"
"""Ends every stored snapshot's topic: EventStoreDB's module leaves types ending "Snapshot" out of its log reads."""
_NOT_STATE = ("_id", "_pending_events")
T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """The state of the aggregate of ``stream_id`` after its event at ``version`` (at log ``position``)."""

    stream_id: UUID
    version: int
    position: int
    topic: str
    """The aggregate class's topic."""
    tenant_id: str | None
    state: dict[str, Any]
    commands: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    """Each command id its events recorded: the position of its last event and its request fingerprint."""


class _Body(msgspec.Struct, frozen=True):
    position: int
    state: dict[str, Any]
    commands: dict[str, tuple[int, str | None]]


class _Stored(msgspec.Struct, frozen=True):
    tenant_id: str | None
    body: str
    sealed: bool


def state_of(aggregate: Any) -> dict[str, Any]:
    """What a snapshot keeps of an aggregate: its attributes but its id (the stream's) and pending events."""
    return {k: v for k, v in aggregate.__dict__.items() if k not in _NOT_STATE}


def encode(snapshot: Snapshot, cipher: FieldCipher | None) -> StoredEvent | None:
    """The stored form; None when the state does not unpack as it was, is over the size of an event, or belongs to
    a tenant whose data key is destroyed."""
    packed = msgspec.msgpack.encode(_Body(snapshot.position, snapshot.state, snapshot.commands))
    if len(packed) > MAX_EVENT_BYTES or msgspec.msgpack.decode(packed)["state"] != snapshot.state:
        return None
    body = base64.b64encode(packed).decode()
    if cipher is not None:
        try:
            body = cipher.encrypt(snapshot.tenant_id, body)
        except KeyErasedError:  # an erased tenant's state is not kept again
            return None
    state = msgspec.json.encode(_Stored(snapshot.tenant_id, body, cipher is not None))
    topic = snapshot.topic + TOPIC_SUFFIX
    return StoredEvent(originator_id=snapshot.stream_id, originator_version=snapshot.version, topic=topic, state=state)


def decode(stored: StoredEvent, cipher: FieldCipher | None) -> Snapshot | None:
    """The snapshot; None when it cannot be opened (its tenant's data key was destroyed, or no cipher is given)."""
    envelope = msgspec.json.decode(stored.state, type=_Stored)
    body = envelope.body
    if envelope.sealed:
        if cipher is None:
            return None
        try:
            body = cipher.decrypt(envelope.tenant_id, body)
        except KeyErasedError:
            return None
    unpacked = msgspec.msgpack.decode(base64.b64decode(body), type=_Body)
    stream_id = stored.originator_id if isinstance(stored.originator_id, UUID) else UUID(stored.originator_id)
    topic = stored.topic.removesuffix(TOPIC_SUFFIX)
    return Snapshot(
        stream_id,
        stored.originator_version,
        unpacked.position,
        topic,
        envelope.tenant_id,
        unpacked.state,
        dict(unpacked.commands),
    )


def restore(cls: type[T], snapshot: Snapshot) -> T:
    """The aggregate as the snapshot keeps it."""
    aggregate = cls.__new__(cls)
    aggregate.__dict__.update(snapshot.state, _id=snapshot.stream_id, _pending_events=[])
    return aggregate
