"""Dataset files at rest and their erasure, over HTTP, on the embedded default and on PostgreSQL.

A CSV with known customer emails goes through the pipeline and an export: no file the platform keeps holds an
email in clear, and everything reads back through the API. Offboarding with erasure then destroys the data key,
deletes every dataset file of the tenant and its scratch, revokes the export link, and every data route of the
tenant answers 410 to a platform admin and, to anyone else, exactly the 404 of a tenant that never existed.
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from domain.tenants import Tenant
from interfaces.bootstrap import Platform
from tests.e2e.conftest import TokenFor
from tests.e2e.test_pipeline_api import approve_contract, assert_problem, sample_csv, settle, upload
from tests.e2e.test_tenant_oracles import comparable

pytestmark = pytest.mark.usefixtures("platform")


def emails_in(data: bytes) -> set[bytes]:
    return {
        row["customer_email"].encode() for row in csv.DictReader(io.StringIO(data.decode())) if row["customer_email"]
    }


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def holding(folder: Path, needles: set[bytes]) -> list[str]:
    """The files under ``folder`` holding any of ``needles`` in clear."""
    return [str(path) for path in files_under(folder) if any(needle in path.read_bytes() for needle in needles)]


def tenant_with_data(client: TestClient, platform: Platform, token_for: TokenFor, tmp_path: Path) -> dict[str, Any]:
    tenant = client.post("/v1/tenants", json={"slug": "retail", "display_name": "Retail Co"}).json()["tenant_id"]
    client.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
    people = {role: token_for(role, tenant) for role in ("data-engineer", "data-steward", "analyst")}
    approve_contract(client, tenant, people)
    data = sample_csv(tmp_path, rows=300, defects=True)
    accepted = upload(client, tenant, data, people["data-engineer"])
    assert accepted.status_code == 202, accepted.text
    settle(platform)
    requested = client.post(
        f"/v1/tenants/{tenant}/exports",
        json={"product": "retail-sales", "version": 1, "dataset": "gdp", "format": "csv"},
        headers=people["analyst"],
    )
    assert requested.status_code == 202, requested.text
    settle(platform)
    export = client.get(requested.json()["location"], headers=people["analyst"]).json()
    assert export["status"] == "completed", export
    return {"tenant": tenant, "people": people, "data": data, "run": accepted.json()["location"], "export": export}


def data_routes(tenant: str) -> list[str]:
    return [
        f"/v1/tenants/{tenant}/products",
        f"/v1/tenants/{tenant}/products/retail-sales",
        f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows?dataset=gdp",
        f"/v1/tenants/{tenant}/exports",
        f"/v1/tenants/{tenant}/runs",
    ]


def test_no_dataset_file_holds_personal_values_in_clear_and_all_reads_back(
    client: TestClient, platform: Platform, token_for: TokenFor, tmp_path: Path
) -> None:
    world = tenant_with_data(client, platform, token_for, tmp_path)
    emails = emails_in(world["data"])
    assert len(emails) > 50
    datasets, scratch = Path(platform.settings.datasets), Path(platform.settings.scratch_dir)
    stored = [p for p in files_under(datasets / world["tenant"]) if "/blobs/" not in p.as_posix()]
    stages = {p.relative_to(datasets / world["tenant"]).parts[0] for p in stored}
    assert {"raw", "gdp", "quarantine", "kpi", "published", "exports"} <= stages
    assert holding(datasets, emails) == []
    assert [p for p in stored if b"customer_email" in p.read_bytes()] == []  # not even a column name
    assert holding(scratch, emails) == []
    assert all(p.read_bytes().startswith(b"PDSEAL") for p in stored)
    # Reads open the sealed files transparently: the raw batch by its hash, the rows, the export download.
    raw = next(p for p in stored if "/raw/" in p.as_posix())
    assert (
        platform.datasets.read_verified(raw.relative_to(datasets).as_posix(), raw.name.split(".")[0]) == world["data"]
    )
    rows = client.get(f"/v1/tenants/{world['tenant']}/products/retail-sales/versions/1/rows?dataset=gdp")
    assert rows.status_code == 200, rows.text
    download = client.get(world["export"]["download_url"], headers=world["people"]["analyst"])
    assert download.status_code == 200, download.text
    assert download.content.startswith(b"order_id") or b"," in download.content.splitlines()[0]


def test_erasure_deletes_the_files_revokes_links_and_leaves_only_410_or_the_one_404(
    client: TestClient, platform: Platform, token_for: TokenFor, tmp_path: Path
) -> None:
    world = tenant_with_data(client, platform, token_for, tmp_path)
    tenant = world["tenant"]
    globex = client.post("/v1/tenants", json={"slug": "globex", "display_name": "Globex"}).json()["tenant_id"]
    spy = token_for("tenant-admin", globex)
    datasets = Path(platform.settings.datasets)
    before = [p for p in files_under(datasets / tenant) if "/blobs/" not in p.as_posix()]

    erased = client.post(f"/v1/tenants/{tenant}/offboard", json={"reason": "right to erasure", "erase": True})
    assert erased.status_code == 202, erased.text
    platform.worker.catch_up()

    assert [p for p in files_under(datasets / tenant) if "/blobs/" not in p.as_posix()] == []
    assert [p for p in files_under(Path(platform.settings.scratch_dir)) if tenant in p.name] == []
    last = platform.store.read_stream(uuid.UUID(tenant))[-1]
    assert isinstance(last.event, Tenant.DataErased)
    assert (last.event.data_key_destroyed, last.event.files_deleted) == (True, len(before))

    nowhere = str(uuid.uuid4())
    for route in [*data_routes(tenant), world["export"]["download_url"], world["run"]]:
        assert_problem(client.get(route), 410, "tenant-erased")  # a platform admin still sees the tenant
        hidden, never = client.get(route, headers=spy), client.get(route.replace(tenant, nowhere), headers=spy)
        assert comparable(hidden, (tenant, "T")) == comparable(never, (nowhere, "T"))
        assert hidden.status_code == 404, (route, hidden.text)
        # The tenant's own principals are answered the same 404: their tenant's data no longer exists.
        own = client.get(route, headers=world["people"]["analyst"])
        assert comparable(own, (tenant, "T")) == comparable(hidden, (tenant, "T"))
    # A command on the tenant's data is refused the same way, and writes no event.
    position = platform.store.last_position()
    again = upload(client, tenant, world["data"], {})
    assert_problem(again, 410, "tenant-erased")
    assert platform.store.last_position() == position
