"""A populated platform for the adversarial suites: tenants with something of every kind, and the ids of each.

``populate`` drives the platform over HTTP as its users would (onboarding, principals and an API key, a contract
approved, a batch ingested through the pipeline, a product version, an export, a webhook endpoint, a schedule,
a secret, a tenant policy, a schema subject, an action template and playbook whose run fails into a dead letter),
and returns the real value of every path parameter the OpenAPI document names, keyed by that name.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from litestar.testing import TestClient

from domain.access import TENANT_ROLES
from interfaces.bootstrap import Platform
from interfaces.settings import Settings
from interfaces.settings.values import networks
from sample.retail import write_csv
from tests.e2e.conftest import TokenFor
from tests.e2e.test_pipeline_api import approve_contract

CONTRACT = "retail-sales"
UNREACHABLE = "http://127.0.0.1:9/hook"  # discard port on loopback: nothing listens, deliveries fail at once


@dataclasses.dataclass(frozen=True)
class Tenant:
    """One populated tenant: its people (Authorization headers per role) and the ids of what it holds."""

    tenant_id: str
    people: dict[str, dict[str, str]]
    ids: dict[str, str]
    """Path parameter name -> the real value in this tenant (tenant_id, contract, run_id, product, ...)."""


def allowing_loopback(settings: Settings) -> Settings:
    """Webhooks and actions may target loopback, where nothing listens on the discard port."""
    return dataclasses.replace(settings, webhook_allowed_networks=networks("127.0.0.0/8"))


def settle(platform: Platform) -> None:
    """Drives the pipeline, the action engine and the webhook dispatcher to rest, then the read models."""
    for _ in range(2):
        platform.orchestrator.catch_up()
        platform.action_engine.catch_up()
        platform.webhook_dispatcher.deliver_due()
        platform.worker.catch_up()


def ok(response: Any, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201, 202)), response.text
    return response.json()


def populate(client: TestClient, platform: Platform, token_for: TokenFor, slug: str, scratch: Path) -> Tenant:
    """Onboards tenant ``slug`` and fills it with one of everything; ``client`` speaks as a platform admin."""
    tenant = ok(client.post("/v1/tenants", json={"slug": slug, "display_name": slug.title()}))["tenant_id"]
    ok(client.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}}))
    people = {role: token_for(role, tenant) for role in TENANT_ROLES}
    ids: dict[str, str] = {"tenant_id": tenant, "contract": CONTRACT}
    base = f"/v1/tenants/{tenant}"
    engineer, steward, admin = people["data-engineer"], people["data-steward"], people["tenant-admin"]

    approve_contract(client, tenant, people)
    ids["version"] = "1.0.0"
    principal = ok(
        client.post(
            f"{base}/principals",
            json={"kind": "service", "subject": f"{slug}-robot", "display_name": "Robot"},
            headers=admin,
        )
    )["principal_id"]
    ok(client.post(f"{base}/principals/{principal}/roles", json={"role": "service"}, headers=admin))
    ids["principal_id"], ids["role"] = principal, "service"
    ids["key_id"] = ok(client.post(f"{base}/principals/{principal}/api-keys", headers=admin))["key_id"]
    ok(client.put(f"{base}/secrets/crm-token", json={"value": "s3cr3t"}, headers=engineer))
    ids["name"] = "crm-token"
    hook = {"url": UNREACHABLE, "event_types": ["platform.tenants.TenantSuspended"]}
    ids["endpoint_id"] = ok(client.post(f"{base}/webhooks", json=hook, headers=engineer))["endpoint_id"]
    schema = {"fields": [{"name": "id", "type": "integer", "required": True, "primary_key": True}]}
    ok(client.post(f"{base}/schemas/subjects/{slug}.orders/versions", json={"schema": schema}, headers=steward))
    ids["subject"] = f"{slug}.orders"
    _actions(client, base, engineer, ids)

    data = write_csv(scratch / f"{slug}.csv", 120, seed=7).read_bytes()
    uploaded = client.post(
        f"{base}/contracts/{CONTRACT}/batches", content=data, headers=engineer | {"content-type": "text/csv"}
    )
    ids["run_id"] = ok(uploaded)["run_id"]
    settle(platform)
    _products(client, base, engineer, ids)
    _operations(client, base, engineer, steward, tenant, ids)
    settle(platform)
    export = ok(client.get(f"{base}/exports/{ids['export_id']}", headers=engineer), 200)
    ids |= dict(parse_qsl(urlsplit(export["download_url"]).query))  # expires and signature of the download link
    letters = ok(client.get("/v1/dead-letters"), 200)["dead_letters"]
    ids["dead_letter_id"] = next(d["dead_letter_id"] for d in letters if d["tenant_id"] == tenant)
    return Tenant(tenant, people, ids)


def _actions(client: TestClient, base: str, engineer: dict[str, str], ids: dict[str, str]) -> None:
    template = {
        "name": "notify-crm",
        "kind": "http",
        "connector": {"url": UNREACHABLE, "method": "POST", "auth_secret": "crm-token", "timeout": 1},
        "body": '{"kpi": "{{ trigger.kpi }}"}',
    }
    ids["template_id"] = str(ok(client.post(f"{base}/action-templates", json=template, headers=engineer))["id"])
    playbook = {
        "name": "revenue-alert",
        "contract": CONTRACT,
        "kpi": "daily_revenue",
        "condition": {"operator": "above", "threshold": 0},
        "steps": [{"template": "notify-crm", "requires_approval": False}],
    }
    ids["playbook_id"] = str(ok(client.post(f"{base}/playbooks", json=playbook, headers=engineer))["id"])
    ok(client.post(f"{base}/playbooks/{ids['playbook_id']}/activate", headers=engineer))
    ids["step"] = "1"


def _products(client: TestClient, base: str, engineer: dict[str, str], ids: dict[str, str]) -> None:
    ids["product"] = ok(client.get(f"{base}/products", headers=engineer), 200)["products"][0]["product"]
    body = {"product": ids["product"], "version": 1, "format": "csv", "filters": {"kpi": "daily_revenue"}}
    ids["export_id"] = ok(client.post(f"{base}/exports", json=body, headers=engineer))["export_id"]
    ids["action_run_id"] = ok(client.get(f"{base}/action-runs", headers=engineer), 200)[0]["run_id"]
    ids["sha256"] = ok(client.get(f"{base}/runs/{ids['run_id']}", headers=engineer), 200)["raw"]["sha256"]
    ids["product_version"], ids["subject_version"] = "1", "1"
    # the changes between two versions: the product has one, so its changes to itself (refused: 422, not a 404)
    ids["older"], ids["newer"] = "1", "1"


def _operations(
    client: TestClient, base: str, engineer: dict[str, str], steward: dict[str, str], tenant: str, ids: dict[str, str]
) -> None:
    job = {"kind": "export", "product": ids["product"], "format": "csv"}
    schedule = {"name": "nightly", "job": job, "cron": "@daily"}
    ids["schedule_id"] = ok(client.post(f"{base}/schedules", json=schedule, headers=engineer))["schedule_id"]
    cedar = f'@id("stop")\nforbid (principal, action in [Action::"read_schema"], resource == Tenant::"{tenant}");'
    ok(client.post(f"{base}/policies", json={"name": "stop-reads", "cedar": cedar}, headers=steward))
    ids["policy"] = "stop-reads"


CONTEXTUAL = (("/policies/", "name", "policy"), ("/action-runs/", "run_id", "action_run_id"))
CONTEXTUAL += (("/products/", "version", "product_version"), ("/schemas/", "version", "subject_version"))


def path_value(template: str, name: str, ids: dict[str, str]) -> str | None:
    """The real value of path parameter ``name`` in a route template (the same name means different things
    under different resources: a policy's or a secret's name, a pipeline run or an action run)."""
    for marker, parameter, key in CONTEXTUAL:
        if parameter == name and marker in template:
            return ids.get(key)
    return ids.get(name)
