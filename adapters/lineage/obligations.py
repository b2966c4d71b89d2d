"""Lineage obligation results: each subject's facts gathered from the lineage read model, decided by the pure rules
of ``domain.lineage``; optionally with the raw batches' stored bytes hashed again (``verify_checksums``).

The read model follows the log as events arrive, so the results are as current as it is and are the same for the
same log. Deciding at read time keeps every rule in one pure Python function: a read model's ``evolve`` sees one
event and cannot join an approval with its approver's roles or a product version with its raw batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select

from adapters.datasets.store import DatasetError, DatasetStore
from adapters.lineage.graph import LineageGraph, Walk
from domain import lineage as ln
from domain.contracts import contract_id_for
from domain.values import StepStatus, tenant_id_of
from projections.lineage import nodes

MAX_DEPTH = 10_000
"""Far more steps than any chain has: a trace is never cut short."""
SUBJECT_KINDS = (ln.PRODUCT_VERSION, ln.ACTION)


def contract_facts(graph: LineageGraph, contract: str, version: str) -> ln.ContractVersion:
    """The contract version, its author and its approval with the roles the approver held at that moment."""
    contract_id = str(contract_id_for(tenant_id_of(graph.tenant_id), contract))
    drafted = graph.node(ln.contract_version_node(contract_id, version))
    approved = graph.node(ln.approval_node(contract_id, version))
    approval = None
    if approved is not None:
        by, position = approved["facts"]["by"], int(approved["facts"]["position"])
        approval = ln.Approval(by, graph.roles_at(by, position), position)
    author = drafted["facts"]["author"] if drafted is not None else None
    return ln.ContractVersion(contract, version, author, approval)


def producers(walk: Walk, node_id: str) -> list[str]:
    return [e["source"] for e in walk.edges if e["relation"] == ln.OUTPUT and e["target"] == node_id]


def inputs(walk: Walk, node_id: str) -> list[str]:
    return [e["source"] for e in walk.edges if e["relation"] == ln.INPUT and e["target"] == node_id]


def trace_facts(walk: Walk) -> tuple[tuple[ln.RawBatch, ...], tuple[str, ...], tuple[str, ...]]:
    """(raw batches, gaps, steps not finished) of an upstream walk along the data flow."""
    raw, gaps, waiting = [], [], []
    for node_id, row in sorted(walk.nodes.items()):
        if row["kind"] == ln.DATASET:
            made_by = producers(walk, node_id)
            ingested = any(walk.nodes[p]["facts"].get("step") == "ingest" for p in made_by if p in walk.nodes)
            if ingested:
                raw.append(ln.RawBatch(row["name"], row["sha256"]))
            elif not made_by:
                gaps.append(f"no recorded step produced {row['name']}")
        elif row["kind"] == ln.STEP and row["facts"]["step"] != "ingest" and not inputs(walk, node_id):
            step = f"{row['facts']['step']} of run {row['facts']['run_id']}"
            if row["status"] == StepStatus.SUCCEEDED:
                gaps.append(f"{step} recorded no inputs")
            else:
                waiting.append(step)
    return tuple(raw), tuple(gaps), tuple(waiting)


def trace_walk(graph: LineageGraph, node_id: str) -> Walk:
    """Everything upstream of a node along the data flow, back to the raw batches."""
    return graph.walk([node_id], upstream=True, depth=MAX_DEPTH, relations=ln.DATA_FLOW)


def product_version_facts(graph: LineageGraph, row: dict[str, Any], walk: Walk | None = None) -> ln.Facts:
    facts = row["facts"]
    walk = walk or trace_walk(graph, row["node_id"])
    raw, gaps, waiting = trace_facts(walk)
    contract = contract_facts(graph, facts["contract"], facts["contract_version"])
    return ln.Facts(row["node_id"], ln.PRODUCT_VERSION, row["name"], contract, raw, gaps, waiting)


def action_facts(graph: LineageGraph, row: dict[str, Any]) -> ln.Facts:
    cited = row["facts"].get("kpi_sha256")
    known = bool(cited) and any(d["facts"]["stage"] == "kpi" for d in graph.datasets(str(cited)))
    return ln.Facts(row["node_id"], ln.ACTION, row["name"], cited_kpi=cited, kpi_known=known)


def subjects(graph: LineageGraph) -> list[ln.Facts]:
    """The facts of every subject of the tenant: product versions (by product, version), then actions."""
    versions = sorted(graph.of_kind(ln.PRODUCT_VERSION), key=lambda r: (r["facts"]["product"], r["facts"]["version"]))
    return [product_version_facts(graph, row) for row in versions] + [
        action_facts(graph, row) for row in graph.of_kind(ln.ACTION)
    ]


def checksum_error(store: DatasetStore, key: str, sha256: str) -> str | None:
    """None when the stored file at ``key`` still hashes to ``sha256``; else what is wrong with it."""
    try:
        with store.verified(key, sha256):
            return None
    except (DatasetError, ValueError) as error:
        return str(error)


def with_checksums(store: DatasetStore, facts: list[ln.Facts]) -> list[ln.Facts]:
    """The facts with every raw batch hashed again (each stored file once)."""
    batches = sorted({(b.key, b.sha256) for f in facts for b in f.raw_batches})
    errors = {batch: checksum_error(store, *batch) for batch in batches}

    def checked(batch: ln.RawBatch) -> ln.RawBatch:
        error = errors[(batch.key, batch.sha256)]
        return replace(batch, verified=error is None, error=error)

    return [replace(f, raw_batches=tuple(checked(b) for b in f.raw_batches)) for f in facts]


def results(connection: Connection, tenant_id: str, store: DatasetStore | None = None) -> list[ln.Result]:
    """Every obligation in force for every subject of the tenant; raw checksums verified when a store is given."""
    facts = subjects(LineageGraph(connection, tenant_id))
    return ln.evaluate_all(with_checksums(store, facts) if store is not None else facts)


def verify_checksums(store: DatasetStore, connection: Connection, tenant_id: str) -> list[ln.Result]:
    """The violations of the tenant's obligations once every raw batch's stored bytes are hashed again."""
    return [r for r in results(connection, tenant_id, store) if r.status == ln.ObligationStatus.VIOLATED]


def status_counts(found: list[ln.Result]) -> dict[str, int]:
    counted = Counter(r.status for r in found)
    return {status: counted.get(status, 0) for status in ln.ObligationStatus}


def tenants(connection: Connection) -> list[str]:
    query = select(nodes.c.tenant_id).where(nodes.c.kind.in_(SUBJECT_KINDS)).distinct()
    return sorted(str(t) for t in connection.execute(query).scalars())


def count_violations(connection: Connection, tenant_id: str | None = None) -> Mapping[tuple[str, str], int]:
    """Violations per (tenant, obligation), over one tenant or all (for a metric such as
    ``lineage_obligation_violations{tenant, obligation}``); every obligation in force appears, zero included."""
    counted: dict[tuple[str, str], int] = {}
    for tenant in [tenant_id] if tenant_id is not None else tenants(connection):
        found = results(connection, tenant)
        for obligation in ln.in_force():
            violated = [r for r in found if r.obligation == obligation.id and r.status == ln.ObligationStatus.VIOLATED]
            counted[(tenant, obligation.id)] = len(violated)
    return counted
