"""Customer App journeys: a steward approves a contract an engineer drafted (the engineer is told why they cannot);
an engineer opens a run's page after an ingest, and finds the product it published in the catalog."""

from __future__ import annotations

from typing import Any

import pytest

from sample.retail import CONTRACT, write_csv
from tests.browser.conftest import Served

pytestmark = pytest.mark.browser
YAML = {"content-type": "application/yaml"}


def onboarded(served: Served, slug: str) -> str:
    with served.api("platform-admin") as api:
        tenant = str(api.post("/v1/tenants", json={"slug": slug, "display_name": slug.title()}).json()["tenant_id"])
        api.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"]}).raise_for_status()
    return tenant


def drafted(served: Served, tenant: str) -> str:
    """The retail contract, registered and proposed by a data engineer: the version awaiting approval."""
    with served.api("data-engineer", tenant) as engineer:
        created = engineer.post(f"/v1/tenants/{tenant}/contracts", content=CONTRACT.read_bytes(), headers=YAML)
        created.raise_for_status()
        version = str(created.json()["version"])
        engineer.post(
            f"/v1/tenants/{tenant}/contracts/retail-sales/propose", json={"version": version}
        ).raise_for_status()
    return version


def test_a_steward_approves_what_an_engineer_drafted(served: Served, visitor: Any) -> None:
    tenant = onboarded(served, "umbrella")
    contracts = f"/app/t/{tenant}/contracts/"

    engineer = visitor("engineer")
    engineer.sign_in(served.token("data-engineer", tenant))
    engineer.open(contracts)
    document = engineer.page.get_by_label("ODCS v3 document (YAML or JSON)")
    document.fill("apiVersion: v3.1.0\nkind: DataContract\nid: broken\n")
    engineer.page.get_by_role("button", name="Register draft").click()
    assert "422" in engineer.page.get_by_role("heading", level=1).inner_text()
    assert "'version' is a required property" in engineer.page.locator("main ul").inner_text()
    assert engineer.page.locator("main ul code").first.inner_text().startswith("#")  # each error at its JSON pointer
    engineer.check(refused=True)
    engineer.open(contracts)
    engineer.page.get_by_label("ODCS v3 document (YAML or JSON)").fill(CONTRACT.read_text())
    engineer.page.get_by_role("button", name="Register draft").click()
    version = "1.0.0"
    engineer.page.get_by_role("button", name=f"Propose version {version}").click()
    assert "You drafted this version: four eyes" in engineer.page.get_by_role("note").inner_text()
    assert engineer.page.get_by_role("button", name=f"Approve version {version}").count() == 0
    engineer.check()

    steward = visitor("steward")
    steward.sign_in(served.token("data-steward", tenant))
    steward.page.get_by_role("link", name="Contracts").click()
    steward.check()
    steward.page.get_by_role("link", name="retail-sales").click()
    steward.check()
    steward.page.get_by_role("button", name=f"Approve version {version}").click()
    assert steward.page.get_by_role("heading", name=f"Version {version}: active").count() == 1
    steward.check()

    with served.api("analyst", tenant) as analyst:  # what the app did, the API shows
        assert analyst.get(f"/v1/tenants/{tenant}/contracts/retail-sales").json()["current_version"] == version


def test_an_engineer_opens_the_run_of_their_batch(served: Served, visitor: Any, tmp_path: Any) -> None:
    tenant = onboarded(served, "wonka")
    version = drafted(served, tenant)
    with served.api("data-steward", tenant) as steward:
        approve = f"/v1/tenants/{tenant}/contracts/retail-sales/approve"
        steward.post(approve, json={"version": version}).raise_for_status()
    batch = write_csv(tmp_path / "sales.csv", 200, defects=True).read_bytes()
    with served.api("data-engineer", tenant) as engineer:
        uploaded = engineer.post(
            f"/v1/tenants/{tenant}/contracts/retail-sales/batches?object=sales&source=sales.csv",
            content=batch,
            headers={"content-type": "text/csv"},
        )
        assert uploaded.status_code == 202, uploaded.text
    served.platform.orchestrator.catch_up()
    served.platform.worker.catch_up()

    person = visitor("engineer-runs")
    person.sign_in(served.token("data-engineer", tenant))
    person.page.get_by_role("link", name="Runs").click()
    person.check()
    person.page.get_by_role("link", name="sales", exact=True).click()
    person.check()
    assert person.page.locator("#run-status").inner_text() == "succeeded"
    steps = person.page.locator(".timeline .step")
    assert steps.count() >= 3
    normalize = steps.filter(has_text="normalize").inner_text()
    assert "rows in" in normalize
    assert "rejected" in normalize  # the batch's defective lines
    assert "quarantine" in normalize  # and the file they were quarantined to
    assert "rejected" in person.page.locator("dl.facts").inner_text()

    person.page.get_by_role("link", name="Catalog").click()
    search = person.page.get_by_label("Search products")
    search.fill("no-such-product")
    search.press("Enter")
    assert person.page.locator("#results").inner_text().startswith("0 products")
    search.fill("retail")  # htmx asks as they type: the results change without a page load
    person.page.wait_for_url("**q=retail**")
    person.page.locator("#results h2 a").first.wait_for()
    assert person.page.locator("#results").inner_text().startswith("1 product")
    person.check()
    person.page.locator("#results h2 a").first.click()
    person.check()
    assert person.page.get_by_role("heading", name="Versions").count() == 1
    email = person.page.get_by_role("row").filter(has_text="customer_email").first.inner_text()
    assert "pii, masked" in email  # its classification in the contract, and masked in what is served
