"""Lineage over HTTP, on the embedded default and on PostgreSQL: a real batch through the pipeline, then its lineage
walked up and down by content hash, exported as OpenLineage RunEvents, the obligations checked (and broken: raw
bytes altered behind the platform's back, a contract approved by someone who is no steward), and the audit trace.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import test_pipeline_api as pipeline
from litestar.testing import TestClient

from adapters.lineage.trace import format_trace, trace
from domain.access import principal_id_for
from domain.errors import NotFoundError
from interfaces.bootstrap import Platform
from interfaces.credentials import LOCAL_ISSUER
from interfaces.trace import run_trace
from sample.retail import CONTRACT

api, tenant, people, published = pipeline.api, pipeline.tenant, pipeline.people, pipeline.published
"""The pipeline tests' fixtures: an admin client, a tenant, its people, a batch published."""
approve_contract, assert_problem, sample_csv = pipeline.approve_contract, pipeline.assert_problem, pipeline.sample_csv
settle, upload = pipeline.settle, pipeline.upload

pytestmark = pytest.mark.shared_platform


def lineage(tenant: str) -> str:
    return f"/v1/tenants/{tenant}/lineage"


def dev_principal(role: str, tenant: str) -> str:
    return str(principal_id_for(LOCAL_ISSUER, f"dev-{role}-{tenant}", tenant))


def served(api: TestClient, tenant: str, people: dict, name: str = "kpis") -> dict[str, Any]:
    product = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=people["analyst"]).json()
    return next(d for d in product["versions"][0]["datasets"] if d["name"] == name)


def obligations(api: TestClient, tenant: str, headers: dict[str, str], **params: str) -> dict[str, Any]:
    found = api.get(f"{lineage(tenant)}/obligations", params=params, headers=headers)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def test_a_published_number_traces_upstream_to_its_raw_bytes_and_the_contract_approval(
    api: TestClient, tenant: str, people: dict, published: dict
) -> None:
    kpis = served(api, tenant, people)
    found = api.get(f"{lineage(tenant)}/datasets/{kpis['sha256']}/upstream", headers=people["analyst"])
    assert found.status_code == 200, found.text
    body = found.json()
    nodes = {n["id"]: n for n in body["nodes"]}
    raw = [n for n in body["nodes"] if n["kind"] == "dataset" and n["facts"]["stage"] == "raw"]
    assert [n["sha256"] for n in raw] == [published["sha256"]]
    steps = sorted(n["facts"]["step"] for n in body["nodes"] if n["kind"] == "step")
    assert steps == ["build_kpis", "ingest", "normalize", "publish"]
    [approval] = [n for n in body["nodes"] if n["kind"] == "approval"]
    assert approval["facts"]["by"] == dev_principal("data-steward", tenant)
    [contract] = [n for n in body["nodes"] if n["kind"] == "contract_version"]
    assert contract["facts"]["author"] == dev_principal("data-engineer", tenant)
    assert (contract["status"], contract["name"]) == ("active", "retail-sales 1.0.0")
    # Every edge that touches a dataset carries that dataset's content hash.
    for edge in body["edges"]:
        for end in (edge["source"], edge["target"]):
            if nodes[end]["kind"] == "dataset":
                assert edge["sha256"] == nodes[end]["sha256"]
    assert body["truncated"] is False


def test_downstream_of_a_raw_batch_reaches_the_product_version_within_the_depth_asked(
    api: TestClient, tenant: str, people: dict, published: dict
) -> None:
    path = f"{lineage(tenant)}/datasets/{published['sha256']}/downstream"
    everything = api.get(path, headers=people["analyst"]).json()
    kinds = {n["kind"] for n in everything["nodes"]}
    assert kinds == {"dataset", "step", "product_version"}
    [version] = [n for n in everything["nodes"] if n["kind"] == "product_version"]
    assert version["name"] == "retail-sales v1"
    kpis = served(api, tenant, people)
    assert kpis["sha256"] in {n.get("sha256") for n in everything["nodes"]}
    near = api.get(path, params={"depth": 1}, headers=people["analyst"]).json()
    assert [n["kind"] for n in near["nodes"]] == ["dataset", "step"]
    assert near["truncated"] is True


