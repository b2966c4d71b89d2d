"""The lineage read model: each event -> the nodes and edges it adds, the graph walks over them, and the same rows
whatever the batches the log is applied in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from lineage_story import (
    CID,
    ENGINEER,
    EXPORT_FILE,
    GDP,
    KPI,
    KPI_COLUMNS,
    PID,
    QUARANTINE,
    RAW,
    SERVED_GDP,
    SERVED_KPIS,
    SOURCE_GDP,
    START,
    STEWARD,
    TENANT,
    Seen,
    contract,
    log,
    pipeline_run,
    principal,
    project,
    the_story,
)

from adapters.lineage.graph import LineageGraph
from domain import lineage as ln
from domain.aggregate import Aggregate
from domain.pipeline import PipelineRun
from domain.products import DataProduct, Dataset
from domain.tenants import Tenant
from projections.base import Update, Upsert
from projections.lineage import edges, evolve, nodes, roles


def changes_of(seen: Seen) -> list[Any]:
    return evolve(seen)


def at(seen: Seen) -> str:
    return seen.recorded_at.isoformat()


def edge(
    source: str, target: str, relation: str, position: int, sha: str | None = None, name: str | None = None
) -> Upsert:
    key = {"source": source, "target": target, "relation": relation}
    return Upsert(edges, key, {"tenant_id": TENANT, "sha256": sha, "name": name, "position": position})


def dataset(file: dict[str, Any], position: int, **extra: Any) -> Upsert:
    facts = {"stage": ln.stage_of(file["key"]), "bytes": file["bytes"], "rows": file["rows"]}
    facts |= {"format": file["format"], "schema": file["schema"]}
    values = {"tenant_id": TENANT, "kind": "dataset", "name": file["key"], "facts": facts, "sha256": file["sha256"]}
    return Upsert(nodes, {"node_id": ln.dataset_node(file["key"])}, values | extra | {"position": position})


def test_an_ingested_batch_is_a_run_governed_by_its_contract_version_and_a_raw_dataset_its_ingest_step_made() -> None:
    run = pipeline_run()
    seen = log(run.steps)[0]
    run_id = run.run_id
    [run_node, governs, step, has_step, raw, output] = changes_of(seen)
    assert run_node.key == {"node_id": f"run:{run_id}"}
    assert run_node.values["status"] == "running"
    assert run_node.values["facts"]["source"] == "http:test"
    assert governs == edge(f"contract_version:{CID}:1.0.0", f"run:{run_id}", "governs", 1)
    assert step.key == {"node_id": f"step:{run_id}:ingest"}
    assert step.values["status"] == "succeeded"
    assert has_step == edge(f"run:{run_id}", f"step:{run_id}:ingest", "has_step", 1)
    assert raw == dataset(RAW, 1)
    assert output == edge(f"step:{run_id}:ingest", ln.dataset_node(RAW["key"]), "output", 1, RAW["sha256"])


def test_a_normalized_batch_flows_from_raw_through_the_step_to_golden_data_points_and_quarantine() -> None:
    run = pipeline_run()
    seen = log(run.steps)[1]
    step_id = f"step:{run.run_id}:normalize"
    flows = [(c.key["source"], c.key["target"], c.values["sha256"]) for c in changes_of(seen) if c.table is edges]
    assert flows == [
        (f"run:{run.run_id}", step_id, None),
        (ln.dataset_node(RAW["key"]), step_id, RAW["sha256"]),
        (step_id, ln.dataset_node(GDP["key"]), GDP["sha256"]),
        (step_id, ln.dataset_node(QUARANTINE["key"]), QUARANTINE["sha256"]),
    ]
    step = next(c for c in changes_of(seen) if c.key == {"node_id": step_id})
    event = seen.event
    assert step.values["status"] == "succeeded"
    assert (step.values["started_at"], step.values["finished_at"]) == (event.started_at, event.finished_at)


def test_a_product_version_is_what_its_served_datasets_are_published_as_and_the_merged_source_is_a_publish_output() -> (
    None
):
    run = pipeline_run()
    seen = log(run.product)[1]
    version = f"product_version:{PID}:1"
    publish = f"step:{run.run_id}:publish"
    changed = changes_of(seen)
    product = changed[0]
    assert product.key == {"node_id": version}
    assert product.values["facts"]["contract_version"] == "1.0.0"
    assert product.values["status"] == "published"
    links = {(c.key["source"], c.key["target"], c.key["relation"]) for c in changed if c.table is edges}
    assert (ln.dataset_node(SERVED_KPIS["key"]), version, "published_as") in links
    assert (ln.dataset_node(SERVED_GDP["key"]), version, "published_as") in links
    # The run's publish step wrote the served files: known now, before the run records the step's end.
    assert (publish, ln.dataset_node(SERVED_KPIS["key"]), "output") in links
    # The merged golden data points are made by the publish step; the KPI file is its input, never its output.
    assert (publish, ln.dataset_node(SOURCE_GDP["key"]), "output") in links
    assert (publish, ln.dataset_node(KPI["key"]), "output") not in links
    columns = {c.key["node_id"]: c.values.get("columns") for c in changed if c.table is nodes}
    assert columns[ln.dataset_node(SERVED_KPIS["key"])] == KPI_COLUMNS
    assert columns[ln.dataset_node(KPI["key"])] == KPI_COLUMNS  # nothing masked: the source has the same columns
    assert columns[ln.dataset_node(SOURCE_GDP["key"])] is None  # masked: the source's values differ from the served
    publish_step = next(c for c in changed if c.key == {"node_id": publish})
    assert "status" not in publish_step.values  # the run's own Published event says when the step finished


def test_a_retraction_changes_the_version_status_and_keeps_the_node() -> None:
    product = DataProduct.create(TENANT, "retail-sales")
    datasets = [Dataset(name="kpis", served=SERVED_KPIS, source=KPI, columns=KPI_COLUMNS, masked=[])]
    product.publish("retail-sales", "1.0.0", "run-1", "Retail", None, None, datasets, "passed", [])
    product.retract(1, "built from an incomplete feed", STEWARD)
    [created, _, retracted] = log(list(product.collect_events()))
    assert changes_of(created) == []  # a product without versions has nothing to draw
    node = {"node_id": f"product_version:{PID}:1"}
    assert changes_of(retracted) == [
        Update(nodes, node, {"status": "retracted", "error": "built from an incomplete feed", "position": 3})
    ]


def test_an_approval_is_a_node_that_approves_the_contract_version_and_the_roles_of_principals_have_a_history() -> None:
    events = log(principal("someone", "analyst", "data-steward")[1], contract())
    [_, analyst, steward, _, _, approved] = events
    assert changes_of(analyst) == [
        Upsert(
            roles, {"principal_id": principal("someone")[0], "position": 2}, {"tenant_id": TENANT, "roles": ["analyst"]}
        )
    ]
    assert changes_of(steward)[0].values["roles"] == ["analyst", "data-steward"]
    [active, approval, approves] = changes_of(approved)
    version = f"contract_version:{CID}:1.0.0"
    assert active == Update(nodes, {"node_id": version}, {"status": "active", "position": 6})
    assert approval.key == {"node_id": f"approval:{CID}:1.0.0"}
    assert approval.values["facts"] == {"version": "1.0.0", "by": STEWARD, "position": 6, "at": at(approved)}
    assert approves == edge(f"approval:{CID}:1.0.0", version, "approves", 6)


def test_a_drafted_contract_version_keeps_its_author_document_hash_and_kpis() -> None:
    drafted = log(contract())[0]
    [version] = changes_of(drafted)
    facts = version.values["facts"]
    assert (facts["contract"], facts["version"], facts["author"]) == ("retail-sales", "1.0.0", ENGINEER)
    assert facts["document_sha256"] == drafted.event.sha256
    assert [k["name"] for k in facts["kpis"]] == [
        "daily_revenue",
        "weekly_orders",
        "average_line_amount",
        "monthly_refund_rate",
    ]


class ActionDelivered(Aggregate.Event):
    """A stand-in for the action engine's future event: it only has to carry the lineage marker and the KPI hash."""

    lineage_subject: ClassVar[str] = ln.ACTION_DELIVERED
    kpi_sha256: str | None


