"""The lineage graph: nodes and edges from the pipeline's, products', exports' and contracts' events, and the
history of every principal's roles (so an approval can be judged by the roles its approver held at the time).

Nodes (``domain.lineage`` names their kinds and ids): dataset versions by storage key (content-addressed, so each
names one content; ``sha256`` finds them), pipeline runs and their steps, product versions, contract versions,
approvals, exports and delivered actions. What never changes about a node is in ``facts``; its status, times and
error are columns of their own, so a later event changes them without touching the rest. Edges go input -> step ->
output and carry the SHA-256 of the dataset they touch. The obligations are decided from these rows by
``domain.lineage.evaluate`` (see ``adapters/lineage/obligations.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Select, String, Table, Text, select

from domain import lineage as ln
from domain.access import Principal
from domain.contracts import DataContract, contract_id_for
from domain.exports import Export
from domain.pipeline import Manifest, PipelineRun
from domain.products import DataProduct
from domain.values import ContractStatus, ExportStatus, ProductVersionStatus, RunStatus, Step, StepStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata

NODE_ID = 320

nodes = Table(
    "lineage_nodes",
    metadata,
    Column("node_id", String(NODE_ID), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("name", String(400), nullable=False),
    Column("sha256", String(64), index=True),
    Column("facts", JSON, nullable=False),
    Column("columns", JSON),
    Column("status", String(24)),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("error", Text),
    Column("attempts", Integer),
    Column("position", BigInteger, nullable=False),
)

edges = Table(
    "lineage_edges",
    metadata,
    Column("source", String(NODE_ID), primary_key=True),
    Column("target", String(NODE_ID), primary_key=True),
    Column("relation", String(24), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("sha256", String(64)),
    Column("name", String(200)),
    Column("position", BigInteger, nullable=False),
    Index("ix_lineage_edges_target", "target"),
)

roles = Table(
    "lineage_role_history",
    metadata,
    Column("principal_id", String(36), primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("tenant_id", String(36)),
    Column("roles", JSON, nullable=False),
)
"""Each role change of each principal: the roles it held from that position on."""


class _Changes:
    """The row changes of one event, with the tenant and position they all share."""

    def __init__(self, recorded: EventView) -> None:
        self.tenant = recorded.tenant_id or ""
        self.position = recorded.position
        self.at = recorded.recorded_at.isoformat()
        self.out: list[Change] = []

    def node(self, node_id: str, name: str, facts: dict[str, Any], **values: Any) -> None:
        row = {"tenant_id": self.tenant, "kind": ln.kind_of(node_id), "name": name, "facts": facts}
        self.out.append(Upsert(nodes, {"node_id": node_id}, row | values | {"position": self.position}))

    def update(self, node_id: str, **values: Any) -> None:
        self.out.append(Update(nodes, {"node_id": node_id}, values | {"position": self.position}))

    def edge(self, source: str, target: str, relation: str, sha256: str | None = None, name: str | None = None) -> None:
        key = {"source": source, "target": target, "relation": relation}
        values = {"tenant_id": self.tenant, "sha256": sha256, "name": name, "position": self.position}
        self.out.append(Upsert(edges, key, values))

    def dataset(self, file: Manifest, columns: list[dict[str, str]] | None = None) -> str:
        node_id = ln.dataset_node(file["key"])
        facts = {"stage": ln.stage_of(file["key"]), "bytes": file["bytes"], "rows": file["rows"]}
        facts |= {"format": file["format"], "schema": file["schema"]}
        extra = {"columns": columns} if columns is not None else {}
        self.node(node_id, file["key"], facts, sha256=file["sha256"], **extra)
        return node_id

    def step(self, run_id: str, step: str, inputs: list[Manifest], outputs: list[Manifest], **values: Any) -> str:
        """A step of a run with its data flow: each input -> step -> each output."""
        node_id = ln.step_node(run_id, step)
        self.node(node_id, step, {"run_id": run_id, "step": step}, **values)
        self.edge(ln.run_node(run_id), node_id, ln.HAS_STEP)
        for file in inputs:
            self.edge(self.dataset(file), node_id, ln.INPUT, file["sha256"])
        for file in outputs:
            self.edge(node_id, self.dataset(file), ln.OUTPUT, file["sha256"])
        return node_id


def _finished(event: Any, status: StepStatus) -> dict[str, Any]:
    return {"status": status, "started_at": event.started_at, "finished_at": event.finished_at, "error": None}


def _run(c: _Changes, event: PipelineRun.Event) -> None:
    run_id = str(event.originator_id)
    match event:
        case PipelineRun.Ingested():
            facts = {"run_id": run_id, "contract": event.contract, "contract_version": event.contract_version}
            facts |= {"object": event.object, "source": event.source, "at": event.at}
            c.node(ln.run_node(run_id), f"{event.contract}/{event.object}", facts, status=RunStatus.RUNNING)
            governing = ln.contract_version_node(
                str(contract_id_for(event.tenant_id, event.contract)), event.contract_version
            )
            c.edge(governing, ln.run_node(run_id), ln.GOVERNS)
            times = {"started_at": event.at, "finished_at": c.at}
            c.step(run_id, Step.INGEST, [], [event.raw], status=StepStatus.SUCCEEDED, attempts=1, **times)
        case PipelineRun.StepFailed():
            status = StepStatus.RETRYING if event.retry_in > 0 else StepStatus.FAILED
            c.step(
                run_id, event.step, [], [], status=status, error=event.error, attempts=event.attempt, finished_at=c.at
            )
        case PipelineRun.DeadLettered():
            c.update(
                ln.step_node(run_id, event.step), status=StepStatus.DEAD_LETTERED, error=event.error, finished_at=c.at
            )
            c.update(ln.run_node(run_id), status=RunStatus.DEAD_LETTERED, error=event.error, finished_at=c.at)
        case PipelineRun.StepDenied():
            reasons = "; ".join(event.reasons)
            c.update(ln.run_node(run_id), status=RunStatus.DENIED, error=reasons, finished_at=c.at)
        case PipelineRun.Revived():
            c.update(ln.step_node(run_id, event.step), status=StepStatus.RETRYING, attempts=0)
            c.update(ln.run_node(run_id), status=RunStatus.RUNNING, error=None, finished_at=None)
        case PipelineRun.Normalized():
            outputs = [event.gdp, *([event.quarantine] if event.quarantine else [])]
            c.step(run_id, Step.NORMALIZE, event.inputs, outputs, **_finished(event, StepStatus.SUCCEEDED))
        case PipelineRun.Rejected():
            outputs = [event.quarantine] if event.quarantine else []
            reasons = "; ".join(event.reasons)
            c.step(
                run_id, event.step, event.inputs, outputs, **_finished(event, StepStatus.REJECTED) | {"error": reasons}
            )
            c.update(ln.run_node(run_id), status=RunStatus.REJECTED, error=reasons, finished_at=event.finished_at)
        case PipelineRun.KpisBuilt():
            c.step(run_id, Step.BUILD_KPIS, event.inputs, [event.kpis], **_finished(event, StepStatus.SUCCEEDED))
        case PipelineRun.Published():
            c.step(run_id, Step.PUBLISH, event.inputs, event.outputs, **_finished(event, StepStatus.SUCCEEDED))
            c.update(ln.run_node(run_id), status=RunStatus.SUCCEEDED, finished_at=event.finished_at)


def _product(c: _Changes, event: DataProduct.Event) -> None:
    match event:
        case DataProduct.VersionPublished():
            node_id = ln.product_version_node(str(event.originator_id), event.version)
            names = [d["name"] for d in event.datasets]
            facts = {"product": event.contract, "version": event.version, "contract": event.contract}
            facts |= {"contract_version": event.contract_version, "run_id": event.run_id, "datasets": names}
            c.node(node_id, f"{event.contract} v{event.version}", facts, status=ProductVersionStatus.PUBLISHED)
            publish = c.step(event.run_id, "publish", [], [])
            for dataset in event.datasets:
                served = c.dataset(dataset["served"], dataset["columns"])
                c.edge(publish, served, ln.OUTPUT, dataset["served"]["sha256"])
                c.edge(served, node_id, ln.PUBLISHED_AS, dataset["served"]["sha256"], dataset["name"])
                source = c.dataset(dataset["source"], None if dataset["masked"] else dataset["columns"])
                if ln.stage_of(dataset["source"]["key"]) != "kpi":  # the KPI file is the step's input, not its output
                    c.edge(publish, source, ln.OUTPUT, dataset["source"]["sha256"])
        case DataProduct.VersionRetracted():
            node_id = ln.product_version_node(str(event.originator_id), event.version)
            c.update(node_id, status=ProductVersionStatus.RETRACTED, error=event.reason)


def _export(c: _Changes, event: Export.Event) -> None:
    node_id = ln.export_node(str(event.originator_id))
    match event:
        case Export.Requested():
            facts = {"product": event.product, "version": event.version, "dataset": event.dataset}
            facts |= {"format": event.format, "by": event.by}
            name = f"{event.product} v{event.version} {event.dataset} as {event.format}"
            c.node(node_id, name, facts, status=ExportStatus.REQUESTED, started_at=c.at)
        case Export.Completed():
            c.update(node_id, status=ExportStatus.COMPLETED, finished_at=c.at)
            for file in event.inputs:
                c.edge(c.dataset(file), node_id, ln.INPUT, file["sha256"])
            c.edge(node_id, c.dataset(event.file), ln.OUTPUT, event.file["sha256"])
        case Export.Failed():
            c.update(node_id, status=ExportStatus.FAILED, error=event.error, finished_at=c.at)


def _contract(c: _Changes, event: DataContract.Event) -> None:
    contract_id = str(event.originator_id)
    node_id = ln.contract_version_node(contract_id, str(getattr(event, "version", "")))  # every contract event has one
    match event:
        case DataContract.Drafted() | DataContract.VersionDrafted():
            key = event.key if isinstance(event, DataContract.Drafted) else str(event.document.get("id", ""))
            facts = {"contract": key, "version": event.version, "author": event.by, "document_sha256": event.sha256}
            c.node(
                node_id,
                f"{key} {event.version}",
                facts | {"kpis": list(event.spec["kpis"])},
                status=ContractStatus.DRAFT,
            )
        case DataContract.Proposed():
            c.update(node_id, status=ContractStatus.PROPOSED)
        case DataContract.Approved():
            c.update(node_id, status=ContractStatus.ACTIVE)
            if event.superseded is not None:
                c.update(ln.contract_version_node(contract_id, event.superseded), status=ContractStatus.DEPRECATED)
            approval = ln.approval_node(contract_id, event.version)
            approved = {"version": event.version, "by": event.by, "position": c.position, "at": c.at}
            c.node(approval, f"approval of {event.version} by {event.by}", approved, status="approved")
            c.edge(approval, node_id, ln.APPROVES)
        case DataContract.Rejected() | DataContract.Deprecated() | DataContract.Retired():
            c.update(node_id, status=ContractStatus(type(event).__name__.lower()), error=event.reason or None)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    c = _Changes(recorded)
    if isinstance(event, PipelineRun.Event):
        _run(c, event)
    elif isinstance(event, DataProduct.Event):
        _product(c, event)
    elif isinstance(event, Export.Event):
        _export(c, event)
    elif isinstance(event, DataContract.Event):
        _contract(c, event)
    elif isinstance(event, Principal.RoleGranted | Principal.RoleRevoked):
        key = {"principal_id": str(event.originator_id), "position": recorded.position}
        c.out.append(Upsert(roles, key, {"tenant_id": recorded.tenant_id, "roles": list(event.roles)}))
    elif getattr(type(event), "lineage_subject", None) == ln.ACTION_DELIVERED:
        cited = getattr(event, "kpi_sha256", None)
        node_id = ln.action_node(str(event.originator_id), int(event.originator_version))
        c.node(node_id, f"action {event.originator_id} #{event.originator_version}", {"kpi_sha256": cited})
    return c.out


projection = Projection("lineage", (nodes, edges, roles), evolve)


def datasets_query(tenant_id: str, sha256: str) -> Select[Any]:
    """A tenant's dataset versions with this content (the same bytes may be stored at two stages: kpi, published)."""
    query = select(nodes).where(nodes.c.tenant_id == tenant_id, nodes.c.kind == ln.DATASET, nodes.c.sha256 == sha256)
    return query.order_by(nodes.c.node_id)


