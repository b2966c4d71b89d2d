"""The ledger's leaves: the canonical bytes of one stored event, and their hashes computed in bulk.

Layout, version 1 (an auditor recomputes a leaf hash from ``GET /v1/ledger/entries/{leaf_index}`` alone: the
response body is exactly these bytes, and the leaf hash is SHA-256(0x00 || body))::

    offset     size  field
    0          1     layout version: 0x01
    1          2     topic length T, unsigned big-endian
    3          T     topic: the event class's topic as stored (UTF-8), e.g. ``domain.tenants:Tenant.Onboarded``
    3+T        32    stream id: the aggregate's UUID as 32 lowercase hex digits (ASCII), without dashes
    35+T       8     stream version, unsigned big-endian (streams start at 0)
    43+T       rest  state: the stored JSON {"meta", "data", "enc"} byte for byte, as the event store holds it

The stored JSON carries the metadata (event id, tenant id, actor, command, correlation and causation ids,
traceparent, recorded-at, schema version). Sealed fields stay sealed, so destroying a tenant's data key
(crypto-shredding) never changes a leaf. The log position is not in the bytes: the leaf index is the event's
place in the log, and the ledger keeps the position beside it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import msgspec

from eventstore.codec import event_id_for
from eventstore.port import RawEvent

LAYOUT_VERSION = 1
_STREAM = struct.Struct(">32sQ")
_pack_stream = _STREAM.pack
_sha256 = hashlib.sha256


class _Prefixes(dict[str, bytes]):
    """topic -> 0x00 (the leaf prefix) || layout version || topic length || topic: the same for every event of a
    topic, made on first sight."""

    def __missing__(self, topic: str) -> bytes:
        encoded = topic.encode()
        prefix = self[topic] = b"\x00" + struct.pack(">BH", LAYOUT_VERSION, len(encoded)) + encoded
        return prefix


_prefixes = _Prefixes()


class EntryLayoutError(ValueError):
    """Bytes that are not a ledger entry of a layout this platform knows."""


def canonical_bytes(stream_id: str, version: int, topic: str, state: bytes) -> bytes:
    """The entry of one stored event (without the 0x00 leaf prefix); ``stream_id`` in 32 hex digits."""
    return _prefixes[topic][1:] + _pack_stream(stream_id.encode(), version) + state


def leaf_hashes(events: Sequence[RawEvent]) -> list[bytes]:
    """SHA-256(0x00 || canonical bytes) of each event, in order: the hot loop of catch-up and verification."""
    prefixes, pack, sha = _prefixes, _pack_stream, _sha256
    return [
        sha(prefixes[topic] + pack(stream_id.encode(), version) + state).digest()
        for _, stream_id, version, topic, state in events
    ]


@dataclass(frozen=True)
class ParsedEntry:
    """An entry's fields, as an auditor reads them back from its bytes."""

    topic: str
    stream_id: UUID
    version: int
    state: bytes


def parse_entry(entry: bytes) -> ParsedEntry:
    """The fields of an entry's bytes (the inverse of ``canonical_bytes``)."""
    if len(entry) < 3 or entry[0] != LAYOUT_VERSION:
        msg = f"not a ledger entry of layout {LAYOUT_VERSION}"
        raise EntryLayoutError(msg)
    (topic_length,) = struct.unpack_from(">H", entry, 1)
    start = 3 + topic_length
    if len(entry) < start + _STREAM.size:
        msg = "a ledger entry is cut short"
        raise EntryLayoutError(msg)
    stream_id, version = _STREAM.unpack_from(entry, start)
    return ParsedEntry(entry[3:start].decode(), UUID(hex=stream_id.decode()), version, entry[start + _STREAM.size :])


class _Meta(msgspec.Struct):
    event_id: str
    tenant_id: str | None = None


class _Envelope(msgspec.Struct):
    meta: _Meta


_envelope = msgspec.json.Decoder(_Envelope).decode


@dataclass(frozen=True)
class Identity:
    """Whose event a leaf is: its event id and tenant (None for the platform's own events)."""

    event_id: str
    tenant_id: str | None


def identity_of(event: RawEvent) -> Identity:
    """The event id and tenant a stored event's metadata names; a state that does not parse still has its
    event id (fixed by stream and version) and is treated as the platform's."""
    try:
        meta = _envelope(event[4]).meta
    except msgspec.DecodeError:
        return Identity(str(event_id_for(UUID(hex=event[1]), event[2])), None)
    return Identity(meta.event_id, meta.tenant_id)