def test_an_event_marked_as_an_action_delivery_becomes_an_action_node_citing_its_kpi() -> None:
    delivered = ActionDelivered(originator_id=uuid4(), originator_version=3, timestamp=START, kpi_sha256=KPI["sha256"])
    [action] = changes_of(Seen(9, delivered, START))
    assert action.key == {"node_id": f"action:{delivered.originator_id}:3"}
    assert action.values["facts"] == {"kpi_sha256": KPI["sha256"]}


def test_events_lineage_does_not_draw_change_nothing() -> None:
    tenant = Tenant.onboard("acme", "Acme", "standard")
    tenant_events = log(list(tenant.collect_events()))
    registered = log(principal("nobody")[1])
    assert [changes_of(seen) for seen in tenant_events + registered] == [[]] * (len(tenant_events) + 1)


def test_rows_are_the_same_whether_the_log_is_applied_at_once_or_event_by_event(tmp_path: Path) -> None:
    _, events = the_story()
    whole = project(tmp_path, events, "whole.db")
    one_by_one = project(tmp_path, [], "steps.db")
    for seen in events:
        one_by_one.apply("lineage", [seen])
    assert whole.snapshot("lineage") == one_by_one.snapshot("lineage")
    assert project(tmp_path, events, "again.db").snapshot("lineage") == whole.snapshot("lineage")


