"""What the adapters share: the error for an unknown setting, the largest position, building a recorder factory
and a stream's event from a row."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, Notification

LAST_POSITION = 2**63 - 1
"""The largest position SQLite and PostgreSQL can hold: ``until`` when the caller gives none."""


class UnknownEventStoreError(ValueError):
    """The setting names no event-store adapter."""


def factory_for(env: dict[str, str]) -> Any:
    """eventsourcing's persistence module named by ``env`` (its PERSISTENCE_MODULE and settings)."""
    return InfrastructureFactory.construct(env)


def notification(stream_id: UUID, position: int, version: int, topic: str, state: bytes) -> Notification:
    """One event of a stream as an adapter's own SELECT reads it: position, version, topic, stored state."""
    return Notification(originator_id=stream_id, originator_version=version, topic=topic, state=state, id=position)
