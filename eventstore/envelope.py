"""The event envelope: the metadata every stored event carries, and the recorded event read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class Metadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Who caused an event, why, and when it was recorded; stored with the event, never changed.

    ``request_fingerprint`` is a keyed digest of the HTTP request that sent the command under an Idempotency-Key
    (method, target and body): the same key with another request is refused, not replayed. Absent (and not stored)
    for commands sent without a key or not over HTTP."""

    event_id: str
    tenant_id: str | None
    actor: str
    command_id: str
    correlation_id: str
    causation_id: str | None
    traceparent: str | None
    recorded_at: str
    schema_version: int
    request_fingerprint: str | None = None


@dataclass(frozen=True)
class RecordedEvent:
    """A stored event read back: its place in the log, its metadata and the domain event itself."""

    position: int
    stream_id: UUID
    version: int
    topic: str
    type: str
    metadata: Metadata
    data: dict[str, Any]
    event: Any

    @property
    def recorded_at(self) -> datetime:
        return datetime.fromisoformat(self.metadata.recorded_at)

    @property
    def tenant_id(self) -> str | None:
        return self.metadata.tenant_id

    @property
    def event_id(self) -> str:
        return self.metadata.event_id
