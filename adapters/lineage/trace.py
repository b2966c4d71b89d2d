"""The audit trace of a published product version: the chain from its served files back through every step to the
raw bytes it was made from, the contract version it was made under and that version's approval, with the
obligations decided for it. ``trace`` gives it as JSON-native data, ``format_trace`` as lines to print.

It reads the lineage read model; with a dataset store it also hashes every raw batch again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from adapters.datasets.store import DatasetStore
from adapters.lineage.graph import LineageGraph, Walk
from adapters.lineage.obligations import inputs, producers, product_version_facts, trace_walk, with_checksums
from domain import lineage as ln
from domain.contracts import contract_id_for
from domain.errors import NotFoundError
from domain.products import product_id_for
from domain.values import step_order, tenant_id_of


def _file(row: dict[str, Any]) -> dict[str, Any]:
    facts = row["facts"]
    found = {"key": row["name"], "sha256": row["sha256"], "stage": facts["stage"], "bytes": facts["bytes"]}
    return found | {"rows": facts["rows"], "format": facts["format"]}


def _steps(walk: Walk) -> list[dict[str, Any]]:
    """The steps of the chain, nearest the product version first, each with the files it read and made."""
    steps = [row for row in walk.nodes.values() if row["kind"] == ln.STEP]
    steps.sort(key=lambda s: (walk.distances[s["node_id"]], -step_order(s["facts"]["step"]), s["node_id"]))
    made_by = {d: producers(walk, d) for d, row in walk.nodes.items() if row["kind"] == ln.DATASET}
    return [
        {
            "step": s["facts"]["step"],
            "run_id": s["facts"]["run_id"],
            "status": s["status"],
            "started_at": s["started_at"],
            "finished_at": s["finished_at"],
            "inputs": [_file(walk.nodes[d]) for d in inputs(walk, s["node_id"])],
            "outputs": [_file(walk.nodes[d]) for d, by in made_by.items() if s["node_id"] in by],
        }
        for s in steps
    ]


def _raw_batches(graph: LineageGraph, facts: ln.Facts, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    runs = graph.nodes(ln.run_node(s["run_id"]) for s in steps if s["step"] == "ingest")
    ingested = {f["key"]: s["run_id"] for s in steps if s["step"] == "ingest" for f in s["outputs"]}
    found = []
    for batch in facts.raw_batches:
        run = runs[ln.run_node(ingested[batch.key])]
        file = next(f for s in steps for f in s["outputs"] if f["key"] == batch.key)
        about = {"run_id": run["facts"]["run_id"], "source": run["facts"]["source"], "ingested_at": run["facts"]["at"]}
        found.append(file | about | {"verified": batch.verified, "error": batch.error})
    return found


def _contract(graph: LineageGraph, facts: ln.Facts) -> dict[str, Any] | None:
    found = facts.contract
    if found is None:
        return None
    node = graph.node(
        ln.contract_version_node(str(contract_id_for(tenant_id_of(graph.tenant_id), found.contract)), found.version)
    )
    approval = found.approval
    return {
        "contract": found.contract,
        "version": found.version,
        "author": found.author,
        "document_sha256": node["facts"]["document_sha256"] if node else None,
        "status": node["status"] if node else None,
        "approval": {"by": approval.by, "roles": list(approval.roles), "position": approval.position}
        if approval
        else None,
    }


def trace(
    connection: Connection, tenant_id: str, product: str, version: int, store: DatasetStore | None = None
) -> dict[str, Any]:
    """The chain of a product version back to its raw bytes and contract approval; NotFoundError if there is none."""
    graph = LineageGraph(connection, tenant_id)
    node = graph.node(ln.product_version_node(str(product_id_for(tenant_id_of(tenant_id), product)), version))
    if node is None:
        raise NotFoundError(f"no such product version: {product} v{version}")
    walk = trace_walk(graph, node["node_id"])
    facts = product_version_facts(graph, node, walk)
    if store is not None:
        facts = with_checksums(store, [facts])[0]
    steps = _steps(walk)
    served = [e for e in walk.edges if e["relation"] == ln.PUBLISHED_AS]
    return {
        "tenant_id": tenant_id,
        "product": product,
        "version": version,
        "status": node["status"],
        "datasets": [{"name": e["name"]} | _file(walk.nodes[e["source"]]) for e in served],
        "steps": steps,
        "raw_batches": _raw_batches(graph, facts, steps),
        "contract": _contract(graph, facts),
        "obligations": [r.as_dict() for r in ln.evaluate_all([facts])],
        "verified": store is not None,
    }


def _describe(file: dict[str, Any]) -> str:
    rows = f", {file['rows']} rows" if file["rows"] is not None else ""
    return f"{file['stage']} {file['key']} sha256 {file['sha256']} ({file['bytes']} bytes{rows})"


def format_trace(found: dict[str, Any]) -> list[str]:
    """The trace as lines a person reads top to bottom: product version, steps, raw bytes, contract, obligations."""
    lines = [f"{found['product']} v{found['version']} ({found['status']}) of tenant {found['tenant_id']}"]
    lines += [f"  serves {d['name']}: {_describe(d)}" for d in found["datasets"]]
    lines.append("made by:")
    for step in found["steps"]:
        when = step["finished_at"] or "not finished"
        lines.append(f"  {step['step']} of run {step['run_id']} ({step['status'] or 'running'}, {when})")
        lines += [f"    in:  {_describe(f)}" for f in step["inputs"]]
        lines += [f"    out: {_describe(f)}" for f in step["outputs"]]
    lines.append("raw bytes:")
    for batch in found["raw_batches"]:
        checked = {None: "not checked", True: "checksum verified"}.get(batch["verified"], f"FAILS: {batch['error']}")
        origin = f"from {batch['source']}, ingested {batch['ingested_at']}"
        lines.append(f"  {_describe(batch)}, {origin}, {checked}")
    lines += _contract_lines(found["contract"])
    lines.append("obligations:")
    for result in found["obligations"]:
        why = f": {'; '.join(result['reasons'])}" if result["reasons"] else ""
        lines.append(f"  {result['obligation']} v{result['version']} {result['status']}{why}")
    return lines


def _contract_lines(contract: dict[str, Any] | None) -> list[str]:
    if contract is None:
        return ["contract: none recorded"]
    head = f"contract {contract['contract']} {contract['version']} ({contract['status'] or 'not in the log'})"
    lines = [f"{head}, document sha256 {contract['document_sha256']}, drafted by {contract['author']}"]
    approval = contract["approval"]
    if approval is None:
        return [*lines, "  never approved"]
    roles = ", ".join(approval["roles"]) or "no role"
    return [*lines, f"  approved by {approval['by']} at position {approval['position']}, holding {roles}"]
