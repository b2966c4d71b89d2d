"""Helpers for tests of poison events: a read-model bug that can be switched off, and waiting without time limits
asserted on the platform (only a generous bound, so a broken build fails instead of hanging).

On PostgreSQL a NUL character in a text column is refused by the database itself. SQLite stores it, so there the
guarded projection refuses it as PostgreSQL would. Once the cause is ``fixed`` the projection strips NUL
characters, as a fixed projection would: a retry then applies the event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from adapters.readmodels import ReadModelStore
from projections.base import Change, Delete, EventView, Projection

NUL = "\x00"


class Cause:
    """The bug behind the poison: present until ``fixed``; ``emulate`` refuses NUL as PostgreSQL does."""

    def __init__(self, read_models: ReadModelStore, fails_on: Callable[[EventView], bool] | None = None) -> None:
        self.emulate = read_models.engine.dialect.name != "postgresql"
        self.fails_on = fails_on
        self.fixed = False

    def guard(self, read_models: ReadModelStore, *names: str) -> None:
        """Puts the bug into these read models (every one when none is named)."""
        for name in names or tuple(read_models.projections):
            read_models.projections[name] = self._guarded(read_models.projections[name])

    def _guarded(self, original: Projection) -> Projection:
        def evolve(recorded: EventView) -> list[Change]:
            changes = original.evolve(recorded)
            if self.fixed:
                return [_without_nul(change) for change in changes]
            if self.fails_on is not None and self.fails_on(recorded):
                raise RuntimeError(f"the {original.name} projection cannot handle this event")
            if self.emulate and any(NUL in text for change in changes for text in _texts(change)):
                raise ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
            return changes

        return Projection(original.name, original.tables, evolve)


def _texts(change: Change) -> list[str]:
    values = {} if isinstance(change, Delete) else change.values
    return [v for v in [*change.key.values(), *values.values()] if isinstance(v, str)]


def _without_nul(change: Change) -> Change:
    if isinstance(change, Delete):
        return change
    values = {k: v.replace(NUL, "") if isinstance(v, str) else v for k, v in change.values.items()}
    return replace(change, values=values)


def eventually(check: Callable[[], Any], bound: float = 15.0) -> Any:
    """Polls until ``check`` answers truthy; fails after ``bound`` seconds (a hang guard, not a timing claim)."""
    deadline = time.monotonic() + bound
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.05)
