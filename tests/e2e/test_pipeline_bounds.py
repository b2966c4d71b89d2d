"""Bounded work for every upload, over HTTP, on the embedded default and on PostgreSQL.

A file that declares more than the bounds allow is refused at upload (422 naming the bound and the value;
nothing lands, no event); a bound only visible while normalizing fails the run at once, without retries; rows
a CSV reader cannot split into the header's columns are quarantined with their reason while the good rows are
published. The files are generated here: one row repeated many times, small on disk.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from litestar.testing import TestClient

from adapters.datasets.bounds import Bounds
from interfaces.bootstrap import Platform
from interfaces.settings import Settings
from sample.retail import COLUMNS
from tests.e2e import test_pipeline_api as pipeline
from tests.e2e.test_pipeline_api import approve_contract, assert_problem, landed_datasets, sample_csv, settle, upload

api, tenant, people = pipeline.api, pipeline.tenant, pipeline.people
"""The pipeline tests' fixtures: an admin client, a tenant with the ingestion entitlement, its people."""

MAX_ROWS = 1000
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, max_batch_rows=MAX_ROWS, max_expansion=50.0)


def repeated_parquet(tmp_path: Path, rows: int) -> bytes:
    """A Parquet file of one sample line repeated ``rows`` times (dictionary-encoded, compressed: tiny)."""
    line = pacsv.read_csv(
        io.BytesIO(sample_csv(tmp_path, rows=1, defects=False)),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string())),
    ).slice(0, 1)
    table = pa.concat_tables([line] * rows)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def assert_nothing_landed(platform: Platform, before: int) -> None:
    assert platform.store.last_position() == before
    assert not landed_datasets(platform)
    assert not [p for p in Path(platform.settings.scratch_dir).rglob("*") if p.is_file()]


def test_the_bounds_come_from_the_settings(platform: Platform) -> None:
    assert platform.compute.bounds == Bounds(MAX_ROWS, 50.0)


def test_a_file_declaring_more_rows_than_the_bound_is_refused_at_upload(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    data = repeated_parquet(tmp_path, 5000)
    before = platform.store.last_position()
    refused = assert_problem(upload(api, tenant, data, people["data-engineer"], PARQUET), 422, "bound-exceeded")
    assert refused["errors"][0] | {"detail": ""} == {
        "bound": "max_batch_rows",
        "value": 5000,
        "limit": 1000,
        "detail": "",
    }
    assert "5,000 rows" in refused["detail"]
    assert "max_batch_rows" in refused["detail"]
    assert_nothing_landed(platform, before)


def test_a_file_declaring_too_many_decoded_bytes_per_byte_is_refused_at_upload(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    platform.compute.bounds = Bounds(max_rows=10**6, max_expansion=50.0)
    data = repeated_parquet(tmp_path, 100_000)
    before = platform.store.last_position()
    refused = assert_problem(upload(api, tenant, data, people["data-engineer"], PARQUET), 422, "bound-exceeded")
    error = refused["errors"][0]
    assert (error["bound"], error["limit"]) == ("max_expansion", 50.0)
    # 100,000 rows of twelve strings (a 4-byte offset each at least) declared by a file this small
    assert error["value"] == round(100_000 * 12 * 4 / len(data), 1)
    assert_nothing_landed(platform, before)


def test_a_bound_seen_only_while_normalizing_fails_the_run_at_once_without_retries(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    # A CSV does not declare its rows: this one lands, and its normalize step finds 1,500 rows, over 1,000.
    accepted = upload(api, tenant, sample_csv(tmp_path, rows=1500, defects=False), people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)
    run = api.get(accepted.json()["location"], headers=people["analyst"]).json()
    assert run["status"] == "dead-lettered"
    normalize = next(s for s in run["steps"] if s["step"] == "normalize")
    assert normalize["attempts"] == 1
    assert "max_batch_rows" in normalize["error"]
    assert "1,500 rows" in normalize["error"]
    kinds = [type(r.event).__name__ for r in platform.store.read_stream(UUID(run["run_id"]))]
    assert kinds == ["Ingested", "StepFailed", "DeadLettered"]
    letters = api.get("/v1/dead-letters", headers=people["data-engineer"]).json()["dead_letters"]
    assert [(d["subject"], d["attempts"]) for d in letters] == [(run["run_id"], 1)]
    assert "max_batch_rows" in letters[0]["error"]


def test_csv_rows_with_the_wrong_number_of_values_are_quarantined_and_the_rest_published(
    api: TestClient, platform: Platform, tenant: str, people: dict, tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    lines = sample_csv(tmp_path, rows=40, defects=False).decode().splitlines()
    short = ",".join(lines[5].split(",")[:-1])
    long = lines[9] + ",surplus"
    data = "\n".join([*lines[:20], short, *lines[20:30], long, *lines[30:]]) + "\n"
    accepted = upload(api, tenant, data.encode(), people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)
    run = api.get(accepted.json()["location"], headers=people["analyst"]).json()
    assert run["status"] == "succeeded", run["reasons"]
    assert (run["rows_in"], run["rejected"], run["rows_out"]) == (42, 2, 40)
    normalize = next(s for s in run["steps"] if s["step"] == "normalize")
    assert normalize["attempts"] == 1
    quarantine = next(o for o in normalize["outputs"] if "/quarantine/" in o["key"])
    with platform.datasets.opened(quarantine["key"], quarantine["sha256"]) as sealed:  # sealed on disk
        reasons = pq.read_table(sealed).column("_reason").to_pylist()
    assert reasons == [
        f"malformed row: 11 values where the header has 12 columns: {short!r}",
        f"malformed row: 13 values where the header has 12 columns: {long!r}",
    ]
    product = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=people["analyst"]).json()
    gdp = next(d for d in product["versions"][0]["datasets"] if d["name"] == "gdp")
    assert gdp["rows"] == 40
