"""The lineage read model, read for the API: walks from a dataset version, a run's OpenLineage events, and the
lineage obligations' results (with the raw batches hashed again when asked)."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Engine

from adapters.datasets.store import DatasetStore
from adapters.lineage.graph import LineageGraph, edge_view, view
from adapters.lineage.obligations import results, status_counts
from adapters.lineage.openlineage import run_events
from domain import lineage as ln


class LineageWalk(msgspec.Struct):
    """What a walk from a dataset version found, nearest first; ``truncated`` when ``depth`` stopped it."""

    sha256: str
    direction: str
    depth: int
    start: list[str]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    truncated: bool


class ObligationReport(msgspec.Struct):
    """The lineage obligations in force and their result for every subject of a tenant."""

    tenant_id: str
    verified: bool
    obligations: list[dict[str, Any]]
    counts: dict[str, int]
    results: list[dict[str, Any]]


class OpenLineageRun(msgspec.Struct, frozen=True, rename={"run_id": "runId"}):
    run_id: str
    facets: dict[str, Any]


class OpenLineageJob(msgspec.Struct, frozen=True):
    namespace: str
    name: str
    facets: dict[str, Any]


class OpenLineageDataset(
    msgspec.Struct,
    frozen=True,
    omit_defaults=True,
    rename={"input_facets": "inputFacets", "output_facets": "outputFacets"},
):
    """A dataset version read or written; its facets are the standard's (schema, data source, statistics,
    column lineage) and the platform's content hash."""

    namespace: str
    name: str
    facets: dict[str, Any]
    input_facets: dict[str, Any] | None = None
    output_facets: dict[str, Any] | None = None


class RunEvent(
    msgspec.Struct,
    frozen=True,
    rename={"event_type": "eventType", "event_time": "eventTime", "schema_url": "schemaURL"},
):
    """An OpenLineage RunEvent (spec 2-0-2): what ran, when, as which job, reading and writing which datasets."""

    event_type: str
    event_time: str | None
    producer: str
    schema_url: str
    run: OpenLineageRun
    job: OpenLineageJob
    inputs: list[OpenLineageDataset]
    outputs: list[OpenLineageDataset]


class LineageQueries:
    """Reads of the lineage graph; only ``obligations(verify=True)`` touches the dataset store."""

    def __init__(self, engine: Engine, datasets: DatasetStore) -> None:
        self.engine = engine
        self.datasets = datasets

    def walk(self, tenant_id: str, sha256: str, upstream: bool, depth: int) -> LineageWalk | None:
        """The walk from the dataset versions with this content hash; None when the tenant has none."""
        with self.engine.connect() as connection:
            graph = LineageGraph(connection, tenant_id)
            start = [row["node_id"] for row in graph.datasets(sha256)]
            if not start:
                return None
            found = graph.walk(start, upstream, depth)
        ordered = sorted(found.distances.items(), key=lambda item: (item[1], item[0]))
        nodes = [view(found.nodes[node_id], distance) for node_id, distance in ordered]
        edges = [edge_view(edge) for edge in found.edges]
        direction = "upstream" if upstream else "downstream"
        return LineageWalk(sha256, direction, depth, start, nodes, edges, found.truncated)

    def run_events(self, tenant_id: str, run_id: str) -> list[RunEvent]:
        """The OpenLineage RunEvents of a pipeline run (or an export)."""
        with self.engine.connect() as connection:
            events = run_events(connection, tenant_id, run_id)
        return msgspec.convert(events, list[RunEvent])

    def obligations(self, tenant_id: str, verify: bool, status: str | None) -> ObligationReport:
        """Every subject's result (only those of ``status`` when given); ``verify`` hashes the raw batches again."""
        with self.engine.connect() as connection:
            found = results(connection, tenant_id, self.datasets if verify else None)
        listed = [r.as_dict() for r in found if status is None or r.status == status]
        in_force = [o.as_dict() for o in ln.in_force()]
        return ObligationReport(tenant_id, verify, in_force, status_counts(found), listed)
