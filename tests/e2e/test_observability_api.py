"""Observability over HTTP: /ready, /metrics (scrape token or permitted credential), /v1/event-types, /asyncapi.

Runs against ``create_app(platform)`` with the conftest's fixtures, the settings given a scrape token and a
readiness limit of 0 events (ready only when every read model has applied the whole log).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from adapters.catalogue.events import event_types
from interfaces.bootstrap import Platform
from interfaces.settings import Settings

SCRAPE_TOKEN = "scrape-token-for-tests"
NOBODY = {"Authorization": ""}


pytestmark = pytest.mark.shared_platform


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    return replace(module_settings, metrics_token=SCRAPE_TOKEN, ready_max_lag=0)


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def sample(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def onboard(client: TestClient, slug: str) -> str:
    response = client.post("/v1/tenants", json={"slug": slug, "display_name": slug.title(), "plan": "trial"})
    assert response.status_code == 201, response.text
    return str(response.json()["tenant_id"])


# --- /ready -----------------------------------------------------------------------------------------------


def test_ready_is_public_and_ready_once_the_read_models_have_applied_the_log(
    client: TestClient, platform: Platform
) -> None:
    platform.worker.catch_up()
    response = client.get("/ready", headers=NOBODY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["log_end"] == platform.store.last_position()


@pytest.mark.fresh_platform  # it stops the platform's worker
def test_ready_answers_503_naming_the_read_models_behind_until_they_catch_up(
    client: TestClient, platform: Platform
) -> None:
    platform.worker.stop()
    onboard(client, "lagging")
    response = client.get("/ready", headers=NOBODY)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/not-ready")
    assert any("read model tenant_directory is" in p and "events behind" in p for p in problem["problems"])
    platform.worker.catch_up()
    assert client.get("/ready", headers=NOBODY).status_code == 200


# --- /metrics ---------------------------------------------------------------------------------------------


def test_metrics_take_the_scrape_token_or_a_credential_permitted_to_read_them(
    client: TestClient, token_for: Any
) -> None:
    anonymous = client.get("/metrics", headers=NOBODY)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    by_token = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert by_token.status_code == 200
    assert by_token.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert client.get("/metrics").status_code == 200  # the client speaks as a platform admin
    tenant = onboard(client, "scraped")
    tenant_admin = client.get("/metrics", headers=token_for("tenant-admin", tenant))
    assert tenant_admin.status_code == 403


@pytest.mark.fresh_platform  # it counts every command, event and request
def test_metrics_show_commands_events_requests_lags_and_burn_rates(client: TestClient, platform: Platform) -> None:
    onboard(client, "measured")
    client.get("/health")
    found = scrape(client)
    assert sample(found, "platform_commands_total", command="onboard_tenant", outcome="ok") == 1
    assert sample(found, "platform_events_appended_total", type="platform.tenants.TenantOnboarded") == 1
    command = {"method": "POST", "route": "/v1/tenants", "module": "Tenant Management", "kind": "command"}
    assert sample(found, "platform_http_requests_total", status="201", **command) == 1
    assert sample(found, "platform_http_request_duration_seconds_count", **command) == 1
    health = {"method": "GET", "route": "/health", "module": "Observability", "kind": "operations"}
    assert sample(found, "platform_http_requests_total", status="200", **health) == 1
    for projection in platform.read_models.projections:
        assert sample(found, "platform_projection_lag_events", projection=projection) is not None
        assert sample(found, "platform_projection_lag_seconds", projection=projection) is not None
    assert sample(found, "platform_slo_events_total", slo="command-latency", outcome="good") is not None
    assert sample(found, "platform_slo_error_budget_burn_rate", slo="command-latency", window="1h") is not None
    assert sample(found, "platform_dead_letters", source="pipeline", status="open") == 0


def test_request_metrics_are_labelled_by_route_template_never_by_the_ids_in_the_path(
    client: TestClient, platform: Platform
) -> None:
    tenant = onboard(client, "templated")
    platform.worker.catch_up()
    assert client.get(f"/v1/tenants/{tenant}").status_code == 200
    found = scrape(client)
    routes = {dict(labels).get("route") for name, labels in found if name == "platform_http_requests_total"}
    assert not any(tenant in str(route) for route in routes)
    assert any(str(route).startswith("/v1/tenants/{tenant_id") for route in routes)


# --- the event catalogue ----------------------------------------------------------------------------------


def test_event_types_list_every_event_class_with_the_schema_of_its_data(client: TestClient) -> None:
    response = client.get("/v1/event-types")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(event_types())
    assert {t["type"] for t in body["event_types"]} == {t.type for t in event_types()}
    onboarded = next(t for t in body["event_types"] if t["type"] == "platform.tenants.TenantOnboarded")
    assert onboarded["subject"] == "platform.{tenant}.tenants.TenantOnboarded"
    assert {"slug", "display_name", "plan"} <= set(onboarded["data_schema"]["properties"])
    one = client.get("/v1/event-types/platform.tenants.TenantOnboarded")
    assert one.status_code == 200
    assert one.json() == onboarded
    assert client.get("/v1/event-types/platform.tenants.NoSuchThing").status_code == 404


def test_any_member_of_a_tenant_may_read_the_event_catalogue(client: TestClient, token_for: Any) -> None:
    tenant = onboard(client, "curious")
    assert client.get("/v1/event-types", headers=token_for("analyst", tenant)).status_code == 200
    assert client.get("/v1/event-types", headers=NOBODY).status_code == 401


def test_asyncapi_describes_the_relay_channels_and_the_consumers(client: TestClient) -> None:
    response = client.get("/asyncapi")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"]["tenants_TenantOnboarded"]["address"] == "platform.{tenant}.tenants.TenantOnboarded"
    sends = [op for op in document["operations"].values() if op["action"] == "send"]
    assert len(sends) == len(event_types())
    receives = {key for key, op in document["operations"].items() if op["action"] == "receive"}
    assert any("tenant_directory" in key for key in receives)
    assert "credentials" not in str(document["servers"])
