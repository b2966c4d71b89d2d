"""The one implementation of the port, over an eventsourcing application recorder.

Every adapter (memory, SQLite, PostgreSQL, EventStoreDB) is this class plus how to build its recorder, its snapshot
recorder and how to read one stream with positions (and, where it pays, the log); so the conformance suite covers
the shared logic everywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    IntegrityError,
    Notification,
    PersistenceError,
)

from eventstore import codec, snapshots
from eventstore.blobs import BlobStore
from eventstore.cipher import FieldCipher
from eventstore.envelope import RecordedEvent
from eventstore.port import ConcurrencyError, EventStoreUnavailableError, PendingEvent, RawEvent, Subscription
from eventstore.snapshots import Snapshot
from eventstore.subscriptions import QueueSubscription, polling_source

StreamReader = Callable[[UUID, int | None], Sequence[Notification]]
"""(stream id, after version or None for all) -> the stream's events with their positions, in order."""
Row = tuple[int, UUID, int, str, bytes]
"""One stored event as an adapter's own SELECT reads it: position, stream id, version, topic, state."""
LogReader = Callable[[int, int, int | None], Sequence[Row]]
"""(after, limit, until) -> rows with after < position <= until, oldest first (the port's read_all)."""
RawLogReader = Callable[[int, int, int | None], list[RawEvent]]
"""(after, limit, until) -> the port's read_raw, from an adapter's own SELECT."""


class RecorderEventStore:
    """Event store over an eventsourcing ApplicationRecorder; with a cipher, sealed fields are encrypted at rest;
    with a blob store, fields declared ``blob_fields`` are stored apart by content."""

    def __init__(
        self,
        name: str,
        recorder: ApplicationRecorder,
        read_stream_notifications: StreamReader,
        snapshot_recorder: AggregateRecorder,
        *,
        push: bool,
        on_close: Callable[[], None] = lambda: None,
        poll_interval: float = 0.05,
        cipher: FieldCipher | None = None,
        read_log: LogReader | None = None,
        read_raw_log: RawLogReader | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self.name = name
        self.recorder = recorder
        self._read_stream_notifications = read_stream_notifications
        self._snapshots = snapshot_recorder
        self._read_log = read_log
        self._read_raw_log = read_raw_log
        self._push = push
        self._on_close = on_close
        self._poll_interval = poll_interval
        self._cipher = cipher
        self.blobs = blobs

    def append(self, events: Sequence[PendingEvent]) -> list[int]:
        if not events:
            return []
        if len({pending.event.originator_id for pending in events}) != 1:
            msg = "one append writes one stream"
            raise ValueError(msg)
        stored = [codec.encode(pending.event, pending.metadata, self._cipher, self.blobs) for pending in events]
        try:
            positions = self.recorder.insert_events(stored)
        except IntegrityError as error:
            raise ConcurrencyError(str(error)) from error
        except PersistenceError as error:
            raise EventStoreUnavailableError(str(error)) from error
        assert positions is not None, "application recorders return positions"
        return list(positions)

    def read_stream(self, stream_id: UUID, after_version: int | None = None) -> list[RecordedEvent]:
        found = self._read_stream_notifications(stream_id, after_version)
        return [codec.decode(n.id, n, self._cipher, self.blobs) for n in found]

    def save_snapshot(self, snapshot: Snapshot) -> bool:
        stored = snapshots.encode(snapshot, self._cipher)
        if stored is None:
            return False
        try:
            newest = self._snapshots.select_events(snapshot.stream_id, desc=True, limit=1)
            if newest and newest[0].originator_version >= snapshot.version:
                return False  # the same on every adapter (EventStoreDB's would keep an equal one again)
            self._snapshots.insert_events([stored])
        except IntegrityError:  # a snapshot of this version is kept already
            return False
        except PersistenceError as error:
            raise EventStoreUnavailableError(str(error)) from error
        return True

    def load_snapshot(self, stream_id: UUID) -> Snapshot | None:
        try:
            newest = self._snapshots.select_events(stream_id, desc=True, limit=1)
        except PersistenceError as error:
            raise EventStoreUnavailableError(str(error)) from error
        return snapshots.decode(newest[0], self._cipher) if newest else None

    def read_all(self, after: int, limit: int, until: int | None = None) -> list[RecordedEvent]:
        if self._read_log is not None:
            return [codec.decode_row(*row, self._cipher, self.blobs) for row in self._read_log(after, limit, until)]
        notifications = self.recorder.select_notifications(after, limit, stop=until, inclusive_of_start=False)
        return [codec.decode(n.id, n, self._cipher, self.blobs) for n in notifications]

    def read_raw(self, after: int, limit: int, until: int | None = None) -> list[RawEvent]:
        if self._read_raw_log is not None:
            return self._read_raw_log(after, limit, until)
        notifications = self.recorder.select_notifications(after, limit, stop=until, inclusive_of_start=False)
        return [
            (n.id, _uuid_hex(n.originator_id), n.originator_version, n.topic, bytes(n.state)) for n in notifications
        ]

    def last_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def subscribe(self, after: int) -> Subscription:
        if self._push:
            return QueueSubscription(self._push_source(after))
        return QueueSubscription(polling_source(self._read_after, after, self._poll_interval))

    def _read_after(self, after: int, limit: int) -> list[RecordedEvent]:
        return self.read_all(after, limit)

    def _push_source(self, after: int) -> Callable[[threading.Event], Iterable[RecordedEvent]]:
        def source(stop: threading.Event) -> Iterator[RecordedEvent]:
            with self.recorder.subscribe(gt=after or None) as notifications:

                def stop_when_asked() -> None:
                    stop.wait()
                    notifications.stop()

                threading.Thread(target=stop_when_asked, daemon=True).start()
                for notification in notifications:
                    yield codec.decode(notification.id, notification, self._cipher, self.blobs)

        return source

    def close(self) -> None:
        self._on_close()


def _uuid_hex(stream_id: UUID | str) -> str:
    return (stream_id if isinstance(stream_id, UUID) else UUID(stream_id)).hex
