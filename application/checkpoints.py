"""Where process managers keep their progress: a position in the log, the state of their unfinished work, and
facts about finished work that a later step may need (the golden data of earlier batches, which a KPI build reads).

A process manager resumes from its checkpoint instead of reading the log from position 0, and keeps in memory only
what is unfinished. The position and the state are saved together, in one transaction, with the facts seen since
the last save; facts are kept apart from the state so that memory does not grow with the work already done, and
are read back only when a step needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Checkpoint:
    """How far a process manager has read the log, and the JSON state of its unfinished work at that point."""

    position: int
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fact:
    """A fact about finished work: ``item`` under ``key``, ordered by ``order``, with a JSON ``value``.

    Saving the same (key, item) again keeps the first: facts come from events, which may be seen twice."""

    key: str
    item: str
    order: int
    value: dict[str, Any]


class Checkpoints(Protocol):
    """The store of process managers' checkpoints and facts, by process manager name."""

    def load(self, name: str) -> Checkpoint | None: ...

    def save(self, checkpoints: Mapping[str, Checkpoint], facts: Sequence[tuple[str, Fact]] = ()) -> None:
        """Saves every checkpoint given and the facts (process manager name, fact) in one transaction."""

    def facts(self, name: str, key: str) -> list[Fact]:
        """The facts a process manager saved under ``key``, in their order."""


class MemoryCheckpoints:
    """Checkpoints held by the process itself: a process manager built with these starts from position 0 each time
    it is built (unit tests, and a process with nowhere to keep them)."""

    def __init__(self) -> None:
        self._checkpoints: dict[str, Checkpoint] = {}
        self._facts: dict[tuple[str, str], dict[str, Fact]] = {}

    def load(self, name: str) -> Checkpoint | None:
        return self._checkpoints.get(name)

    def save(self, checkpoints: Mapping[str, Checkpoint], facts: Sequence[tuple[str, Fact]] = ()) -> None:
        self._checkpoints.update(checkpoints)
        for name, fact in facts:
            self._facts.setdefault((name, fact.key), {}).setdefault(fact.item, fact)

    def facts(self, name: str, key: str) -> list[Fact]:
        return sorted(self._facts.get((name, key), {}).values(), key=lambda f: f.order)