def nodes_query(tenant_id: str, node_ids: list[str]) -> Select[Any]:
    return select(nodes).where(nodes.c.tenant_id == tenant_id, nodes.c.node_id.in_(node_ids))


def kind_query(tenant_id: str, kind: str) -> Select[Any]:
    query = select(nodes).where(nodes.c.tenant_id == tenant_id, nodes.c.kind == kind)
    return query.order_by(nodes.c.position, nodes.c.node_id)


def edges_query(tenant_id: str, node_ids: list[str], upstream: bool, relations: frozenset[str] | None) -> Select[Any]:
    """Edges into these nodes (upstream) or out of them (downstream), of these relations (None: every one)."""
    end = edges.c.target if upstream else edges.c.source
    query = select(edges).where(edges.c.tenant_id == tenant_id, end.in_(node_ids))
    if relations is not None:
        query = query.where(edges.c.relation.in_(sorted(relations)))
    return query.order_by(edges.c.source, edges.c.target, edges.c.relation)


def roles_at_query(principal_id: str, before: int) -> Select[Any]:
    """The roles a principal held just before ``before``: its last role change earlier in the log."""
    query = select(roles.c.roles).where(roles.c.principal_id == principal_id, roles.c.position < before)
    return query.order_by(roles.c.position.desc()).limit(1)
