"""The data pipeline over HTTP, on the embedded default and on PostgreSQL: a batch in, KPIs and a product out.

Contract registered and approved (four eyes), batch uploaded, the orchestrator driven to the end, then the run,
the product, its rows (filters, fields, pages, formats, masking), the catalog, exports and retraction read back.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from litestar.testing import TestClient
from pyarrow import ipc

from interfaces.bootstrap import Platform
from interfaces.http.app import create_app
from sample.retail import COLUMNS, CONTRACT, lines, write_csv
from tests.e2e.conftest import new_slug

PROBLEM = "application/problem+json"


pytestmark = pytest.mark.shared_platform


@pytest.fixture
def api(client: TestClient) -> TestClient:
    return client


@pytest.fixture
def tenant(api: TestClient) -> str:
    created = api.post("/v1/tenants", json={"slug": new_slug("retail"), "display_name": "Retail Co"})
    assert created.status_code == 201, created.text
    tenant = created.json()["tenant_id"]
    entitled = api.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
    assert entitled.status_code == 202, entitled.text
    return str(tenant)


@pytest.fixture
def people(token_for, tenant: str) -> dict[str, dict[str, str]]:
    return {role: token_for(role, tenant) for role in ("data-engineer", "data-steward", "analyst", "tenant-admin")}


def approve_contract(
    api: TestClient, tenant: str, people: dict[str, dict[str, str]], text: bytes | None = None
) -> None:
    body = text if text is not None else CONTRACT.read_bytes()
    engineer, steward = people["data-engineer"], people["data-steward"]
    created = api.post(
        f"/v1/tenants/{tenant}/contracts", content=body, headers=engineer | {"content-type": "application/yaml"}
    )
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    proposed = api.post(
        f"/v1/tenants/{tenant}/contracts/retail-sales/propose", json={"version": version}, headers=engineer
    )
    assert proposed.status_code == 202, proposed.text
    approved = api.post(
        f"/v1/tenants/{tenant}/contracts/retail-sales/approve", json={"version": version}, headers=steward
    )
    assert approved.status_code == 202, approved.text


def upload(api: TestClient, tenant: str, data: bytes, headers: dict[str, str], media: str = "text/csv") -> Any:
    return api.post(
        f"/v1/tenants/{tenant}/contracts/retail-sales/batches",
        content=data,
        headers=headers | {"content-type": media},
    )


def sample_csv(tmp_path: Path, rows: int = 600, defects: bool = True, seed: int = 7) -> bytes:
    return write_csv(tmp_path / f"sales-{rows}-{seed}.csv", rows, seed=seed, defects=defects).read_bytes()


def landed_datasets(platform: Platform, tenant: str = "") -> list[Path]:
    """Dataset files in the store, or in a tenant's part of it; the contract documents (blobs) that approving a
    contract stores are not."""
    found = Path(platform.settings.datasets, tenant).rglob("*")
    return [p for p in found if p.is_file() and "blobs" not in p.relative_to(platform.settings.datasets).parts]


def settle(platform: Platform) -> None:
    """Drives the pipeline to rest and brings every read model up to date."""
    platform.orchestrator.catch_up()
    platform.worker.catch_up()


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(slug), body
    return body


@pytest.fixture
def published(api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path) -> dict[str, Any]:
    approve_contract(api, tenant, people)
    accepted = upload(api, tenant, sample_csv(tmp_path), people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)
    return dict(accepted.json())


def test_a_batch_goes_from_raw_to_a_published_product(
    api: TestClient, platform: Platform, tenant: str, people: dict, published: dict[str, Any]
) -> None:
    assert published["contract_version"] == "1.0.0"
    assert published["format"] == "csv"
    assert published["duplicate"] is False
    run = api.get(published["location"], headers=people["analyst"]).json()
    assert run["status"] == "succeeded", (run["reasons"], run["quality"])
    steps = {s["step"]: s for s in run["steps"]}
    assert list(steps) == ["ingest", "normalize", "build_kpis", "publish"]
    normalize = steps["normalize"]
    # 600 good lines plus four defects: an unreadable quantity, a missing amount and an unknown country are
    # quarantined; a corrected re-send of a line replaces the first one.
    assert (run["rows_in"], run["rejected"], run["duplicates"], run["rows_out"]) == (604, 3, 1, 600)
    assert normalize["duration_ms"] >= 0
    assert normalize["outputs"][0]["sha256"]
    assert all(s["status"] == "succeeded" for s in run["steps"])
    assert steps["ingest"]["outputs"][0]["sha256"] == published["sha256"]
    # Lineage: each step's inputs are the outputs of the one before, by content hash.
    assert steps["normalize"]["inputs"][0]["sha256"] == published["sha256"]
    assert steps["build_kpis"]["inputs"][0]["sha256"] == normalize["outputs"][0]["sha256"]
    assert steps["publish"]["inputs"][0]["sha256"] == steps["build_kpis"]["outputs"][0]["sha256"]
    assert run["product"] == "retail-sales"
    assert run["product_version"] == 1

    product = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=people["analyst"]).json()
    assert [v["version"] for v in product["versions"]] == [1]
    datasets = {d["name"]: d for d in product["versions"][0]["datasets"]}
    assert set(datasets) == {"kpis", "gdp"}
    assert datasets["gdp"]["masked"] == ["customer_email"]
    assert datasets["gdp"]["rows"] == 600


def test_kpi_rows_are_filtered_selected_and_paged(
    api: TestClient, tenant: str, people: dict, published: dict[str, Any]
) -> None:
    path = f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows"
    analyst = people["analyst"]
    daily = api.get(path, params={"kpi": "daily_revenue", "country": "DE", "limit": 5}, headers=analyst)
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert len(body["rows"]) == 5
    assert body["next_cursor"]
    assert {r["kpi"] for r in body["rows"]} == {"daily_revenue"}
    assert {r["country"] for r in body["rows"]} == {"DE"}
    seen = list(body["rows"])
    cursor = body["next_cursor"]
    while cursor:
        page = api.get(
            path, params={"kpi": "daily_revenue", "country": "DE", "limit": 5, "cursor": cursor}, headers=analyst
        )
        assert page.status_code == 200, page.text
        seen += page.json()["rows"]
        cursor = page.json()["next_cursor"]
    everything = api.get(path, params={"kpi": "daily_revenue", "country": "DE", "limit": 10000}, headers=analyst)
    assert seen == everything.json()["rows"]
    params = {"kpi": "daily_revenue", "value[gte]": "500", "fields": "kpi,value"}
    ranged = api.get(path, params=params, headers=analyst)
    rows = ranged.json()["rows"]
    assert rows
    assert all(set(r) == {"kpi", "value"} and r["value"] >= 500 for r in rows)


def test_rows_come_as_csv_arrow_or_parquet(api: TestClient, tenant: str, people: dict, published: dict) -> None:
    path = f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows"
    params = {"kpi": "weekly_orders"}
    as_json = api.get(path, params=params, headers=people["analyst"]).json()["rows"]
    as_csv = api.get(path, params=params, headers=people["analyst"] | {"accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert pacsv.read_csv(io.BytesIO(as_csv.content)).num_rows == len(as_json)
    arrow = api.get(path, params=params, headers=people["analyst"] | {"accept": "application/vnd.apache.arrow.stream"})
    assert ipc.open_stream(arrow.content).read_all().num_rows == len(as_json)
    parquet = api.get(path, params=params | {"format": "parquet"}, headers=people["analyst"])
    table = pq.read_table(pa.BufferReader(parquet.content))
    assert table.column("value").to_pylist() == [r["value"] for r in as_json]
    refused = api.get(path, headers=people["analyst"] | {"accept": "application/xml"})
    assert_problem(refused, 406, "not-acceptable")
    bad = api.get(path, params={"value[gte]": "lots"}, headers=people["analyst"])
    assert assert_problem(bad, 400, "bad-query")["errors"][0]["parameter"] == "value[gte]"
    assert_problem(api.get(path, params={"colour": "red"}, headers=people["analyst"]), 400, "bad-query")


def test_personal_data_is_masked_unless_the_reader_is_entitled(
    api: TestClient, tenant: str, people: dict, published: dict
) -> None:
    path = f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows"
    params = {"dataset": "gdp", "fields": "order_id,line,customer_email", "limit": 50}
    masked = api.get(path, params=params, headers=people["analyst"]).json()
    assert masked["masked"] == ["customer_email"]
    emails = [r["customer_email"] for r in masked["rows"] if r["customer_email"]]
    assert emails
    assert all(e.startswith("masked:") for e in emails)
    clear = api.get(path, params=params, headers=people["data-steward"]).json()
    assert clear["masked"] == []
    assert any(r["customer_email"].endswith("@example.com") for r in clear["rows"] if r["customer_email"])


def test_the_catalog_lists_and_searches_published_products(
    api: TestClient, tenant: str, people: dict, published: dict
) -> None:
    found = api.get("/v1/catalog", params={"q": "refund"}, headers=people["analyst"]).json()["products"]
    assert [p["product"] for p in found] == ["retail-sales"]
    entry = found[0]
    assert entry["owner"] == "retail-analytics"
    assert entry["contract_version"] == "1.0.0"
    assert entry["latest_version"] == 1
    assert entry["rows"] > 600
    assert entry["quality"] == "passed"
    assert entry["freshness"]
    assert "customer_email" in [c["name"] for c in entry["schema"]["gdp"]]
    assert api.get("/v1/catalog", params={"q": "nothing-like-this"}, headers=people["analyst"]).json()["products"] == []


def test_a_second_batch_publishes_version_two_and_a_retracted_version_is_gone(
    api: TestClient, platform: Platform, tenant: str, people: dict, published: dict, tmp_path: Path
) -> None:
    second = upload(api, tenant, sample_csv(tmp_path, rows=300, defects=False, seed=11), people["data-engineer"])
    assert second.status_code == 202, second.text
    settle(platform)
    product = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=people["analyst"]).json()
    assert [v["version"] for v in product["versions"]] == [1, 2]
    two = {d["name"]: d for d in product["versions"][1]["datasets"]}
    # All golden data points of the contract version, where a later batch's line replaces an earlier one's.
    keys = {(line[0], line[1]) for seed, rows in ((7, 600), (11, 300)) for line in lines(rows, seed)}
    assert two["gdp"]["rows"] == len(keys) < 900
    retract = api.post(
        f"/v1/tenants/{tenant}/products/retail-sales/versions/1/retract",
        json={"reason": "built from a feed later found incomplete"},
        headers=people["data-steward"],
    )
    assert retract.status_code == 200, retract.text
    platform.worker.catch_up()
    gone = api.get(f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows", headers=people["analyst"])
    assert_problem(gone, 410, "retracted")
    kept = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=people["analyst"]).json()
    assert [v["status"] for v in kept["versions"]] == ["retracted", "published"]
    denied = api.post(
        f"/v1/tenants/{tenant}/products/retail-sales/versions/2/retract",
        json={"reason": "x"},
        headers=people["analyst"],
    )
    assert denied.status_code == 403


def test_the_same_bytes_land_once_and_an_idempotency_key_makes_a_retry_safe(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    data = sample_csv(tmp_path, rows=50, defects=False)
    headers = people["data-engineer"] | {"Idempotency-Key": "batch-2026-01-31"}
    first = upload(api, tenant, data, headers)
    retry = upload(api, tenant, data, headers)
    again = upload(api, tenant, data, people["data-engineer"])
    assert first.status_code == 202, first.text
    assert retry.json()["run_id"] == again.json()["run_id"] == first.json()["run_id"]
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    raw = list(Path(platform.settings.datasets, tenant).rglob("*.csv"))
    assert len(raw) == 1
    settle(platform)
    settle(platform)  # a second pass over the same log builds nothing twice
    product = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=people["analyst"]).json()
    assert [v["version"] for v in product["versions"]] == [1]


def test_exports_are_requested_completed_and_downloaded_through_an_expiring_link(
    api: TestClient, platform: Platform, tenant: str, people: dict, published: dict
) -> None:
    analyst = people["analyst"]
    requested = api.post(
        f"/v1/tenants/{tenant}/exports",
        json={"product": "retail-sales", "version": 1, "format": "parquet", "filters": {"kpi": "daily_revenue"}},
        headers=analyst,
    )
    assert requested.status_code == 202, requested.text
    settle(platform)
    export = api.get(requested.json()["location"], headers=analyst).json()
    assert export["status"] == "completed"
    assert export["rows"] > 0
    download = api.get(export["download_url"], headers=analyst)
    assert download.status_code == 200, download.text
    table = pq.read_table(pa.BufferReader(download.content))
    assert table.num_rows == export["rows"]
    assert set(table.column("kpi").to_pylist()) == {"daily_revenue"}
    platform.worker.catch_up()
    after = api.get(requested.json()["location"], headers=analyst).json()
    assert after["downloads"] == 1
    tampered = export["download_url"].replace("expires=", "expires=1")
    assert api.get(tampered, headers=analyst).status_code == 403
    bad_filter = api.post(
        f"/v1/tenants/{tenant}/exports",
        json={"product": "retail-sales", "version": 1, "format": "csv", "filters": {"value[gte]": "x"}},
        headers=analyst,
    )
    assert_problem(bad_filter, 400, "bad-query")


# --- bad input: a clear 4xx before landing, nothing recorded


def test_a_batch_for_a_contract_without_an_active_version_is_refused_by_policy(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    engineer = people["data-engineer"]
    drafted = api.post(
        f"/v1/tenants/{tenant}/contracts",
        content=CONTRACT.read_bytes(),
        headers=engineer | {"content-type": "application/yaml"},
    )
    assert drafted.status_code == 201
    before = platform.store.last_position()
    refused = upload(api, tenant, sample_csv(tmp_path, rows=10, defects=False), engineer)
    body = assert_problem(refused, 403, "forbidden")
    assert "no active version" in body["detail"]
    # The denial is the only event written, and nothing landed.
    assert platform.store.last_position() == before + 1
    assert not list(Path(platform.settings.datasets, tenant).rglob("*.csv"))


def test_a_tenant_without_the_ingestion_entitlement_ingests_nothing(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    api.post(f"/v1/tenants/{tenant}/entitlements", json={"features": [], "quotas": {}})
    refused = upload(api, tenant, sample_csv(tmp_path, rows=10, defects=False), people["data-engineer"])
    assert 'does not hold the "ingestion" entitlement' in assert_problem(refused, 403, "forbidden")["detail"]
    analysts_cannot = upload(api, tenant, b"x", people["analyst"])
    assert analysts_cannot.status_code == 403


def test_a_batch_for_a_suspended_tenant_is_refused_saying_it_is_suspended(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    assert api.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "invoice overdue"}).status_code == 202
    before = platform.store.last_position()
    data = sample_csv(tmp_path, rows=10, defects=False)
    # Its own engineer is stopped by the route's guard, a platform admin by the land_batch data policy.
    for refused in (upload(api, tenant, data, people["data-engineer"]), upload(api, tenant, data, {})):
        detail = assert_problem(refused, 403, "forbidden")["detail"]
        assert "the tenant is suspended, so it accepts no changes until it is reinstated" in detail
    assert platform.store.last_position() == before + 2  # the two denials, nothing else
    assert not list(Path(platform.settings.datasets, tenant).rglob("*.csv"))


@pytest.mark.parametrize(
    ("data", "media", "status", "slug"),
    [
        (b"order_id,line\nA,1\n", "application/xml", 415, "unsupported-media-type"),
        (b"", "text/csv", 422, "unreadable-data"),
        (b"order_id,line,ordered_at\n", "text/csv", 422, "unreadable-data"),
        (b"order_id,line,colour\nA,1,red\n", "text/csv", 422, "invalid-value"),
        (b"PAR1garbage", "application/vnd.apache.parquet", 422, "unreadable-data"),
    ],
    ids=["wrong-content-type", "empty-file", "header-only", "wrong-columns", "not-parquet"],
)
def test_bad_uploads_are_refused_before_landing(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict,
    data: bytes,
    media: str,
    status: int,
    slug: str,
) -> None:
    approve_contract(api, tenant, people)
    before = platform.store.last_position()
    assert_problem(upload(api, tenant, data, people["data-engineer"], media), status, slug)
    assert platform.store.last_position() == before
    assert not landed_datasets(platform, tenant)


@pytest.mark.fresh_platform  # it changes the platform's settings
def test_a_batch_over_the_size_limit_is_refused(
    platform: Platform, token_for, tenant: str, people: dict, api: TestClient, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    platform.settings = type(platform.settings)(**{**platform.settings.__dict__, "max_ingest_bytes": 1000})
    with TestClient(create_app(platform), raise_server_exceptions=False) as small:
        too_big = upload(small, tenant, sample_csv(tmp_path, rows=100, defects=False), people["data-engineer"])
    assert_problem(too_big, 413, "too-large")
    assert not landed_datasets(platform)


def test_unparseable_values_fail_the_run_with_reasons_after_landing(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    header = ",".join(COLUMNS)
    rows = "\n".join(
        f"O-{n},1,2026-01-0{1 + n % 9}T10:00:00Z,berlin-mitte,DE,SKU-1,{'x' if n % 2 else '1'},1.0,,0,paid,"
        for n in range(10)
    )
    accepted = upload(api, tenant, f"{header}\n{rows}\n".encode(), people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)
    run = api.get(accepted.json()["location"], headers=people["analyst"]).json()
    assert run["status"] == "rejected"
    assert any("amount" in reason for reason in run["reasons"]), run["reasons"]
    normalize = next(s for s in run["steps"] if s["step"] == "normalize")
    assert normalize["status"] == "rejected"
    assert normalize["rejected"] == 10
    # The raw bytes are kept, the quarantine holds every row with its reason, and nothing was published.
    assert Path(platform.settings.datasets, normalize["inputs"][0]["key"]).exists()
    rejects = normalize["outputs"][0]
    with platform.datasets.verified(rejects["key"], rejects["sha256"]) as path:  # sealed on disk: opened here
        quarantine = pq.read_table(path)
    assert quarantine.num_rows == 10
    assert all(quarantine.column("_reason").to_pylist())
    assert api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=people["analyst"]).status_code == 404


@pytest.mark.parametrize("fmt", ["ndjson", "parquet", "arrow"])
def test_batches_come_as_ndjson_parquet_or_arrow(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path, fmt: str
) -> None:
    approve_contract(api, tenant, people)
    table = pacsv.read_csv(
        io.BytesIO(sample_csv(tmp_path, rows=40, defects=False)),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS}),
    )
    sink = io.BytesIO()
    if fmt == "ndjson":
        sink.write("".join(json.dumps(row) + "\n" for row in table.to_pylist()).encode())
        media = "application/x-ndjson"
    elif fmt == "parquet":
        pq.write_table(table, sink)
        media = "application/vnd.apache.parquet"
    else:
        with ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        media = "application/vnd.apache.arrow.file"
    accepted = upload(api, tenant, sink.getvalue(), people["data-engineer"], media)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["format"] == fmt
    settle(platform)
    run = api.get(accepted.json()["location"], headers=people["analyst"]).json()
    assert run["status"] == "succeeded", run["reasons"]
    assert run["rows_out"] == 40


def upload_then_alter(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> tuple[Any, Path, bytes]:
    """A batch accepted, then its landed bytes altered behind the platform's back (one bit of the sealed file), so
    every attempt to read them fails their check: the upload's answer, the landed file and its original bytes."""
    approve_contract(api, tenant, people)
    accepted = upload(api, tenant, sample_csv(tmp_path, rows=20, defects=False), people["data-engineer"])
    landed = next(Path(platform.settings.datasets, tenant).rglob("*.csv"))
    landed.chmod(0o640)
    original = landed.read_bytes()
    altered = bytearray(original)
    altered[-20] ^= 1
    landed.write_bytes(bytes(altered))
    return accepted, landed, original


