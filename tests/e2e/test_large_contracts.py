"""Contracts of large schemas over HTTP, on SQLite and PostgreSQL: the document and its typed form are stored apart
as content-addressed blobs, the events carry their SHA-256, and the ledger, `audit verify` and evidence bundles
cover the blobs. The contracts are generated (tests/data/wide_contracts.py), shaped like the ODCS project's
adventureworks example."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar.testing import TestClient

from adapters.ledger.bundle import Period, write_bundle
from adapters.ledger.bundle_check import check_bundle
from domain.contracts import MAX_DOCUMENT_BYTES, canonical_json, contract_id_for
from interfaces.bootstrap import Platform
from tests.data.wide_contracts import wide_contract
from tests.e2e import test_contracts_api
from tests.e2e.test_contracts_api import act, assert_problem, read

api, tenant, who = test_contracts_api.api, test_contracts_api.tenant, test_contracts_api.who  # the fixtures


def post(api: TestClient, tenant: str, body: bytes, media_type: str, headers: dict[str, str]) -> Any:
    return api.post(f"/v1/tenants/{tenant}/contracts", content=body, headers=headers | {"content-type": media_type})


def stored_states(platform: Platform, tenant: str, key: str) -> list[bytes]:
    """The contract's events exactly as the event store holds them."""
    stream = contract_id_for(tenant, key).hex
    return [event[4] for event in platform.store.read_raw(0, 100_000) if event[1] == stream]


def blob_path(platform: Platform, tenant: str, sha256: str) -> Path:
    return Path(platform.settings.datasets) / tenant / "blobs" / sha256[:2] / f"{sha256}.json"


def register_and_approve(api: TestClient, tenant: str, who: dict, body: bytes, media_type: str, key: str) -> int:
    created = post(api, tenant, body, media_type, who["data-engineer"])
    assert created.status_code == 201, created.text[:500]
    assert act(api, tenant, "propose", {"version": "1.0.0"}, who["data-engineer"], key).status_code == 202
    approved = act(api, tenant, "approve", {"version": "1.0.0"}, who["data-steward"], key)
    assert approved.status_code == 202, approved.text
    position: int = approved.json()["position"]
    return position


def test_a_contract_of_about_one_mebibyte_is_accepted_approved_and_read_back_identical(
    api: TestClient, platform: Platform, tenant: str, who: dict
) -> None:
    document = wide_contract(1_000_000, columns=40)
    canonical = canonical_json(document)
    assert 1_000_000 <= len(canonical) <= MAX_DOCUMENT_BYTES == platform.settings.max_contract_bytes

    position = register_and_approve(api, tenant, who, json.dumps(document).encode(), "application/json", document["id"])

    version = read(api, f"/v1/tenants/{tenant}/contracts/{document['id']}/versions/1.0.0", position)
    assert version["status"] == "active"
    assert version["document"] == document
    assert version["sha256"] == hashlib.sha256(canonical).hexdigest()
    drafted = json.loads(stored_states(platform, tenant, document["id"])[0])
    assert drafted["blobs"] == ["document", "spec"]
    assert drafted["data"]["document"] == version["sha256"]
    assert len(json.dumps(drafted)) < 4096
    assert blob_path(platform, tenant, version["sha256"]).read_bytes() == canonical
    in_force = platform.contracts.current_contract(tenant, document["id"])
    assert in_force is not None
    assert in_force.versions["1.0.0"].document == document


def test_a_contract_the_size_of_the_odcs_adventureworks_example_registers_from_yaml(
    api: TestClient, platform: Platform, tenant: str, who: dict
) -> None:
    document = wide_contract(167_000, columns=6)
    assert len(canonical_json(document)) > 128 * 1024  # refused with 413 when documents travelled inside events

    body = yaml.safe_dump(document, sort_keys=False).encode()
    position = register_and_approve(api, tenant, who, body, "application/yaml", document["id"])

    version = read(api, f"/v1/tenants/{tenant}/contracts/{document['id']}/versions/1.0.0", position)
    assert version["document"] == document
    assert len(version["spec"]["objects"]) == len(document["schema"])


def test_a_contract_over_the_limit_is_413_and_writes_nothing(
    api: TestClient, platform: Platform, tenant: str, who: dict
) -> None:
    limit = platform.settings.max_contract_bytes
    over = wide_contract(limit + 20_000, columns=40)
    before = platform.store.last_position()

    problem = assert_problem(
        post(api, tenant, json.dumps(over).encode(), "application/json", who["data-engineer"]),
        413,
        "contract-too-large",
    )
    assert f"the limit is {limit}" in problem["detail"]
    huge = post(api, tenant, b" " * (2 * limit + 1), "application/json", who["data-engineer"])
    assert "over this route's limit" in assert_problem(huge, 413, "request-entity-too-large")["detail"]
    assert platform.store.last_position() == before
    assert not (Path(platform.settings.datasets) / tenant / "blobs").exists()


@pytest.fixture
def small_contract(api: TestClient, platform: Platform, tenant: str, who: dict) -> dict[str, Any]:
    document = wide_contract(5_000, columns=4)
    register_and_approve(api, tenant, who, json.dumps(document).encode(), "application/json", document["id"])
    platform.worker.catch_up()
    platform.ledger.catch_up(until=platform.store.last_position())
    platform.ledger.sign_checkpoint()
    return document


def alter(path: Path) -> None:
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)  # stored files are read-only: someone with disk access changes it
    path.write_bytes(path.read_bytes().replace(b"Generated warehouse", b"Generated wareh0use"))


def test_audit_verify_checks_the_blobs_the_events_reference(
    platform: Platform, tenant: str, small_contract: dict[str, Any]
) -> None:
    assert platform.ledger.verify().ok
    assert platform.ledger.verify().blobs == 2  # the document and its typed form

    sha256 = hashlib.sha256(canonical_json(small_contract)).hexdigest()
    alter(blob_path(platform, tenant, sha256))
    report = platform.ledger.verify()

    assert not report.ok
    [finding] = report.findings
    assert f"keeps document apart as blob {sha256}" in finding.detail
    assert finding.position is not None


def test_an_evidence_bundle_carries_the_blobs_and_its_check_catches_an_altered_one(
    platform: Platform, tenant: str, small_contract: dict[str, Any], tmp_path: Path
) -> None:
    bundle = tmp_path / "evidence.zip"
    write_bundle(platform.ledger, tenant, Period(None, None), bundle, [], [], "2026-01-01T00:00:00+00:00")
    sha256 = hashlib.sha256(canonical_json(small_contract)).hexdigest()
    with zipfile.ZipFile(bundle) as files:
        bundled = {name: files.read(name) for name in files.namelist()}
    assert bundled[f"blobs/{sha256}.json"] == canonical_json(small_contract)
    assert check_bundle(bundle, platform.ledger.verifier.verifier_key).ok

    altered = tmp_path / "altered.zip"
    with zipfile.ZipFile(altered, "w") as target:
        for name, data in bundled.items():
            if name != f"blobs/{sha256}.json":
                target.writestr(name, data)
    report = check_bundle(altered, platform.ledger.verifier.verifier_key)

    assert not report.ok
    assert any(f"its document (blob {sha256}) is missing from the bundle" in f for f in report.failures)
