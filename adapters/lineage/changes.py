"""What changed between two versions of a data product ("why did this KPI change"): the builds that made them, the
raw batches (by content hash) the newer one gained and lost, and the contract versions that governed them.

The batches come from the lineage graph: each version's upstream walk along the data flow back to its raw batches.
"""

from __future__ import annotations

import msgspec

from adapters.lineage.graph import LineageGraph
from adapters.lineage.obligations import trace_facts, trace_walk
from adapters.lineage.queries import LineageQueries
from domain import lineage as ln
from domain.errors import InvalidValueError
from projections.products import VersionView


class Build(msgspec.Struct, frozen=True):
    """One side of the comparison: the version, the run that built it and its contract version."""

    version: int
    run_id: str
    status: str
    published_at: str
    contract_version: str
    raw_batches: list[str]


class Batch(msgspec.Struct, frozen=True):
    """A raw batch by its storage key and content hash."""

    key: str
    sha256: str


class VersionChanges(msgspec.Struct, frozen=True):
    """From version ``older`` to ``newer``: the raw batches added and removed, and whether the contract moved."""

    product: str
    older: Build
    newer: Build
    batches_added: list[Batch]
    batches_removed: list[Batch]
    batches_kept: int
    contract_changed: bool


def raw_batches(lineage: LineageQueries, version: VersionView) -> set[ln.RawBatch]:
    """The raw batches a product version traces back to."""
    with lineage.engine.connect() as connection:
        graph = LineageGraph(connection, version.tenant_id)
        node_id = ln.product_version_node(version.product_id, version.version)
        raw, _gaps, _waiting = trace_facts(trace_walk(graph, node_id))
    return set(raw)


def _build(version: VersionView, batches: set[ln.RawBatch]) -> Build:
    hashes = sorted(b.sha256 for b in batches)
    return Build(
        version.version, version.run_id, version.status, version.published_at, version.contract_version, hashes
    )


def _batches(found: set[ln.RawBatch]) -> list[Batch]:
    return [Batch(b.key, b.sha256) for b in sorted(found, key=lambda b: (b.sha256, b.key))]


def version_changes(lineage: LineageQueries, older: VersionView, newer: VersionView) -> VersionChanges:
    """The changes from ``older`` to ``newer`` (an older version that is not older is refused)."""
    if older.version >= newer.version:
        raise InvalidValueError(f"version {older.version} is not older than version {newer.version}")
    before, after = raw_batches(lineage, older), raw_batches(lineage, newer)
    return VersionChanges(
        product=newer.name,
        older=_build(older, before),
        newer=_build(newer, after),
        batches_added=_batches(after - before),
        batches_removed=_batches(before - after),
        batches_kept=len(before & after),
        contract_changed=older.contract_version != newer.contract_version,
    )
