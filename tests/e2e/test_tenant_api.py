"""Tenant Management end to end over HTTP: commands, queries, read-your-writes and every bad input."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform, bootstrap
from interfaces.http.app import create_app
from tests.e2e.conftest import new_slug

pytestmark = pytest.mark.shared_platform

PROBLEM = "application/problem+json"

NOBODY = "5d3f0c9e-1b2a-4c7d-9e8f-0a1b2c3d4e5f"
"""A tenant id no test onboards (fixed, so every test worker collects the same tests)."""


def onboard(client: TestClient, slug: str = "", **headers: str) -> dict:
    slug = slug or new_slug("acme")
    response = client.post("/v1/tenants", json={"slug": slug, "display_name": "Acme Corp"}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def read(client: TestClient, path: str, position: int) -> dict:
    response = client.get(path, headers={"X-Consistent-Position": str(position)})
    assert response.status_code == 200, response.text
    return response.json()


def test_tenant_lifecycle_from_onboarding_to_offboarding(client: TestClient) -> None:
    created = onboard(client)
    tenant = f"/v1/tenants/{created['tenant_id']}"
    assert read(client, tenant, created["position"])["status"] == "active"

    changed = client.post(f"{tenant}/entitlements", json={"features": ["exports"], "quotas": {"max_products": 5}})
    assert changed.status_code == 202
    view = read(client, tenant, changed.json()["position"])
    assert (view["features"], view["quotas"]) == (["exports"], {"max_products": 5})

    suspended = client.post(f"{tenant}/suspend", json={"reason": "unpaid invoice"})
    assert read(client, tenant, suspended.json()["position"])["status"] == "suspended"
    assert client.post(f"{tenant}/entitlements", json={"features": []}).status_code == 409
    reinstated = client.post(f"{tenant}/reinstate")
    assert read(client, tenant, reinstated.json()["position"])["status"] == "active"

    offboarded = client.post(f"{tenant}/offboard", json={"reason": "contract ended"})
    assert read(client, tenant, offboarded.json()["position"])["status"] == "offboarded"
    for command in ("suspend", "reinstate", "offboard"):
        assert client.post(f"{tenant}/{command}", json={"reason": "again"}).status_code == 409


@pytest.mark.fresh_platform  # lists every tenant
def test_list_pages_by_slug_and_filters_by_status(client: TestClient) -> None:
    last = 0
    for slug in ("c-corp", "a-corp", "b-corp"):
        last = onboard(client, slug)["position"]
    first_page = client.get("/v1/tenants?limit=2", headers={"X-Consistent-Position": str(last)}).json()
    assert [t["slug"] for t in first_page["items"]] == ["a-corp", "b-corp"]
    second_page = client.get(f"/v1/tenants?limit=2&after={first_page['next_after']}").json()
    assert [t["slug"] for t in second_page["items"]] == ["c-corp"]
    assert second_page["next_after"] is None
    assert client.get("/v1/tenants?status=suspended").json()["items"] == []


def test_same_idempotency_key_gives_the_same_response_and_one_event(client: TestClient, platform: Platform) -> None:
    key, slug = str(uuid.uuid4()), new_slug("once")
    first = onboard(client, slug, **{"Idempotency-Key": key})
    again = client.post(
        "/v1/tenants", json={"slug": slug, "display_name": "Acme Corp"}, headers={"Idempotency-Key": key}
    )
    assert (again.status_code, again.json()) == (201, first)
    assert len(platform.store.read_stream(uuid.UUID(first["tenant_id"]))) == 1


def test_a_second_tenant_with_the_same_slug_is_a_conflict(client: TestClient) -> None:
    slug = new_slug("acme")
    onboard(client, slug)
    response = client.post("/v1/tenants", json={"slug": slug, "display_name": "Other"})
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM


BAD_COMMANDS = [
    pytest.param({"content": b'{"slug": "x",', "headers": {"content-type": "application/json"}}, 400, id="malformed"),
    pytest.param({"json": {"slug": "x", "display_name": "X", "colour": "red"}}, 422, id="unknown-field"),
    pytest.param({"json": {"slug": 7, "display_name": "X"}}, 422, id="wrong-type"),
    pytest.param({"json": {"display_name": "X"}}, 422, id="missing-field"),
    pytest.param({"json": {"slug": "Not A Slug", "display_name": "X"}}, 422, id="invalid-slug"),
    pytest.param({"json": {"slug": "x", "display_name": "X", "plan": "gold"}}, 422, id="unknown-plan"),
    pytest.param({"content": b"slug=x", "headers": {"content-type": "text/plain"}}, 415, id="not-json"),
    pytest.param({"json": {"slug": "x", "display_name": "X" * 2_000_000}}, 413, id="oversized"),
]


@pytest.mark.parametrize(("request_kwargs", "status"), BAD_COMMANDS)
def test_bad_commands_get_problem_details_and_write_nothing(
    client: TestClient, platform: Platform, request_kwargs: dict, status: int
) -> None:
    before = platform.store.last_position()
    response = client.post("/v1/tenants", **request_kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail", "instance"} <= problem.keys()
    assert "Traceback" not in response.text
    assert platform.store.last_position() == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/v1/tenants/not-a-uuid", None),
        ("get", f"/v1/tenants/{NOBODY}", None),
        ("post", f"/v1/tenants/{NOBODY}/suspend", {"reason": "x"}),
        ("post", f"/v1/tenants/{NOBODY}/reinstate", None),
        ("post", f"/v1/tenants/{NOBODY}/entitlements", {"features": ["a"]}),
    ],
)
def test_unknown_ids_are_404(client: TestClient, platform: Platform, method: str, path: str, body: dict | None) -> None:
    before = platform.store.last_position()
    response = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert platform.store.last_position() == before


def test_bad_entitlements_are_422(client: TestClient) -> None:
    tenant = f"/v1/tenants/{onboard(client)['tenant_id']}"
    assert client.post(f"{tenant}/entitlements", json={"quotas": {"max": -1}}).status_code == 422
    assert client.post(f"{tenant}/entitlements", json={"features": ["Bad Name"]}).status_code == 422
    assert client.post(f"{tenant}/suspend", json={"reason": ""}).status_code == 422


@pytest.mark.parametrize("quota", [2**53, 10**18, 10**30])
def test_a_quota_beyond_2_53_minus_1_is_a_422_naming_it_and_writes_nothing(
    client: TestClient, platform: Platform, quota: int
) -> None:
    tenant = f"/v1/tenants/{onboard(client)['tenant_id']}"
    before = platform.store.last_position()
    refused = client.post(f"{tenant}/entitlements", json={"quotas": {"max_products": quota}})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert [error["pointer"] for error in refused.json()["errors"]] == ["#/quotas/max_products"]
    assert platform.store.last_position() == before
    largest = client.post(f"{tenant}/entitlements", json={"quotas": {"max_products": 2**53 - 1}})
    assert largest.status_code == 202, largest.text


@pytest.mark.fresh_platform  # no event at position 999
def test_consistent_position_header_is_checked(client: TestClient) -> None:
    assert client.get("/v1/tenants", headers={"X-Consistent-Position": "soon"}).status_code == 400
    assert client.get("/v1/tenants", headers={"X-Consistent-Position": "999"}).status_code == 400


@pytest.mark.fresh_platform  # lists every tenant
def test_a_query_waits_bounded_and_then_says_the_read_model_is_behind(platform: Platform, token_for) -> None:
    admin = token_for("platform-admin", None)
    lagging = bootstrap(replace(platform.settings, projections="off", consistency_timeout=0.3))
    try:
        with TestClient(create_app(lagging)) as client:
            client.headers.update(admin)
            position = onboard(client, "acme")["position"]
            response = client.get("/v1/tenants", headers={"X-Consistent-Position": str(position)})
            assert response.status_code == 503
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["retry-after"] == "1"
            lagging.worker.catch_up()
            assert read(client, "/v1/tenants", position)["items"][0]["slug"] == "acme"
    finally:
        lagging.close()


def test_openapi_describes_every_tenant_route(client: TestClient) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in ("/v1/tenants", "/v1/tenants/{tenant_id}", "/v1/tenants/{tenant_id}/suspend"):
        assert path in paths