def test_a_run_exports_as_openlineage_run_events_with_hashes_schemas_and_column_lineage(
    api: TestClient, tenant: str, people: dict, published: dict
) -> None:
    found = api.get(f"{lineage(tenant)}/runs/{published['run_id']}/openlineage", headers=people["analyst"])
    assert found.status_code == 200, found.text
    events = found.json()
    jobs = [(e["eventType"], e["job"]["name"]) for e in events]
    steps = ["ingest", "normalize", "build_kpis", "publish"]
    assert jobs == [("COMPLETE", f"retail-sales/sales/{s}") for s in steps] + [("COMPLETE", "retail-sales/sales")]
    assert {e["job"]["namespace"] for e in events} == {f"platform://{tenant}"}
    ingest, _, build, publish, whole = events
    [raw] = ingest["outputs"]
    assert raw["facets"]["platform_dataHash"]["sha256"] == published["sha256"]
    assert raw["facets"]["version"]["datasetVersion"] == published["sha256"]
    assert all(e["run"]["facets"]["parent"]["run"]["runId"] == published["run_id"] for e in events[:4])
    [kpi_file] = build["outputs"]
    columns = kpi_file["facets"]["columnLineage"]["fields"]
    assert {f["field"] for f in columns["value"]["inputFields"]} == {"amount", "order_id", "refunded_amount"}
    assert {f["field"] for f in columns["period_start"]["inputFields"]} == {"ordered_at"}
    assert {f["field"] for f in columns["country"]["inputFields"]} == {"country"}
    filtered = kpi_file["facets"]["columnLineage"]["dataset"]
    assert any(f["field"] == "status" and f["transformations"][0]["subtype"] == "FILTER" for f in filtered)
    kpis = served(api, tenant, people)
    published_kpis = next(o for o in publish["outputs"] if o["facets"]["version"]["datasetVersion"] == kpis["sha256"])
    assert [f["name"] for f in published_kpis["facets"]["schema"]["fields"]] == [c["name"] for c in kpis["columns"]]
    assert [i["facets"]["version"]["datasetVersion"] for i in whole["inputs"]] == [published["sha256"]]


def test_a_failed_run_exports_a_fail_event_with_its_reasons(
    api: TestClient, platform: Platform, tenant: str, people: dict
) -> None:
    approve_contract(api, tenant, people)
    header = (
        "order_id,line,ordered_at,store,country,sku,quantity,unit_price,amount,refunded_amount,status,customer_email"
    )
    bad = f"{header}\nO-1,1,2026-01-01T10:00:00Z,berlin-mitte,DE,SKU-1,x,1.0,,0,paid,\n"
    accepted = upload(api, tenant, bad.encode(), people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)
    events = api.get(f"{lineage(tenant)}/runs/{accepted.json()['run_id']}/openlineage", headers=people["analyst"])
    kinds = [(e["eventType"], e["job"]["name"].rsplit("/", 1)[-1]) for e in events.json()]
    assert kinds == [("COMPLETE", "ingest"), ("FAIL", "normalize"), ("FAIL", "sales")]
    assert events.json()[1]["run"]["facets"]["errorMessage"]["message"]


def test_obligations_hold_for_a_clean_flow_and_altered_raw_bytes_break_o2_when_checked(
    api: TestClient, platform: Platform, tenant: str, people: dict, published: dict
) -> None:
    clean = obligations(api, tenant, people["analyst"])
    assert [o["id"] for o in clean["obligations"]] == ["O1", "O2", "O3"]
    assert [(r["obligation"], r["label"], r["status"]) for r in clean["results"]] == [
        ("O1", "retail-sales v1", "satisfied"),
        ("O2", "retail-sales v1", "satisfied"),
    ]
    assert clean["counts"] == {"satisfied": 2, "violated": 0, "pending": 0}
    assert obligations(api, tenant, people["analyst"], status="violated")["results"] == []
    assert obligations(api, tenant, people["data-steward"], verify="true")["counts"]["violated"] == 0
    landed = next(Path(platform.settings.datasets, tenant).rglob("*.csv"))
    os.chmod(landed, 0o640)
    altered = bytearray(landed.read_bytes())  # sealed at rest: one bit of its sealed bytes
    altered[-20] ^= 1
    landed.write_bytes(bytes(altered))
    assert obligations(api, tenant, people["analyst"])["counts"]["violated"] == 0  # from events alone: unchanged
    checked = obligations(api, tenant, people["data-steward"], verify="true", status="violated")
    [violation] = checked["results"]
    assert violation["obligation"] == "O2"
    assert "fails its checksum" in violation["reasons"][0]
    refused = api.get(f"{lineage(tenant)}/obligations", params={"verify": "true"}, headers=people["analyst"])
    assert refused.status_code == 403


