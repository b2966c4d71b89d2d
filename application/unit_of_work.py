"""The unit of work: the aggregates one command, one request or one process-manager pass works on, each loaded once.

An aggregate is loaded from its newest snapshot and the events after it (or its whole stream) the first time it is
asked for, then kept, with the command ids its events recorded, for the rest of the unit. A command on a kept
aggregate decides on it and appends at its version: if someone else wrote the stream meanwhile, the append fails,
the aggregate is loaded again and the command decides again, so keeping it never loses a write. A command that
refuses (raises) drops the aggregate it may have half-changed. A process manager may hand the unit a stream it read
whole from the log (``adopt``): it is kept as a loaded one would be. The unit notes the events its commands appended,
so a process-manager pass hands them on without reading the log back (``recorded_after``).

Snapshots are taken after a save that takes a stream past a multiple of ``SNAPSHOT_INTERVALS[class]`` events, for
aggregates whose streams grow without bound (a product gains a version per published batch, a tenant an event per
change of entitlements or status, a schema subject a version per approved contract version, a policy one per
revision). Contracts are not snapshotted: their versions hold dataclasses, whose state does not survive the trip.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.aggregate import Aggregate
from domain.policy import Policy
from domain.products import DataProduct
from domain.schemas import Subject
from domain.tenants import Tenant
from eventstore.codec import as_read
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore, EventStoreUnavailableError, PendingEvent
from eventstore.snapshots import Snapshot, restore, state_of

A = TypeVar("A", bound=Aggregate)
log = logging.getLogger(__name__)

SNAPSHOT_INTERVALS: dict[type[Aggregate], int] = {DataProduct: 20, Tenant: 20, Subject: 20, Policy: 20}
"""Aggregates snapshotted, and after how many new events; as eventsourcing's ``snapshotting_intervals``."""


@dataclass
class Loaded:
    """An aggregate as its stream says (None when the stream is empty), and what the unit knows of that stream."""

    aggregate: Any
    position: int = 0
    """The log position of the stream's last event (0 when it has none)."""
    commands: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    """Each command id the stream's events recorded: the position of its last event, its request fingerprint."""
    tenant_id: str | None = None
    unread: bool = False
    """Taken to be empty without reading it (a command that starts a stream appends at version 0 first)."""

    @property
    def version(self) -> int:
        return -1 if self.aggregate is None else int(self.aggregate.version)

    def seen(self, events: Sequence[RecordedEvent]) -> None:
        """Applies the events read after what is loaded."""
        for recorded in events:
            self.aggregate = recorded.event.mutate(self.aggregate)
            meta = recorded.metadata
            self.remember(meta.command_id, recorded.position, meta.request_fingerprint, meta.tenant_id)

    def remember(self, command_id: str, position: int, fingerprint: str | None, tenant_id: str | None) -> None:
        """Notes an event of the stream (read, or appended by this unit: the aggregate applied it already)."""
        self.commands[command_id] = (position, fingerprint)
        self.position = position
        self.tenant_id = tenant_id


def load(store: EventStore, stream_id: UUID, cls: type[Aggregate] | None = None) -> Loaded:
    """The aggregate of a stream: from its snapshot and the later events when its class is snapshotted."""
    snapshot = store.load_snapshot(stream_id) if cls is not None and cls in SNAPSHOT_INTERVALS else None
    if cls is None or snapshot is None:
        loaded = Loaded(None)
        loaded.seen(store.read_stream(stream_id))
        return loaded
    aggregate = restore(cls, snapshot)
    loaded = Loaded(aggregate, snapshot.position, dict(snapshot.commands), snapshot.tenant_id)
    loaded.seen(store.read_stream(stream_id, after_version=snapshot.version))
    return loaded


def snapshot_if_due(store: EventStore, stream_id: UUID, loaded: Loaded, appended: int) -> None:
    """Saves a snapshot when the aggregate's class is snapshotted and the ``appended`` events just saved took its
    stream past a multiple of the interval (whoever loaded it, and however: the stream's length decides)."""
    interval = SNAPSHOT_INTERVALS.get(type(loaded.aggregate))
    length = loaded.version + 1
    if interval is None or length // interval == (length - appended) // interval:
        return
    state = state_of(loaded.aggregate)
    topic = get_topic(type(loaded.aggregate))
    snapshot = Snapshot(stream_id, loaded.version, loaded.position, topic, loaded.tenant_id, state, loaded.commands)
    try:
        store.save_snapshot(snapshot)
    except EventStoreUnavailableError as error:  # the command is stored: a snapshot can wait for the next one
        log.warning("snapshot of %s not saved: %s", stream_id, error)


class UnitOfWork:
    """Aggregates loaded once each for one command, request or process-manager pass (an identity map)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self._loaded: dict[UUID, Loaded] = {}
        self._written: list[tuple[int, PendingEvent]] = []

    def get(self, stream_id: UUID, cls: type[A] | None = None) -> A | None:
        """The aggregate of a stream as this unit knows it (loaded on first use); None when the stream is empty.

        ``cls`` names the aggregate's class, so a snapshotted one loads from its snapshot."""
        found: A | None = self.loaded(stream_id, cls).aggregate
        return found

    def knows(self, stream_id: UUID) -> bool:
        return stream_id in self._loaded

    def loaded(self, stream_id: UUID, cls: type[Aggregate] | None = None) -> Loaded:
        if stream_id not in self._loaded:
            self._loaded[stream_id] = load(self.store, stream_id, cls)
        return self._loaded[stream_id]

    def reload(self, stream_id: UUID, cls: type[Aggregate] | None = None) -> Loaded:
        """Forgets what the unit knows of a stream and loads it again (after someone else wrote it)."""
        self.forget(stream_id)
        return self.loaded(stream_id, cls)

    def adopt(self, stream_id: UUID, loaded: Loaded) -> None:
        """Keeps a stream as the caller read it whole from the log (every event since its first, as a load would
        give them), unless the unit holds it already; a command on it appends at its version, as on a loaded one."""
        self._loaded.setdefault(stream_id, loaded)

    def forget(self, stream_id: UUID) -> None:
        self._loaded.pop(stream_id, None)

    def saved(self, stream_id: UUID, loaded: Loaded, appended: int) -> None:
        """Keeps the aggregate as it is after ``appended`` new events were appended; snapshots it when due."""
        self._loaded[stream_id] = loaded
        snapshot_if_due(self.store, stream_id, loaded, appended)

    def wrote(self, events: Sequence[PendingEvent], positions: Sequence[int]) -> None:
        """Notes the events a command of this unit appended, at their positions."""
        self._written.extend(zip(positions, events, strict=True))

    def recorded_after(self, position: int) -> list[RecordedEvent]:
        """The events this unit appended after ``position``, in log order, as a read of the log gives them back."""
        mine = sorted(((p, e) for p, e in self._written if p > position), key=lambda written: written[0])
        return [as_read(p, e.event, e.metadata) for p, e in mine]
