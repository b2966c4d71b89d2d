"""The event-store port: what the application and the read side need from any event store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventstore.blobs import BlobStore
from eventstore.envelope import Metadata, RecordedEvent
from eventstore.snapshots import Snapshot

RawEvent = tuple[int, str, int, str, bytes]
"""One event exactly as the store holds it: (position, stream id as 32 lowercase hex digits, stream version, topic,
stored state). The state is the stored JSON ({"meta", "data", "enc"}) byte for byte: sealed fields stay sealed,
nothing is upcast. The evidence ledger hashes these; a plain tuple, since it reads millions of them."""


class ConcurrencyError(Exception):
    """Someone else wrote to the stream first; reload and decide again."""


class EventStoreUnavailableError(Exception):
    """The event store could not be reached or refused the operation."""


@dataclass(frozen=True)
class PendingEvent:
    """A new domain event with the metadata it is to be stored with."""

    event: Any
    metadata: Metadata


class Subscription(Protocol):
    """Events after a position, in log order, blocking for new ones until stopped."""

    def __iter__(self) -> Iterator[RecordedEvent]: ...

    def next_batch(self, limit: int, timeout: float) -> list[RecordedEvent]:
        """Up to ``limit`` events; waits at most ``timeout`` seconds for the first."""
        ...

    def stop(self) -> None: ...


class EventStore(Protocol):
    """One totally ordered log of streams. Positions grow but may have gaps; streams start at 0."""

    name: str
    blobs: BlobStore | None
    """Where the fields events keep apart (``blob_fields``) are stored; None keeps them inline."""

    def append(self, events: Sequence[PendingEvent]) -> list[int]:
        """Appends events of one stream atomically, the first at its expected version.

        Returns each event's position. Raises ConcurrencyError when the stream has moved on.
        """
        ...

    def read_stream(self, stream_id: UUID, after_version: int | None = None) -> list[RecordedEvent]:
        """The stream's events in order; only those after ``after_version`` when given (e.g. a snapshot's)."""
        ...

    def save_snapshot(self, snapshot: Snapshot) -> bool:
        """Keeps a snapshot apart from the log (no position, never read by ``read_all``); False when it is not kept
        (its state does not survive being stored, it is too large, or the stream has one as new already)."""
        ...

    def load_snapshot(self, stream_id: UUID) -> Snapshot | None:
        """The stream's newest snapshot; None when it has none or it no longer opens (its data key is destroyed)."""
        ...

    def read_all(self, after: int, limit: int, until: int | None = None) -> list[RecordedEvent]:
        """Events with position > ``after`` (and <= ``until``), oldest first."""
        ...

    def read_raw(self, after: int, limit: int, until: int | None = None) -> list[RawEvent]:
        """The stored records with position > ``after`` (and <= ``until``), oldest first, not decoded."""
        ...

    def last_position(self) -> int:
        """The position of the newest event, 0 when the log is empty."""
        ...

    def subscribe(self, after: int) -> Subscription: ...

    def close(self) -> None: ...