def test_a_step_that_keeps_failing_is_retried_then_dead_lettered(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    accepted, landed, original = upload_then_alter(api, platform, tenant, people, tmp_path)
    settle(platform)
    run = api.get(accepted.json()["location"], headers=people["analyst"]).json()
    assert run["status"] == "dead-lettered"
    normalize = next(s for s in run["steps"] if s["step"] == "normalize")
    assert normalize["attempts"] == 3
    assert "IntegrityError" in normalize["error"]
    platform.worker.catch_up()
    engineer = people["data-engineer"]
    letters = api.get("/v1/dead-letters", headers=engineer).json()["dead_letters"]
    assert [(d["subject"], d["step"], d["attempts"], d["status"]) for d in letters] == [
        (run["run_id"], "normalize", 3, "open")
    ]
    letter = letters[0]
    assert letter["source"] == "pipeline"
    assert "IntegrityError" in letter["error"]
    assert letter["cause_type"] == "PipelineRun.Ingested"
    assert api.get("/v1/dead-letters", headers=people["analyst"]).status_code == 403
    # Failed attempts and the dead letter are events of the run; nothing was built from the altered bytes.
    kinds = [type(r.event).__name__ for r in platform.store.read_stream(UUID(run["run_id"]))]
    assert kinds == ["Ingested", "StepFailed", "StepFailed", "StepFailed", "DeadLettered"]

    # The operator puts the right bytes back and retries: the step runs again and the run finishes.
    landed.write_bytes(original)
    retried = api.post(f"/v1/dead-letters/{letter['dead_letter_id']}/retry", headers=engineer)
    assert retried.status_code == 202, retried.text
    again = api.post(f"/v1/dead-letters/{letter['dead_letter_id']}/retry", headers=engineer)
    assert_problem(again, 409, "conflict")
    settle(platform)
    assert api.get(accepted.json()["location"], headers=engineer).json()["status"] == "succeeded"
    closed = api.get(f"/v1/dead-letters/{letter['dead_letter_id']}", headers=engineer).json()
    assert closed["status"] == "retrying"
    discard = api.post(f"/v1/dead-letters/{letter['dead_letter_id']}/discard", json={"reason": "x"}, headers=engineer)
    assert_problem(discard, 409, "conflict")


def test_a_revived_step_that_fails_again_is_retried_and_dead_lettered_again(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    accepted, _, _ = upload_then_alter(api, platform, tenant, people, tmp_path)
    settle(platform)
    platform.worker.catch_up()
    engineer = people["data-engineer"]
    [letter] = api.get("/v1/dead-letters", headers=engineer).json()["dead_letters"]

    # Retried without a fix: each new failure is recorded (its attempts count again from one), not taken for the
    # failure of the same number before the revival, so the run dead-letters again instead of retrying for ever.
    retried = api.post(f"/v1/dead-letters/{letter['dead_letter_id']}/retry", headers=engineer)
    assert retried.status_code == 202, retried.text
    settling = threading.Thread(target=settle, args=(platform,), daemon=True)
    settling.start()
    settling.join(120)  # a generous bound: a broken build fails here instead of hanging
    assert not settling.is_alive(), "the orchestrator kept retrying the revived step"
    kinds = [type(r.event).__name__ for r in platform.store.read_stream(UUID(accepted.json()["run_id"]))]
    failed_again = ["StepFailed", "StepFailed", "StepFailed", "DeadLettered"]
    assert kinds == ["Ingested", *failed_again, "Revived", *failed_again]
    assert api.get(accepted.json()["location"], headers=engineer).json()["status"] == "dead-lettered"
