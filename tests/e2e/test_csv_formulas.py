"""CSV formula injection over HTTP, on the embedded default and on PostgreSQL: text cells a spreadsheet would run as
formulas (=, +, -, @, tab, carriage return first) come out of CSV answers and CSV exports quoted with a leading ',
numbers stay numbers, and an export may ask for the raw cells (recorded in its event)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from domain.exports import Export
from interfaces.bootstrap import Platform
from interfaces.http.app import create_app
from sample.retail import COLUMNS, lines
from tests.e2e.test_pipeline_api import approve_contract, assert_problem, settle, upload

STORES = ['=HYPERLINK("http://evil.example")', "+1+2", "-3+4", "@SUM(A1)"]  # normalization trims tabs and CRs
ORDERS = "/v1/tenants/{tenant}/products/retail-sales/versions/1/rows"


@pytest.fixture
def api(platform: Platform, token_for: Any) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        client.headers.update(token_for("platform-admin", None))
        yield client


@pytest.fixture
def tenant(api: TestClient) -> str:
    created = api.post("/v1/tenants", json={"slug": "retail", "display_name": "Retail Co"})
    assert created.status_code == 201, created.text
    tenant = str(created.json()["tenant_id"])
    entitled = api.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion", "exports"]})
    assert entitled.status_code == 202, entitled.text
    return tenant


@pytest.fixture
def analyst(token_for: Any, tenant: str) -> dict[str, str]:
    return dict(token_for("analyst", tenant))


def formula_csv() -> bytes:
    """The sample lines, the first ones sold in stores whose names are formulas, one with a negative quantity."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for index, line in enumerate(lines(60, seed=3)):
        if index < len(STORES):
            line[3] = STORES[index]
        if index == 0:
            line[6] = "-2"
        writer.writerow(line)
    return out.getvalue().encode()


@pytest.fixture
def published(api: TestClient, platform: Platform, tenant: str, token_for: Any) -> None:
    people = {role: token_for(role, tenant) for role in ("data-engineer", "data-steward")}
    approve_contract(api, tenant, people)
    accepted = upload(api, tenant, formula_csv(), people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)


def cells(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


def test_csv_answers_neutralise_formulas_in_text_cells_only(
    api: TestClient, tenant: str, analyst: dict[str, str], published: None
) -> None:
    path = ORDERS.format(tenant=tenant)
    params = {"dataset": "gdp", "fields": "store,quantity", "limit": "100"}
    answer = api.get(path, params=params, headers=analyst | {"accept": "text/csv"})
    assert answer.status_code == 200, answer.text
    stores = {row[0] for row in cells(answer.content)[1:]}
    assert {"'" + store for store in STORES} <= stores
    assert not any(store.startswith(("=", "+", "-", "@", "\t", "\r")) for store in stores)
    text = answer.content.decode()
    assert '"\'=HYPERLINK(""http://evil.example"")"' in text  # quoted, its own quotes doubled
    assert ",-2\n" in text  # a negative number stays a number, unquoted
    as_json = api.get(path, params=params, headers=analyst).json()["rows"]
    assert {row["store"] for row in as_json} >= set(STORES)  # JSON is not a spreadsheet: values as they are


def test_csv_exports_neutralise_by_default_and_raw_on_request_recorded_in_the_event(
    api: TestClient, platform: Platform, tenant: str, analyst: dict[str, str], published: None
) -> None:
    def export(**extra: str) -> tuple[list[list[str]], str]:
        body = {"product": "retail-sales", "version": 1, "dataset": "gdp", "format": "csv"} | extra
        requested = api.post(f"/v1/tenants/{tenant}/exports", json=body, headers=analyst)
        assert requested.status_code == 202, requested.text
        settle(platform)
        done = api.get(requested.json()["location"], headers=analyst).json()
        download = api.get(done["download_url"], headers=analyst)
        assert download.status_code == 200, download.text
        return cells(download.content), requested.json()["export_id"]

    neutralised, first = export()
    raw, second = export(csv_formulas="raw")
    column = neutralised[0].index("store")
    assert {"'" + store for store in STORES} <= {row[column] for row in neutralised[1:]}
    assert set(STORES) <= {row[column] for row in raw[1:]}
    recorded = {
        str(r.stream_id): r.event.csv_formulas
        for r in platform.store.read_all(0, 10_000)
        if isinstance(r.event, Export.Requested)
    }
    assert recorded == {first: "neutralise", second: "raw"}


def test_an_unknown_csv_formulas_choice_is_a_422_naming_it(
    api: TestClient, platform: Platform, tenant: str, analyst: dict[str, str], published: None
) -> None:
    before = platform.store.last_position()
    body = {"product": "retail-sales", "version": 1, "format": "csv", "csv_formulas": "escape"}
    refused = assert_problem(api.post(f"/v1/tenants/{tenant}/exports", json=body, headers=analyst), 422, "value")
    assert [error["pointer"] for error in refused["errors"]] == ["#/csv_formulas"]
    assert platform.store.last_position() == before
