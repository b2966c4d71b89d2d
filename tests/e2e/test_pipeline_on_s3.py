"""The whole pipeline with its dataset files on an S3 server (moto, its own process): a batch lands, is normalized,
built into KPIs and published, every file sealed in the bucket, and the product's rows read back from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from pyarrow import fs as pafs

from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Settings
from tests.e2e.test_pipeline_api import approve_contract, sample_csv, settle, upload
from tests.s3 import S3Server

pytestmark = pytest.mark.s3


@pytest.fixture
def on_s3(settings: Settings, s3_server: S3Server) -> Iterator[tuple[Platform, str]]:
    url = s3_server.fresh_bucket_url()
    platform = bootstrap(dataclasses.replace(settings, datasets=url))
    yield platform, url
    platform.close()


def headers(platform: Platform, role: str, tenant: str | None = None) -> dict[str, str]:
    token = dev_token(platform, role, tenant)
    platform.worker.catch_up()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_batch_is_published_from_and_read_back_out_of_s3(on_s3: tuple[Platform, str], tmp_path: Path) -> None:
    platform, url = on_s3
    with TestClient(create_app(platform), raise_server_exceptions=False) as api:
        api.headers.update(headers(platform, "platform-admin"))
        tenant = api.post("/v1/tenants", json={"slug": "retail", "display_name": "Retail Co"}).json()["tenant_id"]
        api.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
        people = {role: headers(platform, role, tenant) for role in ("data-engineer", "data-steward", "analyst")}
        approve_contract(api, tenant, people)
        accepted = upload(api, tenant, sample_csv(tmp_path), people["data-engineer"])
        assert accepted.status_code == 202, accepted.text
        settle(platform)
        run = api.get(accepted.json()["location"], headers=people["analyst"]).json()
        rows = api.get(
            f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows",
            params={"dataset": "gdp", "fields": "order_id,customer_email", "limit": 1000},
            headers=people["analyst"],
        )

    assert run["status"] == "succeeded", (run["reasons"], run["quality"])
    assert rows.status_code == 200, rows.text
    assert len(rows.json()["rows"]) == 600
    filesystem, base = pafs.FileSystem.from_uri(url)
    stored = [i for i in filesystem.get_file_info(pafs.FileSelector(base, recursive=True)) if i.is_file]
    stages = {info.path[len(base) + 1 :].split("/")[1] for info in stored}
    assert {"raw", "gdp", "kpi", "published", "blobs"} <= stages
    raw = next(info for info in stored if "/raw/" in info.path)
    with filesystem.open_input_stream(raw.path, compression=None) as stream:
        assert b"@example" not in stream.read()  # sealed at rest in the bucket