@pytest.fixture
def graph(tmp_path: Path) -> Any:
    _, events = the_story()
    store = project(tmp_path, events)
    with store.engine.connect() as connection:
        yield LineageGraph(connection, TENANT)
    store.close()


def test_upstream_of_a_published_dataset_reaches_its_raw_batch_its_contract_version_and_the_approval(graph) -> None:
    [start] = graph.datasets(SERVED_KPIS["sha256"])
    walk = graph.walk([start["node_id"]], upstream=True, depth=20)
    kinds = {walk.nodes[n]["kind"] for n in walk.distances}
    assert kinds == {"dataset", "step", "run", "contract_version", "approval"}
    assert walk.distances[ln.dataset_node(RAW["key"])] == 4  # published <- publish <- gdp <- normalize <- raw
    assert f"approval:{CID}:1.0.0" in walk.distances
    assert ln.dataset_node(EXPORT_FILE["key"]) not in walk.distances
    assert not walk.truncated


def test_downstream_of_a_raw_batch_reaches_the_product_version_and_the_export_file(graph) -> None:
    [raw] = graph.datasets(RAW["sha256"])
    walk = graph.walk([raw["node_id"]], upstream=False, depth=20)
    assert f"product_version:{PID}:1" in walk.distances
    assert ln.dataset_node(EXPORT_FILE["key"]) in walk.distances
    assert all(walk.nodes[n]["kind"] not in ("contract_version", "approval") for n in walk.distances)


def test_a_walk_stops_at_its_depth_and_says_it_was_cut_short(graph) -> None:
    [raw] = graph.datasets(RAW["sha256"])
    walk = graph.walk([raw["node_id"]], upstream=False, depth=2)
    assert max(walk.distances.values()) == 2
    assert walk.truncated
    assert ln.dataset_node(GDP["key"]) in walk.distances


def test_a_tenant_sees_only_its_own_graph(tmp_path: Path) -> None:
    _, events = the_story()
    store = project(tmp_path, events)
    with store.engine.connect() as connection:
        assert LineageGraph(connection, "another-tenant").datasets(RAW["sha256"]) == []
    store.close()


def test_a_dead_lettered_step_revived_from_the_dead_letters_is_retrying_again() -> None:
    run = PipelineRun.ingest(TENANT, "retail-sales", "1.0.0", "sales", "http:test", RAW, START.isoformat())
    run.fail_step("normalize", "IntegrityError: altered", 0.1, max_attempts=1)
    run.revive("normalize", STEWARD)
    [_, failed, dead, revived] = log(list(run.collect_events()))
    step, node = f"step:{run.id}:normalize", f"run:{run.id}"
    assert changes_of(failed)[0].values["status"] == "failed"
    assert [c.values["status"] for c in changes_of(dead)] == ["dead-lettered", "dead-lettered"]
    assert changes_of(revived) == [
        Update(nodes, {"node_id": step}, {"status": "retrying", "attempts": 0, "position": 4}),
        Update(nodes, {"node_id": node}, {"status": "running", "error": None, "finished_at": None, "position": 4}),
    ]
