"""An admin signs in to the Admin App, onboards a tenant, suspends it and reinstates it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Served

pytestmark = pytest.mark.browser


def test_an_admin_onboards_suspends_and_reinstates_a_tenant(served: Served, visitor: Any) -> None:
    admin = visitor("admin")
    admin.sign_in(served.token("platform-admin"))
    page = admin.page
    assert page.url.endswith("/admin/")
    page.get_by_label("Slug (lower case, digits, hyphens)").fill("globex")
    page.get_by_label("Display name").fill("Globex Corporation")
    page.get_by_label("Plan").select_option("standard")
    page.get_by_role("button", name="Onboard").click()
    row = page.get_by_role("row").filter(has_text="globex")
    assert "Globex Corporation" in row.inner_text()
    assert "active" in row.inner_text()
    admin.check()

    page.get_by_label("Reason to suspend globex").fill("unpaid invoice")
    row.get_by_role("button", name="Suspend").click()
    assert "suspended: unpaid invoice" in page.get_by_role("row").filter(has_text="globex").inner_text()
    admin.check()

    page.get_by_role("button", name="Reinstate globex").click()
    assert "active" in page.get_by_role("row").filter(has_text="globex").inner_text()
    with served.api("platform-admin") as api:
        listed = api.get("/v1/tenants").json()["items"]
    assert [t["status"] for t in listed if t["slug"] == "globex"] == ["active"]
    admin.check()


def test_a_tenant_member_is_refused_the_admin_app_as_by_the_api(served: Served, visitor: Any) -> None:
    with served.api("platform-admin") as api:
        tenant = api.post("/v1/tenants", json={"slug": "initech", "display_name": "Initech"}).json()["tenant_id"]
        api.post("/v1/tenants", json={"slug": "hooli", "display_name": "Hooli"}).raise_for_status()
    analyst_token = served.token("analyst", tenant)
    analyst = visitor("analyst")
    analyst.sign_in(analyst_token)
    assert analyst.page.url.endswith(f"/app/t/{tenant}/catalog")
    response = analyst.page.request.post(
        served.base_url + "/admin/tenants", form={"slug": "sneaky", "display_name": "Sneaky"}
    )
    assert response.status == 403  # no CSRF token: refused before anything else
    analyst.open("/admin/")
    listed = analyst.page.content()  # the directory lists their own tenant only, as GET /v1/tenants does
    assert "initech" in listed
    assert "hooli" not in listed
    assert analyst.page.get_by_role("button", name="Suspend").count() == 1  # shown, but the guard decides:
    analyst.page.get_by_label("Reason to suspend initech").fill("trying")
    analyst.page.get_by_role("button", name="Suspend").click()
    assert "403" in analyst.page.get_by_role("heading", level=1).inner_text()
    analyst.check(refused=True)
    with served.api("analyst", tenant) as api:
        assert api.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "trying"}).status_code == 403


def test_an_admin_simulates_a_policy_and_sees_the_decisions_it_would_flip(served: Served, visitor: Any) -> None:
    with served.api("platform-admin") as api:
        tenant = api.post("/v1/tenants", json={"slug": "umbrella", "display_name": "Umbrella"}).json()["tenant_id"]
    with served.api("analyst", tenant) as api:
        api.get(f"/v1/tenants/{tenant}").raise_for_status()
    admin = visitor("simulating-admin")
    admin.sign_in(served.token("platform-admin"))
    admin.page.get_by_role("link", name="Policies", exact=True).click()
    admin.check()
    proposal = 'forbid (principal, action == Action::"read_tenant", resource) unless { principal.platform_admin };'
    admin.page.get_by_label("Proposed Cedar policies").fill(proposal)
    admin.page.get_by_label("Days of decisions to replay").fill("1")
    admin.page.get_by_role("button", name="Simulate").click()
    flipped = admin.page.get_by_role("row").filter(has_text="read_tenant").filter(has_text="(analyst)")
    assert flipped.count() >= 1
    assert "denied by platform/(proposed)@0/0" in flipped.first.inner_text()
    admin.check()
    admin.page.get_by_role("link", name="Evidence", exact=True).click()
    assert admin.page.get_by_role("heading", name="Evidence ledger").is_visible()
    admin.check()
