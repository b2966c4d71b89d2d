"""Why did this KPI change: two versions of a product built from different batches, compared over HTTP (the raw
batches the newer one added and removed, by content hash, and the contract versions), and bad comparisons refused
with problem details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_pipeline_api as pipeline
from litestar.testing import TestClient
from test_web_session import sign_in

from interfaces.bootstrap import Platform
from interfaces.credentials import dev_token
from interfaces.http.app import create_app

api, tenant, people, published = pipeline.api, pipeline.tenant, pipeline.people, pipeline.published
assert_problem, sample_csv, settle, upload = (
    pipeline.assert_problem,
    pipeline.sample_csv,
    pipeline.settle,
    pipeline.upload,
)

pytestmark = pytest.mark.shared_platform


def changes(tenant: str, older: int, newer: int) -> str:
    return f"/v1/tenants/{tenant}/products/retail-sales/versions/{older}/changes/{newer}"


@pytest.fixture
def second(api: TestClient, platform: Platform, tenant: str, people: dict, published: dict, tmp_path: Path) -> Any:
    accepted = upload(api, tenant, sample_csv(tmp_path, rows=300, defects=False, seed=11), people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)
    return accepted.json()


def test_the_changes_between_two_versions_name_the_batch_added_and_the_contract_versions(
    api: TestClient, tenant: str, people: dict, published: dict, second: dict
) -> None:
    found = api.get(changes(tenant, 1, 2), headers=people["analyst"])
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["older"]["version"], body["newer"]["version"]) == (1, 2)
    assert body["older"]["raw_batches"] == [published["sha256"]]
    assert second["sha256"] in body["newer"]["raw_batches"]
    assert [b["sha256"] for b in body["batches_added"]] == [second["sha256"]]
    assert body["batches_removed"] == []
    assert body["batches_kept"] == len(body["newer"]["raw_batches"]) - 1
    assert (body["older"]["contract_version"], body["newer"]["contract_version"]) == ("1.0.0", "1.0.0")
    assert body["contract_changed"] is False
    assert body["older"]["run_id"] != body["newer"]["run_id"]
    backwards = api.get(changes(tenant, 2, 1), headers=people["analyst"])
    assert_problem(backwards, 422, "invalid-value")
    same = api.get(changes(tenant, 2, 2), headers=people["analyst"])
    assert_problem(same, 422, "invalid-value")


@pytest.mark.parametrize(
    ("older", "newer", "status", "slug"),
    [(1, 9, 404, "not-found"), (7, 9, 404, "not-found"), (1, 1, 422, "invalid-value")],
)
def test_bad_comparisons_get_problem_details(
    api: TestClient, tenant: str, people: dict, published: dict, older: int, newer: int, status: int, slug: str
) -> None:
    assert_problem(api.get(changes(tenant, older, newer), headers=people["analyst"]), status, slug)


def test_another_tenants_reader_is_told_nothing(
    api: TestClient, tenant: str, people: dict, published: dict, second: dict, token_for: Any
) -> None:
    created = api.post("/v1/tenants", json={"slug": pipeline.new_slug("other"), "display_name": "Other Co"})
    assert created.status_code == 201, created.text
    outsider = token_for("analyst", created.json()["tenant_id"])
    refused = api.get(changes(tenant, 1, 2), headers=outsider)
    assert_problem(refused, 404, "not-found")  # another tenant's products are not even said to exist


def test_the_product_page_links_each_version_to_its_changes_since_the_previous_one(
    platform: Platform, tenant: str, published: dict, second: dict
) -> None:
    with TestClient(create_app(platform), raise_server_exceptions=False) as web:
        landing = sign_in(web, dev_token(platform, "analyst", tenant))
        assert landing.startswith("/app/"), landing
        product = web.get(f"/app/t/{tenant}/products/retail-sales")
        assert product.status_code == 200, product.text
        link = f"/app/t/{tenant}/products/retail-sales/versions/1/changes/2"
        assert f'href="{link}"' in product.text
        assert "changes since version 1" in product.text
        page = web.get(link)
        assert page.status_code == 200, page.text
        assert second["sha256"] in page.text
        assert published["sha256"] not in page.text.split("Raw batches added")[1]
        assert web.get(link.replace("/1/changes/2", "/2/changes/1")).status_code == 422
