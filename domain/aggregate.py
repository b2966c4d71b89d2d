"""The base every aggregate shares: eventsourcing's Aggregate with streams starting at version 0."""

from __future__ import annotations

from eventsourcing.domain import Aggregate as _Aggregate


class Aggregate(_Aggregate):
    """An event-sourced aggregate whose stream starts at version 0 (as EventStoreDB's do)."""

    INITIAL_VERSION = 0
