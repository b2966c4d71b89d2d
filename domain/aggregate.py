"""The base every aggregate shares: eventsourcing's Aggregate with streams starting at version 0."""

from __future__ import annotations

from eventsourcing.domain import Aggregate as _Aggregate


class Aggregate(_Aggregate):
    """An event-sourced aggregate whose stream starts at version 0 (as EventStoreDB's do)."""

    INITIAL_VERSION = 0


def encrypted_fields_of(cls: type) -> tuple[str, ...]:
    """The fields an event class declares as personal data or secrets (``encrypted_fields``; none when it
    declares nothing): the event store seals them in the log and the read models seal them in their rows."""
    return tuple(getattr(cls, "encrypted_fields", ()))
