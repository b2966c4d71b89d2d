"""The Schema Registry over HTTP: Confluent's paths under /v1/tenants/{id}/schemas, with tokens per role."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from application.schemas import SchemaRegistryService
from interfaces.bootstrap import Platform
from tests.e2e.conftest import new_slug

PROBLEM = "application/problem+json"


pytestmark = pytest.mark.shared_platform


@pytest.fixture
def api(client: TestClient) -> TestClient:
    return client


@pytest.fixture
def tenant(api: TestClient) -> str:
    created = api.post("/v1/tenants", json={"slug": new_slug("acme"), "display_name": "Acme"})
    assert created.status_code == 201, created.text
    return created.json()["tenant_id"]


def field(name: str, type_: str = "string", **flags: bool) -> dict[str, Any]:
    return {"name": name, "type": type_, **flags}


V1 = {"fields": [field("id", "integer", required=True, primary_key=True), field("amount", "integer", required=True)]}
V2 = {"fields": [*V1["fields"], field("note")]}
BREAKS = {"fields": [field("id", "string", required=True, primary_key=True), field("email", required=True)]}


def test_a_steward_registers_versions_and_everyone_of_the_tenant_reads_them(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    steward, analyst = token_for("data-steward", tenant), token_for("analyst", tenant)
    base = f"/v1/tenants/{tenant}/schemas"
    first = api.post(f"{base}/subjects/orders/versions", json={"schema": V1}, headers=steward)
    assert first.status_code == 200, first.text
    assert first.json() == {"subject": f"{tenant}.orders", "version": 1, "position": first.json()["position"]}
    second = api.post(f"{base}/subjects/{tenant}.orders/versions", json={"schema": V2}, headers=steward)
    assert second.json()["version"] == 2
    platform.worker.catch_up()

    assert api.get(f"{base}/subjects", headers=analyst).json() == [f"{tenant}.orders"]
    assert api.get(f"{base}/subjects/orders/versions", headers=analyst).json() == [1, 2]
    latest = api.get(f"{base}/subjects/orders/versions/latest", headers=token_for("service", tenant)).json()
    assert (latest["version"], latest["schema"]["fields"][2]) == (
        2,
        field("note", required=False)
        | {
            "primary_key": False,
            "unique": False,
        },
    )
    assert api.get(f"{base}/subjects/orders/versions/1", headers=analyst).json()["schema"]["fields"][0]["name"] == "id"
    assert api.get(f"{base}/subjects/orders/versions/3", headers=analyst).status_code == 404
    assert api.get(f"{base}/subjects/nothing/versions", headers=analyst).status_code == 404
    assert api.get(f"{base}/subjects/orders/versions/zero", headers=analyst).status_code == 422


def test_registering_an_identical_schema_again_records_nothing_and_answers_the_version(
    api: TestClient, platform: Platform, tenant: str
) -> None:
    url = f"/v1/tenants/{tenant}/schemas/subjects/orders/versions"
    first = api.post(url, json={"schema": V1}).json()
    api.post(url, json={"schema": V2})
    last = platform.store.last_position()
    again = api.post(url, json={"schema": V1})
    assert again.status_code == 200
    assert again.json()["version"] == 1
    assert platform.store.last_position() == last
    assert first["version"] == 1


def test_an_incompatible_schema_is_409_with_every_reason_and_records_nothing(
    api: TestClient, platform: Platform, tenant: str
) -> None:
    url = f"/v1/tenants/{tenant}/schemas/subjects/orders/versions"
    api.post(url, json={"schema": V1})
    last = platform.store.last_position()
    refused = api.post(url, json={"schema": BREAKS})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    reasons = [e["detail"] for e in refused.json()["errors"]]
    assert reasons == [
        "BACKWARD: field 'id' is integer in version 1 but string in the new schema, which cannot read it "
        "(only integer->number and date->timestamp widen)",
        "BACKWARD: the new schema requires field 'email', which version 1 does not have",
    ]
    assert platform.store.last_position() == last


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"schema": {"fields": [field("a", "varchar")]}}, 422),
        ({"schema": {"fields": []}}, 422),
        ({"schema": {"fields": [field("a"), field("a")]}}, 422),
        ({"schema": {"fields": [{"name": "a", "type": "string", "nullable": True}]}}, 422),
        ({"fields": [field("a")]}, 422),
    ],
)
def test_a_malformed_schema_is_422_and_records_nothing(
    api: TestClient, platform: Platform, tenant: str, body: dict[str, Any], status: int
) -> None:
    last = platform.store.last_position()
    refused = api.post(f"/v1/tenants/{tenant}/schemas/subjects/orders/versions", json=body)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert platform.store.last_position() == last


def test_the_compatibility_mode_is_set_per_subject_and_an_unknown_one_is_422(
    api: TestClient, platform: Platform, tenant: str
) -> None:
    base = f"/v1/tenants/{tenant}/schemas"
    api.post(f"{base}/subjects/orders/versions", json={"schema": V1})
    changed = api.put(f"{base}/config/orders", json={"compatibility": "FULL_TRANSITIVE"})
    assert changed.status_code == 200, changed.text
    platform.worker.catch_up()
    assert api.get(f"{base}/config/orders").json() == {
        "subject": f"{tenant}.orders",
        "compatibility": "FULL_TRANSITIVE",
    }
    last = platform.store.last_position()
    refused = api.put(f"{base}/config/orders", json={"compatibility": "SIDEWAYS"})
    assert refused.status_code == 422
    assert "BACKWARD_TRANSITIVE" in refused.json()["detail"]
    assert platform.store.last_position() == last
    assert api.get(f"{base}/config/unknown").status_code == 404


def test_the_mode_governs_registration_transitive_against_every_version(api: TestClient, tenant: str) -> None:
    base = f"/v1/tenants/{tenant}/schemas"
    a = {"fields": [field("id", "integer", primary_key=True), field("amount", "integer", required=True)]}
    b = {"fields": [field("id", "integer", primary_key=True)]}
    c = {"fields": [field("id", "integer", primary_key=True), field("amount", "string")]}
    for schema in (a, b):
        assert api.post(f"{base}/subjects/orders/versions", json={"schema": schema}).status_code == 200
    api.put(f"{base}/config/orders", json={"compatibility": "BACKWARD_TRANSITIVE"})
    assert api.post(f"{base}/subjects/orders/versions", json={"schema": c}).status_code == 409
    api.put(f"{base}/config/orders", json={"compatibility": "BACKWARD"})
    assert api.post(f"{base}/subjects/orders/versions", json={"schema": c}).json()["version"] == 3


def test_the_check_answers_whether_and_why_without_recording(api: TestClient, platform: Platform, tenant: str) -> None:
    base = f"/v1/tenants/{tenant}/schemas"
    api.post(f"{base}/subjects/orders/versions", json={"schema": V1})
    api.post(f"{base}/subjects/orders/versions", json={"schema": V2})
    last = platform.store.last_position()
    bad = api.post(f"{base}/compatibility/subjects/orders/versions/latest", json={"schema": BREAKS})
    assert bad.status_code == 200, bad.text
    assert bad.json()["is_compatible"] is False
    assert len(bad.json()["messages"]) == 2
    good = api.post(f"{base}/compatibility/subjects/orders/versions/1", json={"schema": V2})
    assert good.json() == {"is_compatible": True, "messages": []}
    as_registration = api.post(f"{base}/compatibility/subjects/orders/versions", json={"schema": V2})
    assert as_registration.json()["is_compatible"] is True
    fresh = api.post(f"{base}/compatibility/subjects/new-one/versions", json={"schema": BREAKS})
    assert fresh.json() == {"is_compatible": True, "messages": []}
    assert api.post(f"{base}/compatibility/subjects/new-one/versions/latest", json={"schema": V1}).status_code == 404
    assert platform.store.last_position() == last


def test_who_may_do_what(api: TestClient, platform: Platform, token_for: Any, tenant: str) -> None:
    other = api.post("/v1/tenants", json={"slug": new_slug("other"), "display_name": "Other"}).json()["tenant_id"]
    base = f"/v1/tenants/{tenant}/schemas"
    for role, may_register in [("tenant-admin", True), ("data-steward", True), ("data-engineer", False),
                               ("analyst", False), ("service", False)]:  # fmt: skip
        headers = token_for(role, tenant)
        registered = api.post(f"{base}/subjects/by-{role}/versions", json={"schema": V1}, headers=headers)
        assert registered.status_code == (200 if may_register else 403), (role, registered.text)
        assert api.get(f"{base}/subjects", headers=headers).status_code == 200
        stranger = token_for(role, other)
        assert api.get(f"{base}/subjects", headers=stranger).status_code == 404
        assert api.post(f"{base}/subjects/x/versions", json={"schema": V1}, headers=stranger).status_code == 404
    assert api.get(f"{base}/subjects", headers={"Authorization": ""}).status_code == 401


def test_a_suspended_tenant_reads_and_checks_its_schemas_but_registers_none(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    steward = token_for("data-steward", tenant)
    base = f"/v1/tenants/{tenant}/schemas"
    api.post(f"{base}/subjects/orders/versions", json={"schema": V1}, headers=steward)
    assert api.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "unpaid"}).status_code == 202
    platform.worker.catch_up()
    assert api.post(f"{base}/subjects/orders/versions", json={"schema": V2}, headers=steward).status_code == 403
    assert api.get(f"{base}/subjects/orders/versions", headers=steward).status_code == 200
    checked = api.post(f"{base}/compatibility/subjects/orders/versions", json={"schema": V2}, headers=steward)
    assert checked.status_code == 200


def test_the_contract_registry_registers_through_the_service(platform: Platform, api: TestClient, tenant: str) -> None:
    from application.commands import CommandContext

    registry: SchemaRegistryService = platform.schemas  # type: ignore[attr-defined]
    context = CommandContext("contracts", "contract-v1", "c-1")
    result = registry.register_schema(context, f"{tenant}.orders-contract", V1)
    assert (result.subject, result.version) == (f"{tenant}.orders-contract", 1)
    replayed = registry.register_schema(context, f"{tenant}.orders-contract", V1)
    assert (replayed.replayed, replayed.version, replayed.position) == (True, 1, result.position)
