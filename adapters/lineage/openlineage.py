"""OpenLineage RunEvents (spec 2-0-2) of pipeline runs and exports, from the lineage read model.

A pipeline run gives one event per finished step (job ``<contract>/<object>/<step>``, with a ParentRunFacet naming
the run) and, once the run has ended, one for the run itself (job ``<contract>/<object>``: its inputs are the raw
batch and what it read from other runs, its outputs what it made and did not use up itself). A succeeded step or
run is COMPLETE; a rejected, failed or dead-lettered one is FAIL, with an ErrorMessageRunFacet. An export is one
event of job ``<product>/export``. Step run ids are uuid5(run id, step), so the events are the same on every call.

Datasets are named ``platform://<tenant>`` + storage key, with the facets ``version`` (the SHA-256),
``platform_dataHash`` (custom: SHA-256, bytes, rows, stage, format; its schema is DataHashDatasetFacet.json beside
this module), ``schema`` where the published columns are known, input/output statistics, and ``columnLineage`` on
KPI tables (see ``columns.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from sqlalchemy import Connection

from adapters.lineage.columns import copy_lineage, kpi_lineage
from adapters.lineage.graph import LineageGraph
from domain import lineage as ln
from domain.errors import NotFoundError
from domain.values import ExportStatus, StepStatus, step_order

PRODUCER = "urn:governed-data-platform:lineage"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT = f"{SPEC}#/$defs/RunEvent"
CUSTOM_FACETS = "urn:governed-data-platform:openlineage:facets"


def _schema_url(base: str, version: str, definition: str) -> str:
    return f"{base}/{version}/{definition}.json#/$defs/{definition}"


_OPENLINEAGE_FACETS = {
    "schema": ("1-2-0", "SchemaDatasetFacet"),
    "columnLineage": ("1-2-0", "ColumnLineageDatasetFacet"),
    "version": ("1-0-1", "DatasetVersionDatasetFacet"),
    "inputStatistics": ("1-0-0", "InputStatisticsInputDatasetFacet"),
    "outputStatistics": ("1-0-2", "OutputStatisticsOutputDatasetFacet"),
    "errorMessage": ("1-0-1", "ErrorMessageRunFacet"),
    "parent": ("1-2-0", "ParentRunFacet"),
    "jobType": ("2-0-4", "JobTypeJobFacet"),
}
FACET_SCHEMAS = {
    name: _schema_url("https://openlineage.io/spec/facets", *found) for name, found in _OPENLINEAGE_FACETS.items()
}
"""Facet name -> its ``_schemaURL``: the facet versions of spec 2-0-2 (those openlineage-python 1.54 emits)."""
FACET_SCHEMAS["platform_dataHash"] = f"{CUSTOM_FACETS}:1-0-0:DataHashDatasetFacet.json#/$defs/DataHashDatasetFacet"
DATA_HASH_FACET_FILE = Path(__file__).with_name("DataHashDatasetFacet.json")
EVENT_TYPES = {StepStatus.SUCCEEDED: "COMPLETE", ExportStatus.COMPLETED: "COMPLETE"} | dict.fromkeys(
    (StepStatus.REJECTED, StepStatus.FAILED, StepStatus.DEAD_LETTERED), "FAIL"
)
"""Node status -> eventType; a node in any other status (running, retrying, requested) has no event yet."""


Row = dict[str, Any]
Flows = tuple[dict[str, list[str]], dict[str, list[str]], dict[str, Row]]


def namespace(tenant_id: str) -> str:
    return f"platform://{tenant_id}"


class _Builder:
    """Builds the events of one tenant's runs from its lineage graph."""

    def __init__(self, graph: LineageGraph, producer: str) -> None:
        self.graph = graph
        self.producer = producer
        self.namespace = namespace(graph.tenant_id)

    def facet(self, name: str, **fields: Any) -> dict[str, Any]:
        return {"_producer": self.producer, "_schemaURL": FACET_SCHEMAS[name]} | fields

    def dataset(self, row: dict[str, Any], output: bool, lineage: dict[str, Any] | None = None) -> dict[str, Any]:
        facts = row["facts"]
        facets = {"version": self.facet("version", datasetVersion=row["sha256"])}
        facets["platform_dataHash"] = self.facet(
            "platform_dataHash",
            algorithm="sha256",
            sha256=row["sha256"],
            bytes=facts["bytes"],
            rows=facts["rows"],
            stage=facts["stage"],
            format=facts["format"],
            schemaFingerprint=facts["schema"],
        )
        if row.get("columns"):
            columns = enumerate(row["columns"], 1)
            fields = [{"name": c["name"], "type": c["type"], "ordinal_position": n} for n, c in columns]
            facets["schema"] = self.facet("schema", fields=fields)
        if lineage is not None:
            facets["columnLineage"] = self.facet("columnLineage", **lineage)
        stats = {"size": facts["bytes"], "fileCount": 1}
        if facts["rows"] is not None:
            stats["rowCount"] = facts["rows"]
        kind = "output" if output else "input"
        statistics = {f"{kind}Statistics": self.facet(f"{kind}Statistics", **stats)}
        return {"namespace": self.namespace, "name": row["name"], "facets": facets, f"{kind}Facets": statistics}

    def event(
        self, node: dict[str, Any], run_id: str, job: str, io: tuple[list[dict[str, Any]], list[dict[str, Any]]]
    ) -> dict[str, Any]:
        run_facets: dict[str, Any] = {}
        if EVENT_TYPES[node["status"]] == "FAIL":
            message = node.get("error") or node["status"]
            run_facets["errorMessage"] = self.facet("errorMessage", message=message, programmingLanguage="PYTHON")
        job_type = "TASK" if node["kind"] == ln.STEP else "JOB"
        kind = self.facet("jobType", processingType="BATCH", integration="PLATFORM", jobType=job_type)
        return {
            "eventType": EVENT_TYPES[node["status"]],
            "eventTime": node.get("finished_at") or node.get("started_at"),
            "producer": self.producer,
            "schemaURL": RUN_EVENT,
            "run": {"runId": run_id, "facets": run_facets},
            "job": {"namespace": self.namespace, "name": job, "facets": {"jobType": kind}},
            "inputs": io[0],
            "outputs": io[1],
        }

    def flows(self, job_ids: list[str]) -> Flows:
        """(job -> input dataset ids, job -> output dataset ids, dataset rows) of these steps or exports."""
        ins = self.graph.edges(job_ids, True, frozenset({ln.INPUT}))
        outs = self.graph.edges(job_ids, False, frozenset({ln.OUTPUT}))
        inputs = {j: [e["source"] for e in ins if e["target"] == j] for j in job_ids}
        outputs = {j: [e["target"] for e in outs if e["source"] == j] for j in job_ids}
        rows = self.graph.nodes([*(e["source"] for e in ins), *(e["target"] for e in outs)])
        return inputs, outputs, rows

    def run_events(self, run: dict[str, Any]) -> list[dict[str, Any]]:
        run_id = run["facts"]["run_id"]
        found = self.graph.edges([run["node_id"]], False, frozenset({ln.HAS_STEP}))
        steps = self.graph.nodes(e["target"] for e in found)
        ordered = sorted(steps.values(), key=lambda s: step_order(s["facts"]["step"]))
        flows = self.flows([s["node_id"] for s in ordered])
        inputs, outputs, rows = flows
        lineage = _Lineage(self, run, rows)
        parent = self.facet("parent", run={"runId": run_id}, job={"namespace": self.namespace, "name": run["name"]})
        events = []
        for step in (s for s in ordered if s["status"] in EVENT_TYPES):
            sid = step["node_id"]
            made = [self.dataset(rows[d], True, lineage.of(step, d, inputs[sid])) for d in outputs[sid]]
            used = [self.dataset(rows[d], False) for d in inputs[sid]]
            name = step["facts"]["step"]
            event = self.event(step, str(uuid5(UUID(run_id), name)), f"{run['name']}/{name}", (used, made))
            event["run"]["facets"]["parent"] = parent
            events.append(event)
        if run["status"] in EVENT_TYPES:
            events.append(self.whole_run(run, ordered, flows))
        return events

    def whole_run(self, run: Row, steps: list[Row], flows: Flows) -> Row:
        inputs, outputs, rows = flows
        made = [d for s in steps for d in outputs[s["node_id"]]]
        used = [d for s in steps for d in inputs[s["node_id"]]]
        raw = [d for d in made if rows[d]["facts"]["stage"] == "raw"]
        external = list(dict.fromkeys([*raw, *(d for d in used if d not in made)]))
        kept = list(dict.fromkeys(d for d in made if d not in used and d not in raw))
        io = ([self.dataset(rows[d], False) for d in external], [self.dataset(rows[d], True) for d in kept])
        last = max((s.get("finished_at") or "" for s in steps), default="")
        node = run | {"finished_at": run.get("finished_at") or last}
        return self.event(node, run["facts"]["run_id"], run["name"], io)

    def export_events(self, export: dict[str, Any]) -> list[dict[str, Any]]:
        if export["status"] not in EVENT_TYPES:
            return []
        job = export["node_id"]
        inputs, outputs, rows = self.flows([job])
        used = [self.dataset(rows[d], False) for d in inputs[job]]
        made = [self.dataset(rows[d], True) for d in outputs[job]]
        name = f"{export['facts']['product']}/export"
        return [self.event(export, job.split(":", 1)[1], name, (used, made))]