def test_a_contract_approved_by_a_platform_admin_who_is_no_steward_breaks_o1(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    engineer = people["data-engineer"]
    created = api.post(
        f"/v1/tenants/{tenant}/contracts",
        content=CONTRACT.read_bytes(),
        headers=engineer | {"content-type": "application/yaml"},
    )
    assert created.status_code == 201, created.text
    proposed = api.post(
        f"/v1/tenants/{tenant}/contracts/retail-sales/propose", json={"version": "1.0.0"}, headers=engineer
    )
    assert proposed.status_code == 202, proposed.text
    approved = api.post(f"/v1/tenants/{tenant}/contracts/retail-sales/approve", json={"version": "1.0.0"})
    assert approved.status_code == 202, approved.text  # the client speaks as a platform admin
    assert upload(api, tenant, sample_csv(tmp_path, rows=30, defects=False), engineer).status_code == 202
    settle(platform)
    [violation] = obligations(api, tenant, people["analyst"], status="violated")["results"]
    assert (violation["obligation"], violation["label"]) == ("O1", "retail-sales v1")
    assert "held platform-admin at approval time, not data-steward" in violation["reasons"][0]


def test_the_audit_trace_runs_from_the_product_version_to_its_raw_bytes_and_approval(
    api: TestClient, platform: Platform, tenant: str, people: dict, published: dict
) -> None:
    with platform.read_models.engine.connect() as connection:
        found = trace(connection, tenant, "retail-sales", 1, platform.datasets)
    assert [s["step"] for s in found["steps"]] == ["publish", "build_kpis", "normalize", "ingest"]
    [raw] = found["raw_batches"]
    assert (raw["sha256"], raw["verified"]) == (published["sha256"], True)
    assert found["contract"]["approval"]["roles"] == ["data-steward"]
    lines = format_trace(found)
    assert lines[0].startswith(f"retail-sales v1 (published) of tenant {tenant}")
    assert any(published["sha256"] in line and "checksum verified" in line for line in lines)
    assert any(line.strip().startswith(f"approved by {dev_principal('data-steward', tenant)}") for line in lines)
    assert lines[-2:] == ["  O1 v1 satisfied", "  O2 v1 satisfied"]


def test_platform_audit_trace_prints_the_chain_and_exits_non_zero_once_raw_bytes_are_altered(
    api: TestClient, platform: Platform, tenant: str, people: dict, published: dict
) -> None:
    printed = io.StringIO()
    assert run_trace(platform.settings, tenant, "retail-sales", 1, verify=True, out=printed) == 0
    assert f"sha256 {published['sha256']}" in printed.getvalue()
    as_json = io.StringIO()
    run_trace(platform.settings, tenant, "retail-sales", 1, as_json=True, out=as_json)
    assert json.loads(as_json.getvalue())["raw_batches"][0]["sha256"] == published["sha256"]
    landed = next(Path(platform.settings.datasets, tenant).rglob("*.csv"))
    os.chmod(landed, 0o640)
    landed.write_bytes(b"order_id\n")
    altered = io.StringIO()
    assert run_trace(platform.settings, tenant, "retail-sales", 1, verify=True, out=altered) == 1
    assert "O2 v1 violated: raw batch" in altered.getvalue()
    with pytest.raises(NotFoundError, match="no such product version: retail-sales v9"):
        run_trace(platform.settings, tenant, "retail-sales", 9, out=io.StringIO())


@pytest.mark.parametrize(
    ("path", "params", "status", "slug"),
    [
        ("datasets/not-a-hash/upstream", {}, 404, "not-found"),
        (f"datasets/{'0' * 64}/downstream", {}, 404, "not-found"),
        (f"datasets/{'0' * 64}/upstream", {"depth": 1000}, 422, "invalid-request"),
        ("runs/00000000-0000-4000-8000-000000000000/openlineage", {}, 404, "not-found"),
        ("runs/not-a-run/openlineage", {}, 404, "not-found"),
        ("obligations", {"status": "broken"}, 422, "invalid-request"),
    ],
    ids=["malformed-hash", "unknown-hash", "too-deep", "unknown-run", "malformed-run", "unknown-status"],
)
def test_bad_lineage_requests_get_problem_details(
    api: TestClient, tenant: str, people: dict, path: str, params: dict, status: int, slug: str
) -> None:
    found = api.get(f"{lineage(tenant)}/{path}", params=params, headers=people["analyst"])
    assert_problem(found, status, slug)
