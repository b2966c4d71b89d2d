"""Reading one tenant's lineage graph: nodes, their edges, walks upstream and downstream, and role history.

A walk goes level by level, one query per level (the ids of a level are sent in chunks), so its cost follows the
part of the graph it visits, not the size of the tenant's graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from projections.lineage import datasets_query, edges_query, kind_query, nodes_query, roles_at_query

CHUNK = 500
"""Ids per IN list: far below every database's limit on bound parameters."""
NODE_COLUMNS = ("sha256", "status", "started_at", "finished_at", "error", "attempts", "columns")


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def view(row: dict[str, Any], distance: int | None = None) -> dict[str, Any]:
    """A node as the API shows it: its id, kind, name, the columns that are set, its facts, and its distance."""
    shown: dict[str, Any] = {"id": row["node_id"], "kind": row["kind"], "name": row["name"]}
    shown |= {name: row[name] for name in NODE_COLUMNS if row.get(name) is not None}
    shown["facts"] = row["facts"]
    if distance is not None:
        shown["distance"] = distance
    return shown


def edge_view(row: dict[str, Any]) -> dict[str, Any]:
    shown = {"source": row["source"], "target": row["target"], "relation": row["relation"]}
    return shown | {name: row[name] for name in ("sha256", "name") if row.get(name) is not None}


@dataclass(frozen=True)
class Walk:
    """The nodes a walk reached (id -> row, with the number of edges from the start) and the edges it crossed."""

    distances: dict[str, int]
    nodes: dict[str, dict[str, Any]]
    edges: list[dict[str, Any]]
    truncated: bool
    """True when the depth ran out before the graph did."""


class LineageGraph:
    """The lineage read model of one tenant, read through one connection."""

    def __init__(self, connection: Connection, tenant_id: str) -> None:
        self.connection = connection
        self.tenant_id = tenant_id

    def datasets(self, sha256: str) -> list[dict[str, Any]]:
        return self._rows(datasets_query(self.tenant_id, sha256))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return self._rows(kind_query(self.tenant_id, kind))

    def node(self, node_id: str) -> dict[str, Any] | None:
        return self.nodes([node_id]).get(node_id)

    def nodes(self, node_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(node_ids))):
            found |= {row["node_id"]: row for row in self._rows(nodes_query(self.tenant_id, chunk))}
        return found

    def edges(self, node_ids: Iterable[str], upstream: bool, relations: frozenset[str] | None = None) -> list[Any]:
        """The edges into (upstream) or out of (downstream) these nodes."""
        found: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(node_ids))):
            found += self._rows(edges_query(self.tenant_id, chunk, upstream, relations))
        return found

    def walk(self, start: Iterable[str], upstream: bool, depth: int, relations: frozenset[str] | None = None) -> Walk:
        """Everything reachable from ``start`` against (upstream) or along (downstream) the edges, at most
        ``depth`` edges away."""
        distances = dict.fromkeys(start, 0)
        frontier, crossed = list(distances), []
        for distance in range(1, depth + 1):
            found = self.edges(frontier, upstream, relations)
            crossed += found
            frontier = sorted({e["source" if upstream else "target"] for e in found} - distances.keys())
            distances |= dict.fromkeys(frontier, distance)
            if not frontier:
                break
        truncated = bool(frontier) and bool(self.edges(frontier, upstream, relations))
        return Walk(distances, self.nodes(distances), crossed, truncated)

    def roles_at(self, principal_id: str, before: int) -> tuple[str, ...]:
        """The roles a principal held just before position ``before`` (none if it held none)."""
        found = self.connection.execute(roles_at_query(principal_id, before)).scalar()
        return tuple(found or ())

    def _rows(self, query: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in self.connection.execute(query).mappings()]
