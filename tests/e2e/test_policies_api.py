"""Policy documents over HTTP: drafting, Cedar validation, activation, retirement, tenant limits, dry runs."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from application.authorization import Identity, Resource
from domain.access import PLATFORM_ADMIN, ROLES, principal_id_for
from interfaces.bootstrap import Platform
from interfaces.settings import Settings
from tests.e2e.conftest import new_slug

PROBLEM = "application/problem+json"
MINE = ("/v1/policies", "/v1/tenants/{tenant_id:str}/policies", "/v1/tenants/{tenant_id:str}/schemas")


pytestmark = pytest.mark.shared_platform


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    # The route matrix fails authentication on every route from one client address, on purpose.
    return replace(module_settings, rate_limit_auth_failures=None)


@pytest.fixture
def api(client: TestClient) -> TestClient:
    return client


@pytest.fixture
def tenant(api: TestClient) -> str:
    return api.post("/v1/tenants", json={"slug": new_slug("acme"), "display_name": "Acme"}).json()["tenant_id"]


def settle(platform: Platform) -> None:
    """Read models caught up and the engine's documents reread (its thread does so every half second)."""
    platform.worker.catch_up()
    platform.policies.refresh()


def forbid(tenant: str, actions: str, when: str = "") -> str:
    condition = f" when {{ {when} }}" if when else ""
    return f'@id("stop")\nforbid (principal, action in [{actions}], resource == Tenant::"{tenant}"){condition};'


NO_ANALYST_READS = 'Action::"read_schema", Action::"list_schema_subjects"'


def test_a_tenant_policy_goes_from_draft_to_active_to_retired(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    steward, analyst = token_for("data-steward", tenant), token_for("analyst", tenant)
    base, subjects = f"/v1/tenants/{tenant}/policies", f"/v1/tenants/{tenant}/schemas/subjects"
    text = forbid(tenant, NO_ANALYST_READS, 'principal.roles.contains("analyst")')
    drafted = api.post(base, json={"name": "no-analyst-reads", "cedar": text, "description": "x"}, headers=steward)
    assert drafted.status_code == 201, drafted.text
    assert (drafted.json()["name"], drafted.json()["version"]) == ("no-analyst-reads", 1)
    settle(platform)
    assert api.get(subjects, headers=analyst).status_code == 200  # a draft changes nothing
    assert api.post(f"{base}/no-analyst-reads/activate", json={}, headers=steward).status_code == 202
    settle(platform)
    refused = api.get(subjects, headers=analyst)
    assert refused.status_code == 403
    assert api.get(subjects, headers=steward).status_code == 200
    assert api.get(f"/v1/tenants/{tenant}/schemas/subjects", headers=api.headers).status_code == 200  # not admins
    listed = api.get(base, headers=steward).json()
    assert [(p["name"], p["status"], p["active_version"]) for p in listed] == [("no-analyst-reads", "active", 1)]
    one = api.get(f"{base}/no-analyst-reads", headers=steward).json()
    assert [v["cedar"] for v in one["versions"]] == [text]
    retired = api.post(f"{base}/no-analyst-reads/retire", json={"reason": "enough"}, headers=steward)
    assert retired.status_code == 202
    settle(platform)
    assert api.get(subjects, headers=analyst).status_code == 200
    assert api.post(f"{base}/no-analyst-reads/retire", headers=steward).status_code == 409


def test_the_engine_follows_the_active_set_by_itself(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    analyst, base = token_for("analyst", tenant), f"/v1/tenants/{tenant}/policies"
    api.post(base, json={"name": "stop", "cedar": forbid(tenant, 'Action::"read_tenant"')})
    api.post(f"{base}/stop/activate")
    platform.worker.catch_up()
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while api.get(f"/v1/tenants/{tenant}", headers=analyst).status_code != 403:
        assert datetime.now(UTC) < deadline, "the engine never picked up the activated policy"


@pytest.mark.parametrize(
    ("cedar", "reason"),
    [
        ('permit (principal, action == Action::"nope", resource);', 'unrecognized action `Action::"nope"`'),
        ("forbid (principal, action, resource", "parse error"),
        ("forbid (principal, action, resource) when { principal.salary > 3 };", "salary"),
        ("{tenant_permit}", "must be a forbid scoped to resource == Tenant::"),
        ("{unscoped}", "must be a forbid scoped to resource == Tenant::"),
        ("{other_tenant}", "must be a forbid scoped to resource == Tenant::"),
        ("x" * (64 * 1024 + 1), "1 to 65536 bytes"),
        ("// only a comment", "no Cedar statement"),
    ],
    ids=["unknown-action", "syntax", "type", "permit", "unscoped", "other-tenant", "too-big", "empty"],
)
def test_a_bad_tenant_policy_is_422_naming_why_and_records_nothing(
    api: TestClient, platform: Platform, tenant: str, cedar: str, reason: str
) -> None:
    cedar = cedar.format(
        tenant_permit=f'permit (principal, action, resource == Tenant::"{tenant}");',
        unscoped='forbid (principal, action == Action::"read_tenant", resource);',
        other_tenant=f'forbid (principal, action, resource == Tenant::"{uuid.uuid4()}");',
    ) if cedar.startswith("{") else cedar  # fmt: skip
    last = platform.store.last_position()
    refused = api.post(f"/v1/tenants/{tenant}/policies", json={"name": "bad", "cedar": cedar})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert any(reason in e["detail"] for e in refused.json()["errors"]), refused.json()
    assert platform.store.last_position() == last


def test_tenant_policies_bind_the_tenants_own_principals_not_the_platforms_admins(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    base = f"/v1/tenants/{tenant}/policies"
    admin = token_for("tenant-admin", tenant)
    api.post(base, json={"name": "lock-all", "cedar": f'forbid (principal, action, resource == Tenant::"{tenant}");'})
    api.post(f"{base}/lock-all/activate", headers=admin)
    settle(platform)
    assert api.get(f"/v1/tenants/{tenant}", headers=admin).status_code == 403
    assert api.get(f"/v1/tenants/{tenant}").status_code == 200  # the platform admin
    denied = api.post(f"/v1/tenants/{tenant}/principals", json={"kind": "person", "subject": "s", "display_name": "S"},
                      headers=admin)  # fmt: skip
    assert denied.status_code == 403
    # policy management is decided by the built-in policies: the tenant can always undo its own lock
    assert api.post(f"{base}/lock-all/retire", headers=admin).status_code == 202
    settle(platform)
    assert api.get(f"/v1/tenants/{tenant}", headers=admin).status_code == 200


@pytest.mark.fresh_platform  # a platform policy: every tenant's
def test_platform_policies_are_for_platform_admins_and_cannot_lock_them_out(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    body = {"name": "freeze", "cedar": '@id("freeze") forbid (principal, action, resource);'}
    for role in ROLES[1:]:
        assert api.post("/v1/policies", json=body, headers=token_for(role, tenant)).status_code == 403
        assert api.get("/v1/policies", headers=token_for(role, tenant)).status_code == 403
    assert api.post("/v1/policies", json=body).status_code == 201
    assert api.post("/v1/policies/freeze/activate").status_code == 202
    settle(platform)
    assert api.get("/v1/tenants").status_code == 403
    assert api.get(f"/v1/tenants/{tenant}", headers=token_for("tenant-admin", tenant)).status_code == 403
    assert api.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "x"}).status_code == 403
    assert api.get("/v1/policies/freeze").json()["status"] == "active"  # managing policies stays possible
    assert api.post("/v1/policies/freeze/retire", json={"reason": "oops"}).status_code == 202
    settle(platform)
    assert api.get("/v1/tenants").status_code == 200
    denials = api.get(f"/v1/tenants/{tenant}/denials").json()
    assert [d["reasons"] for d in denials if d["action"] == "suspend_tenant"] == [
        ["forbidden by platform/freeze@1/freeze"]
    ]


def test_versions_replace_each_other_and_the_same_text_is_the_same_version(
    api: TestClient, platform: Platform, tenant: str
) -> None:
    base = f"/v1/tenants/{tenant}/policies"
    one, two = forbid(tenant, 'Action::"read_tenant"'), forbid(tenant, 'Action::"list_secrets"')
    assert api.post(base, json={"name": "p", "cedar": one}).json()["version"] == 1
    assert api.post(base, json={"name": "p", "cedar": two}).json()["version"] == 2
    last = platform.store.last_position()
    assert api.post(base, json={"name": "p", "cedar": one}).json()["version"] == 1
    assert platform.store.last_position() == last
    assert api.post(f"{base}/p/activate", json={"version": 2}).json()["version"] == 2
    assert api.post(f"{base}/p/activate", json={"version": 2}).status_code == 409
    assert api.post(f"{base}/p/activate", json={"version": 7}).status_code == 404
    assert api.post(f"{base}/p/activate", json={"version": 1}).json()["version"] == 1
    assert api.post(f"{base}/nothing/activate").status_code == 404
    settle(platform)
    assert api.get(f"{base}/p").json()["active_version"] == 1


def test_a_dry_run_reports_exactly_the_recorded_decisions_a_proposed_forbid_would_flip(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    steward, analyst = token_for("data-steward", tenant), token_for("analyst", tenant)
    subjects = f"/v1/tenants/{tenant}/schemas/subjects"
    before = datetime.now(UTC)
    assert api.post(f"{subjects}/orders/versions", json={"schema": {"fields": [{"name": "id", "type": "integer"}]}},
                    headers=steward).status_code == 200  # fmt: skip
    settle(platform)
    made = [
        ("analyst", "list_schema_subjects", api.get(subjects, headers=analyst)),
        ("analyst", "read_schema", api.get(f"{subjects}/orders/versions", headers=analyst)),
        ("analyst", "read_schema", api.get(f"{subjects}/orders/versions/1", headers=analyst)),
        ("analyst", "read_schema_config", api.get(f"/v1/tenants/{tenant}/schemas/config/orders", headers=analyst)),
        ("analyst", "register_schema", api.post(f"{subjects}/x/versions", json={"schema": {}}, headers=analyst)),
        ("steward", "read_schema", api.get(f"{subjects}/orders/versions", headers=steward)),
        ("admin", "read_schema", api.get(f"{subjects}/orders/versions")),
    ]
    assert [r.status_code for _, _, r in made] == [200, 200, 200, 200, 403, 200, 200]
    after = datetime.now(UTC) + timedelta(seconds=1)
    proposal = forbid(tenant, NO_ANALYST_READS, 'principal.roles.contains("analyst")')
    window = {"from": before.isoformat(), "to": after.isoformat()}
    last = platform.store.last_position()

    ran = api.post(f"/v1/tenants/{tenant}/policies/simulate", json=window | {"policies": proposal}, headers=steward)
    assert ran.status_code == 200, ran.text
    result = ran.json()
    analyst_id = str(principal_id_for("platform-local", f"dev-analyst-{tenant}", tenant))
    assert [(c["principal"]["id"], c["action"]) for c in result["changes"]] == [
        (analyst_id, action) for who, action, r in made if who == "analyst" and action in NO_ANALYST_READS
    ]
    for change in result["changes"]:
        assert change["resource"] == {"type": "Tenant", "id": tenant}
        assert change["old"] == {"allowed": True, "policies": ["members-read-their-schemas"]}
        assert change["new"] == {"allowed": False, "policies": [f"tenant:{tenant}/(proposed)@0/stop"]}
    assert result["replayed"] >= 7
    assert (result["changed"], result["complete"]) == (3, True)

    # the same proposal as a drafted policy: named after it; and a window before the reads sees none of them
    draft = {"name": "no-analyst-reads", "cedar": proposal}
    drafted = api.post(f"/v1/tenants/{tenant}/policies", json=draft, headers=steward).json()
    for reference in ("no-analyst-reads", drafted["policy_id"]):
        by_draft = api.post(f"/v1/tenants/{tenant}/policies/simulate", json=window | {"policy": reference}).json()
        assert {tuple(c["new"]["policies"]) for c in by_draft["changes"]} == {
            (f"tenant:{tenant}/no-analyst-reads@1/stop",)
        }
        assert by_draft["changed"] == 3
    early = {"from": (before - timedelta(hours=1)).isoformat(), "to": before.isoformat(), "policies": proposal}
    assert api.post(f"/v1/tenants/{tenant}/policies/simulate", json=early).json()["changed"] == 0
    assert platform.store.last_position() == last + 2  # only the draft: Created and Drafted


@pytest.mark.fresh_platform  # it sees every tenant's decisions
def test_a_platform_dry_run_sees_every_tenant_and_a_bad_proposal_is_422(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    before = datetime.now(UTC)
    analyst = token_for("analyst", tenant)
    assert api.get(f"/v1/tenants/{tenant}", headers=analyst).status_code == 200
    assert api.get(f"/v1/tenants/{tenant}").status_code == 200
    window = {"from": before.isoformat(), "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()}
    proposal = 'forbid (principal, action == Action::"read_tenant", resource) unless { principal.platform_admin };'
    result = api.post("/v1/policies/simulate", json=window | {"policies": proposal}).json()
    assert [(c["principal"]["roles"], c["action"]) for c in result["changes"]] == [(["analyst"], "read_tenant")]
    assert result["changes"][0]["new"]["policies"] == ["platform/(proposed)@0/0"]
    bad = api.post("/v1/policies/simulate", json=window | {"policies": "forbid (principal"})
    assert bad.status_code == 422
    both = api.post("/v1/policies/simulate", json=window | {"policies": proposal, "policy": "x"})
    assert both.status_code == 422
    naive = api.post("/v1/policies/simulate", json={"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00",
                                                   "policies": proposal})  # fmt: skip
    assert naive.status_code == 422
    assert api.post("/v1/policies/simulate", json=window | {"policy": "missing"}).status_code == 404


# --- the route matrix of tests/e2e/test_isolation_matrix.py, over these routes (it covers them once wired) ---

PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def my_routes(app: Litestar) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(MINE):
            for handler in route.route_handlers:
                found += [(m, route.path, handler.opt) for m in sorted(handler.http_methods - {"OPTIONS", "HEAD"})]
    return found


def url(path: str, tenant_id: str) -> str:
    return PARAM.sub(lambda m: tenant_id if m.group(1) == "tenant_id" else str(uuid.uuid4()), path)


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, path, headers=headers, **body).status_code


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_route_matrix_holds_on_these_routes(
    api: TestClient, platform: Platform, token_for: Any, tenant: str
) -> None:
    other = api.post("/v1/tenants", json={"slug": new_slug("other"), "display_name": "Other"}).json()["tenant_id"]
    routes = my_routes(api.app)
    assert len(routes) == 20  # 8 schema registry, 6 tenant policy, 6 platform policy
    assert [f"{m} {p}" for m, p, opt in routes if not opt.get("action")] == []
    for method, path, opt in routes:
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}, {"X-API-Key": "gdp_aaaaaaaaaaaa_x"}):
            assert call(api, method, url(path, tenant), headers) == 401, (method, path)
        for role in ROLES:
            tenant_of = None if role == PLATFORM_ADMIN else tenant
            headers = token_for(role, tenant_of)
            if "{tenant_id" in path and role != PLATFORM_ADMIN:
                assert call(api, method, url(path, other), headers) == 404, (role, method, path)
            subject = f"dev-{role}" + (f"-{tenant}" if tenant_of else "")
            kind = "service" if role == "service" else "person"
            identity = Identity(
                str(principal_id_for("platform-local", subject, tenant_of)), kind, tenant_of, (role,), "jwt"
            )
            resource = Resource.tenant(tenant, "active", []) if "{tenant_id" in path else Resource.platform()
            allowed = platform.policies.authorize(identity, opt["action"], resource).allowed
            status = call(api, method, url(path, tenant), headers)
            assert status not in (401, 500), (role, method, path, status)
            assert (status == 403) == (not allowed), (role, method, path, status, allowed)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_openapi_document_describes_these_routes(api: TestClient) -> None:
    document = api.get("/schema/openapi.json")
    assert document.status_code == 200
    paths = [path for path in document.json()["paths"] if path.startswith(("/v1/policies", "/v1/tenants/{tenant_id}/"))]
    assert "/v1/tenants/{tenant_id}/schemas/compatibility/subjects/{subject}/versions/{version}" in paths
    assert "/v1/policies/simulate" in paths
