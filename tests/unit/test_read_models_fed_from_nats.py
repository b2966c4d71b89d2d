"""Every read model can be fed from NATS, and the contexts its feed decodes cover every event it reads."""

from __future__ import annotations

import ast
import inspect
import sys

from eventsourcing.domain import DomainEvent

import projections
from adapters.nats.consumers import EVERY_CONTEXT, FED_FROM_NATS
from eventstore import codec


def contexts_with_events_imported_by(module_name: str) -> set[str]:
    """The bounded contexts of the domain modules a projection module imports that define events."""
    tree = ast.parse(inspect.getsource(sys.modules[module_name]))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("domain"):
            module = sys.modules[node.module]
            if any(
                isinstance(value, type) and any(issubclass(inner, DomainEvent) for inner in _nested(value))
                for value in vars(module).values()
            ):
                found.add(codec.context_of(type("probe", (), {"__module__": node.module})))
    return found


def _nested(cls: type) -> list[type]:
    return [cls, *(v for v in vars(cls).values() if isinstance(v, type))]


def test_every_read_model_has_a_feed() -> None:
    assert set(FED_FROM_NATS) == {projection.name for projection in projections.ALL}


def test_each_feed_decodes_the_contexts_its_projection_reads() -> None:
    for projection in projections.ALL:
        contexts = FED_FROM_NATS[projection.name]
        imported = contexts_with_events_imported_by(projection.evolve.__module__)
        assert imported, projection.name
        assert contexts == EVERY_CONTEXT or imported <= contexts, (projection.name, imported - contexts)