class _Lineage:
    """Column lineage of the KPI tables a run makes: from its contract version's KPI definitions, and as copied."""

    def __init__(self, builder: _Builder, run: dict[str, Any], rows: dict[str, Any]) -> None:
        self.builder = builder
        self.rows = rows
        self.kpis = _kpis_of(builder.graph, run)

    def of(self, step: dict[str, Any], dataset: str, inputs: list[str]) -> dict[str, Any] | None:
        stage = self.rows[dataset]["facts"]["stage"]
        sources = [self.rows[d]["name"] for d in inputs]
        if step["facts"]["step"] == "build_kpis" and stage == "kpi":
            return kpi_lineage(self.kpis, self.builder.namespace, sources)
        kpi_files = [self.rows[d]["name"] for d in inputs if self.rows[d]["facts"]["stage"] == "kpi"]
        published = self.builder.graph.edges([dataset], False, frozenset({ln.PUBLISHED_AS}))
        if kpi_files and self.rows[dataset].get("columns") and any(e["name"] == "kpis" for e in published):
            return copy_lineage(self.rows[dataset]["columns"], self.builder.namespace, kpi_files[0])
        return None


def _kpis_of(graph: LineageGraph, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The KPI definitions of the run's contract version for the run's schema object."""
    governing = graph.edges([run["node_id"]], True, frozenset({ln.GOVERNS}))
    contracts = graph.nodes(e["source"] for e in governing)
    kpis = [k for c in contracts.values() for k in c["facts"].get("kpis", [])]
    return [k for k in kpis if k["object"] == run["facts"]["object"]]


def run_events(connection: Connection, tenant_id: str, run_id: str, producer: str = PRODUCER) -> list[dict[str, Any]]:
    """The RunEvents of a pipeline run (or of an export, by its id); NotFoundError when the tenant has neither."""
    graph = LineageGraph(connection, tenant_id)
    builder = _Builder(graph, producer)
    run = graph.node(ln.run_node(run_id))
    if run is not None:
        return builder.run_events(run)
    export = graph.node(ln.export_node(run_id))
    if export is not None:
        return builder.export_events(export)
    raise NotFoundError(f"no such run or export: {run_id}")


def tenant_events(connection: Connection, tenant_id: str, producer: str = PRODUCER) -> list[dict[str, Any]]:
    """The RunEvents of every run, then every export, of a tenant, ordered by their latest change (for bundles)."""
    graph = LineageGraph(connection, tenant_id)
    builder = _Builder(graph, producer)
    runs = [e for r in graph.of_kind(ln.RUN) for e in builder.run_events(r)]
    return runs + [e for x in graph.of_kind(ln.EXPORT) for e in builder.export_events(x)]
