"""The in-memory adapter (unit tests): eventsourcing's plain-Python recorder, with each stream's positions kept
beside it, so reading a stream needs nothing but the recorder's public methods."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.popo import POPOAggregateRecorder, POPOApplicationRecorder

from eventstore.cipher import FieldCipher
from eventstore.recorder_store import RecorderEventStore


class PositionedPOPORecorder(POPOApplicationRecorder):
    """The plain-Python recorder, remembering the log position of each stream's events as it appends them."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._positions: dict[str, list[int]] = defaultdict(list)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self._lock:
            positions = super().insert_events(stored_events, **kwargs) or []
            for stored, position in zip(stored_events, positions, strict=True):
                self._positions[str(stored.originator_id)].append(position)
            return positions

    def read_stream(self, stream_id: Any, after_version: int | None) -> Sequence[Notification]:
        """The stream's events after ``after_version`` (all when None), with their positions."""
        with self._lock:
            stored = self.select_events(stream_id, gt=after_version)
            positions = self._positions[str(stream_id)][len(self._positions[str(stream_id)]) - len(stored) :]
            return [_notification(p, s) for p, s in zip(positions, stored, strict=True)]


def open_memory(cipher: FieldCipher | None) -> RecorderEventStore:
    recorder = PositionedPOPORecorder()
    snapshots = POPOAggregateRecorder()
    return RecorderEventStore("memory", recorder, recorder.read_stream, snapshots, push=True, cipher=cipher)


def _notification(position: int, stored: StoredEvent) -> Notification:
    return Notification(
        id=position,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )
