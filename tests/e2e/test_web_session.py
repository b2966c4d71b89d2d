"""The web apps' edges over HTTP: sign-in into a secure session cookie, CSRF on every form, the strict CSP, the tenant
picker for a person of several tenants, sign-out, and the same Cedar decisions as the API's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from adapters.auth.authenticator import CACHE_SECONDS
from adapters.auth.tokens import LOCAL_ISSUER, mint_token
from application.commands import CommandContext
from domain.values import tenant_id_of
from interfaces.bootstrap import Platform
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.platform_keys import jwt_signing_key
from interfaces.web.pages import CSP_WEB
from sample.retail import CONTRACT

PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
TOKEN_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


@pytest.fixture
def web(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client


def csrf(client: TestClient, path: str) -> str:
    found = TOKEN_FIELD.search(client.get(path).text)
    assert found is not None, f"no CSRF field on {path}"
    return found.group(1)


def sign_in(client: TestClient, credential: str) -> str:
    answer = client.post(
        "/web/sign-in",
        data={"credential": credential, "_csrf_token": csrf(client, "/web/sign-in")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def onboard(platform: Platform, slug: str) -> str:
    result = platform.tenants.onboard_tenant(CommandContext("test", f"onboard-{slug}", "t"), slug, slug, "trial")
    platform.worker.catch_up()
    return str(result.aggregate_id)


def test_the_session_cookie_is_http_only_same_site_and_pages_carry_the_strict_csp(
    web: TestClient, platform: Platform
) -> None:
    page = web.get("/web/sign-in")
    assert page.headers["content-security-policy"] == CSP_WEB
    assert "unsafe-inline" not in CSP_WEB
    answer = web.post(
        "/web/sign-in",
        data={
            "credential": dev_token(platform, "platform-admin", None),
            "_csrf_token": TOKEN_FIELD.findall(page.text)[0],
        },
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("platform_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # served without TLS here; PLATFORM_TLS_CERT makes it Secure
    assert web.get("/admin/").headers["content-security-policy"] == CSP_WEB


def test_a_bad_credential_is_refused_and_nothing_is_kept(web: TestClient) -> None:
    answer = web.post("/web/sign-in", data={"credential": "not-a-token", "_csrf_token": csrf(web, "/web/sign-in")})
    assert answer.status_code == 401
    assert "not valid here" in answer.text
    assert web.get("/admin/", follow_redirects=False).headers["location"] == "/web/sign-in?next=/admin"


def test_a_form_without_its_csrf_token_is_refused_and_writes_no_event(web: TestClient, platform: Platform) -> None:
    sign_in(web, dev_token(platform, "platform-admin", None))
    before = platform.store.last_position()
    answer = web.post("/admin/tenants", data={"slug": "forged", "display_name": "Forged"})
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert platform.store.last_position() == before
    token = csrf(web, "/admin/")
    answer = web.post("/admin/tenants", data={"slug": "real", "display_name": "Real", "_csrf_token": token})
    assert answer.status_code == 200  # followed to the tenants page
    assert "real" in answer.text


def test_a_person_of_several_tenants_picks_one_and_acts_by_that_membership(web: TestClient, platform: Platform) -> None:
    first, second = onboard(platform, "north"), onboard(platform, "south")
    for tenant, role in ((first, "data-steward"), (second, "analyst")):
        context = CommandContext("test", f"member-{tenant}", "t")
        platform.access.register_principal(context, "person", LOCAL_ISSUER, "ada", "Ada", tenant_id_of(tenant))
        member = platform.access.membership_id(LOCAL_ISSUER, "ada", tenant_id_of(tenant))
        platform.access.grant_role(CommandContext("test", f"grant-{tenant}", "t"), member, role)
    platform.worker.catch_up()
    token = mint_token(jwt_signing_key(platform.settings.keys), "ada", platform.settings.jwt_audience)
    assert sign_in(web, token) == "/app/"
    picker = web.get("/app/").text
    assert f"/app/t/{first}/catalog" in picker
    assert f"/app/t/{second}/catalog" in picker
    assert "data-steward" in web.get(f"/app/t/{first}/catalog").text
    assert "analyst" in web.get(f"/app/t/{second}/catalog").text
    assert web.get(f"/app/t/{onboard(platform, 'west')}/catalog").status_code == 404  # not theirs: no such tenant


def test_sign_in_follows_only_the_apps_own_paths_and_sign_out_forgets(web: TestClient, platform: Platform) -> None:
    admin = dev_token(platform, "platform-admin", None)
    token = csrf(web, "/web/sign-in")
    for target, landed in (("/admin/?status=active", "/admin/?status=active"), ("https://evil.example/", "/admin/")):
        answer = web.post(
            "/web/sign-in", data={"credential": admin, "next": target, "_csrf_token": token}, follow_redirects=False
        )
        assert answer.headers["location"] == landed
    out = web.post("/web/sign-out", data={"_csrf_token": csrf(web, "/admin/")}, follow_redirects=False)
    assert out.headers["location"] == "/web/sign-in"
    assert web.get("/admin/", follow_redirects=False).status_code == 303


def test_an_analyst_is_told_why_they_cannot_approve_and_refused_as_by_the_api(
    web: TestClient, platform: Platform
) -> None:
    tenant = onboard(platform, "east")
    engineer = {"Authorization": f"Bearer {dev_token(platform, 'data-engineer', tenant)}"}
    body = CONTRACT.read_bytes()
    created = web.post(
        f"/v1/tenants/{tenant}/contracts", content=body, headers=engineer | {"content-type": "application/yaml"}
    )
    version = created.json()["version"]
    web.post(f"/v1/tenants/{tenant}/contracts/retail-sales/propose", json={"version": version}, headers=engineer)
    platform.worker.catch_up()
    analyst = dev_token(platform, "analyst", tenant)
    sign_in(web, analyst)
    page = web.get(f"/app/t/{tenant}/contracts/retail-sales")
    assert "Your role cannot approve or reject contracts" in page.text
    token = TOKEN_FIELD.findall(page.text)[0]
    refused = web.post(
        f"/app/t/{tenant}/contracts/retail-sales/approve", data={"version": version, "_csrf_token": token}
    )
    assert refused.status_code == 403
    api = web.post(
        f"/v1/tenants/{tenant}/contracts/retail-sales/approve",
        json={"version": version},
        headers={"Authorization": f"Bearer {analyst}"},
    )
    assert api.status_code == 403


def app_routes(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """Every page and form of the apps (the signed-in ones: /app and /admin)."""
    return [
        (method, route.path, handler.opt)
        for route in client.app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(("/app", "/admin"))
        for handler in route.route_handlers
        for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"})
    ]


def filled(path: str, tenant_id: str) -> str:
    return PARAM.sub(lambda m: tenant_id if m.group(1) == "tenant_id" else "1" if m.group(2) == "int" else "x", path)


def test_every_app_route_declares_a_cedar_action_and_wants_a_session(web: TestClient, platform: Platform) -> None:
    tenant = onboard(platform, "matrix")
    found = app_routes(web)
    assert len(found) >= 10
    assert [f"{m} {p}" for m, p, opt in found if not opt.get("action")] == []
    for method, path, _ in found:
        answer = web.request(method, filled(path, tenant), follow_redirects=False)
        refused = 403 if method == "POST" else 303  # a form without its CSRF token is refused before anything else
        assert answer.status_code == refused, (method, path, answer.status_code)


def test_other_tenants_are_invisible_in_the_apps(web: TestClient, platform: Platform) -> None:
    own, other = onboard(platform, "mine"), onboard(platform, "theirs")
    sign_in(web, dev_token(platform, "tenant-admin", own))
    token = csrf(web, f"/app/t/{own}/catalog")
    for method, path, _ in app_routes(web):
        if "{tenant_id" not in path:
            continue
        form = {"_csrf_token": token, "version": "1.0.0", "reason": "r"} if method == "POST" else None
        answer = web.request(method, filled(path, other), data=form, follow_redirects=False)
        assert answer.status_code == 404, (method, path, answer.status_code)


def test_a_revoked_api_key_signs_its_session_out(web: TestClient, platform: Platform) -> None:
    tenant = onboard(platform, "keyed")
    admin = {"Authorization": f"Bearer {dev_token(platform, 'tenant-admin', tenant)}"}
    base = f"/v1/tenants/{tenant}"
    principal = web.post(
        f"{base}/principals", json={"kind": "service", "subject": "bot", "display_name": "Bot"}, headers=admin
    ).json()["principal_id"]
    web.post(f"{base}/principals/{principal}/roles", json={"role": "service"}, headers=admin).raise_for_status()
    issued = web.post(f"{base}/principals/{principal}/api-keys", headers=admin).json()
    platform.worker.catch_up()
    assert sign_in(web, issued["api_key"]) == f"/app/t/{tenant}/catalog"
    assert web.get(f"/app/t/{tenant}/catalog").status_code == 200
    revoked = web.post(f"{base}/api-keys/{issued['key_id']}/revoke", json={"reason": "leaked"}, headers=admin)
    assert revoked.status_code == 202, revoked.text
    platform.worker.catch_up()
    time.sleep(CACHE_SECONDS + 0.1)  # a proven credential is trusted this long, on the API as here
    answer = web.get(f"/app/t/{tenant}/catalog", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/web/sign-in")


ADMIN_PAGES = ("/admin/policies", "/admin/evidence")
PROPOSAL = 'forbid (principal, action == Action::"read_tenant", resource) unless { principal.platform_admin };'


def test_an_admin_reads_policies_and_evidence_and_simulates_the_flips(web: TestClient, platform: Platform) -> None:
    tenant = onboard(platform, "simulated")
    analyst = {"Authorization": f"Bearer {dev_token(platform, 'analyst', tenant)}"}
    assert web.get(f"/v1/tenants/{tenant}", headers=analyst).status_code == 200
    admin = {"Authorization": f"Bearer {dev_token(platform, 'platform-admin', None)}"}
    drafted = web.post("/v1/policies", json={"name": "analysts-out", "cedar": PROPOSAL}, headers=admin)
    assert drafted.status_code == 201, drafted.text
    platform.worker.catch_up()
    sign_in(web, dev_token(platform, "platform-admin", None))
    assert "No checkpoint is signed yet" in web.get("/admin/evidence").text
    checkpoint = web.post("/v1/ledger/checkpoints", headers=admin).json()
    for path in ADMIN_PAGES:
        shown = web.get(path)
        assert shown.status_code == 200, (path, shown.text)
    assert "analysts-out" in web.get("/admin/policies").text
    assert "unless { principal.platform_admin }" in web.get("/admin/policies/analysts-out").text
    assert web.get("/admin/policies/missing").status_code == 404
    assert checkpoint["root_hash"] in web.get("/admin/evidence").text
    last = platform.store.last_position()

    token = csrf(web, "/admin/policies")
    ran = web.post("/admin/policies/simulate", data={"cedar": PROPOSAL, "days": "1", "_csrf_token": token})
    assert ran.status_code == 200, ran.text
    assert "1 would flip" in ran.text
    assert "(analyst)</td><td>read_tenant</td>" in ran.text
    bad = web.post("/admin/policies/simulate", data={"cedar": "forbid (principal", "_csrf_token": token})
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text
    assert web.post("/admin/policies/simulate", data={"cedar": PROPOSAL, "days": "1"}).status_code == 403
    assert platform.store.last_position() == last  # a dry run writes nothing


def test_a_tenant_member_is_refused_the_policy_pages_and_shown_evidence_as_by_the_api(
    web: TestClient, platform: Platform
) -> None:
    tenant = onboard(platform, "member")
    member = dev_token(platform, "tenant-admin", tenant)
    sign_in(web, member)
    token = csrf(web, f"/app/t/{tenant}/catalog")
    bearer = {"Authorization": f"Bearer {member}"}
    for path, api_path in (("/admin/policies", "/v1/policies"), ("/admin/policies/x", "/v1/policies/x")):
        assert web.get(path).status_code == 403
        assert web.get(api_path, headers=bearer).status_code == 403
    assert web.get("/admin/evidence").status_code == 200  # read_ledger: the API lets members read checkpoints too
    refused = web.post("/admin/policies/simulate", data={"cedar": PROPOSAL, "_csrf_token": token})
    assert refused.status_code == 403


def test_a_tenants_policies_are_listed_read_and_simulated_on_that_tenant(web: TestClient, platform: Platform) -> None:
    tenant = onboard(platform, "governed")
    steward = {"Authorization": f"Bearer {dev_token(platform, 'data-steward', tenant)}"}
    stop = f'forbid (principal, action == Action::"read_tenant", resource == Tenant::"{tenant}");'
    drafted = web.post(f"/v1/tenants/{tenant}/policies", json={"name": "no-reads", "cedar": stop}, headers=steward)
    assert drafted.status_code == 201, drafted.text
    assert web.get(f"/v1/tenants/{tenant}", headers=steward).status_code == 200
    platform.worker.catch_up()
    sign_in(web, dev_token(platform, "platform-admin", None))
    base = f"/admin/t/{tenant}/policies"
    assert "no-reads" in web.get(base).text
    assert "Action::&#34;read_tenant&#34;" in web.get(f"{base}/no-reads").text
    assert f'href="{base}"' in web.get("/admin/").text
    token = csrf(web, base)
    ran = web.post(f"{base}/simulate", data={"cedar": stop, "days": "1", "_csrf_token": token})
    assert ran.status_code == 200, ran.text
    assert "(data-steward)</td><td>read_tenant</td>" in ran.text
    assert f"tenant:{tenant}/(proposed)@0/" in ran.text
