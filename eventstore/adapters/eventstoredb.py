"""The EventStoreDB (KurrentDB) adapter: the eventsourcing persistence module for EventStoreDB, reading one stream
with each event's commit position; snapshots go to the module's own snapshot streams (``snapshot-$<id>``), which
its reads of the log leave out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from eventstore.adapters.shared import factory_for, notification
from eventstore.cipher import FieldCipher
from eventstore.recorder_store import RecorderEventStore


def open_eventstoredb(url: str, cipher: FieldCipher | None) -> RecorderEventStore:
    from eventsourcing_eventstoredb.recorders import EventStoreDBApplicationRecorder
    from kurrentdbclient.exceptions import NotFoundError

    class PerEventPositions(EventStoreDBApplicationRecorder):
        """Answers each appended event's own commit position (the module answers the append's for all of them)."""

        def insert_events(self, stored_events: Any, **kwargs: Any) -> Sequence[int]:
            super().insert_events(stored_events, **kwargs)
            first = stored_events[0]
            recorded = self.client.read_stream(
                str(first.originator_id), stream_position=first.originator_version, limit=len(stored_events)
            )
            return [_commit_position(r) for r in recorded]

    factory = factory_for({"PERSISTENCE_MODULE": "eventsourcing_eventstoredb", "EVENTSTOREDB_URI": url})

    def read_stream(stream_id: UUID, after_version: int | None) -> Sequence[Notification]:
        start = None if after_version is None else after_version + 1
        try:
            recorded = factory.client.read_stream(str(stream_id), stream_position=start)
            return [notification(stream_id, _commit_position(r), r.stream_position, r.type, r.data) for r in recorded]
        except NotFoundError:
            return []

    recorder = PerEventPositions(factory.client)
    snapshots = factory.aggregate_recorder("snapshots")
    return RecorderEventStore("eventstoredb", recorder, read_stream, snapshots, push=True, cipher=cipher)


def _commit_position(recorded: Any) -> int:
    if recorded.commit_position is None:
        msg = f"EventStoreDB gave no commit position for {recorded.stream_name}@{recorded.stream_position}"
        raise ValueError(msg)
    return int(recorded.commit_position)
