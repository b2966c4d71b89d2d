"""A poison event never stalls a read model, and never lets authorization fail open (over HTTP, SQLite and PostgreSQL).

The poison is appended below the HTTP edge, through the application services, as it could have been before the
edge refused control characters: a principal whose display name holds a NUL, a batch whose source holds one.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import TestClient
from poison import NUL, Cause, eventually

from application.commands import CommandContext
from application.pipeline import Target
from domain.access import principal_id_for
from domain.pipeline import manifest
from interfaces.bootstrap import Platform
from interfaces.settings import Settings

NOBODY = {"Authorization": ""}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, read_model_stall_after=0.3)


def context(name: str) -> CommandContext:
    return CommandContext("user:test", f"{name}-{uuid.uuid4()}", "poison")


def onboard(client: TestClient, slug: str) -> str:
    response = client.post("/v1/tenants", json={"slug": slug, "display_name": slug.title(), "plan": "trial"})
    assert response.status_code == 201, response.text
    return str(response.json()["tenant_id"])


def settle(platform: Platform) -> None:
    """Every read model has applied the log, the dead letters of what was parked included."""
    platform.worker.catch_up()
    platform.worker.catch_up()


def projection_letters(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/v1/dead-letters", params={"source": "projection", "status": "open"})
    assert response.status_code == 200, response.text
    letters: list[dict[str, Any]] = response.json()["dead_letters"]
    return letters


def not_ready(client: TestClient) -> list[str]:
    response = client.get("/ready", headers=NOBODY)
    if response.status_code == 200:
        return []
    assert response.status_code == 503, response.text
    problems: list[str] = response.json()["problems"]
    return problems


def parked_metric(client: TestClient, platform: Platform, read_model: str) -> float:
    body = client.get("/metrics").text
    line = f'platform_projection_parked_events{{projection="{read_model}",status="parked"}}'
    found = [row for row in body.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


def principals_of(client: TestClient, tenant: str, headers: dict[str, str]) -> Any:
    return client.get(f"/v1/tenants/{tenant}/principals", headers=headers)


def retry_all(client: TestClient) -> None:
    for letter in projection_letters(client):
        response = client.post(f"/v1/dead-letters/{letter['dead_letter_id']}/retry")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "resolved"


def test_a_principal_whose_name_has_a_nul_is_parked_and_later_revocations_still_apply(
    client: TestClient, platform: Platform, token_for: Any
) -> None:
    cause = Cause(platform.read_models)
    cause.guard(platform.read_models, "access")
    poisoned, other = onboard(client, "poisoned"), onboard(client, "other")
    poisoned_admin, other_admin = token_for("tenant-admin", poisoned), token_for("tenant-admin", other)
    assert principals_of(client, other, other_admin).status_code == 200

    # In the issuer: the subject and display name are sealed in the read model, so a NUL there never reaches it.
    poison = platform.access.register_principal(
        context("register"), "person", f"platform-local{NUL}", "eve", "Eve", poisoned
    )
    other_admin_id = principal_id_for("platform-local", f"dev-tenant-admin-{other}", other)
    revoked = client.delete(f"/v1/tenants/{other}/principals/{other_admin_id}/roles/tenant-admin")
    assert revoked.status_code == 202, revoked.text
    settle(platform)

    # the revocation behind the poison took effect: the other tenant's admin no longer gets in
    assert eventually(lambda: principals_of(client, other, other_admin).status_code in (403, 404))
    [letter] = projection_letters(client)
    assert (letter["subject"], letter["step"], letter["tenant_id"]) == ("access", str(poison.position), None)
    assert "NUL" in letter["error"]
    assert any("read model access has 1 parked event" in p for p in not_ready(client))
    assert parked_metric(client, platform, "access") == 1
    # the parked event is about Eve alone: her tenant's admin, whose own events were all applied, still gets in
    shown = principals_of(client, poisoned, poisoned_admin)
    assert shown.status_code == 200, shown.text
    assert "Eve" not in {p["display_name"] for p in shown.json()}

    cause.fixed = True
    retry_all(client)
    settle(platform)  # the retries' own events applied: a read model 0.3 s behind them would count as stalled
    assert not_ready(client) == []
    assert eventually(lambda: principals_of(client, poisoned, poisoned_admin).status_code == 200)
    names = {p["display_name"] for p in principals_of(client, poisoned, poisoned_admin).json()}
    assert "Eve" in names


def test_a_batch_whose_source_has_a_nul_is_parked_and_the_log_goes_on(client: TestClient, platform: Platform) -> None:
    cause = Cause(platform.read_models)
    cause.guard(platform.read_models)
    tenant = onboard(client, "loader")
    target = Target(tenant, "orders", "1.0.0", {"name": "orders"}, [], [], "Orders", None, None, False)
    raw = manifest(f"{tenant}/raw/ab/abc.csv", "ab" * 32, 10, 1, "csv")
    platform.pipeline.ingest(context("ingest"), target, f"upload{NUL}", raw, "2026-01-01T00:00:00+00:00")
    later = onboard(client, "later")
    settle(platform)

    assert client.get(f"/v1/tenants/{later}").status_code == 200
    letters = projection_letters(client)
    assert "pipeline_runs" in {letter["subject"] for letter in letters}
    assert any("read model pipeline_runs has 1 parked event" in p for p in not_ready(client))

    cause.fixed = True
    retry_all(client)
    settle(platform)  # the retries' own events applied: a read model 0.3 s behind them would count as stalled
    assert not_ready(client) == []
    runs = client.get(f"/v1/tenants/{tenant}/runs").json()["runs"]
    assert [run["source"] for run in runs] == ["upload"]


def test_a_parked_revocation_fails_closed_until_it_is_applied(
    client: TestClient, platform: Platform, token_for: Any
) -> None:
    tenant = onboard(client, "closing")
    service = client.post(
        f"/v1/tenants/{tenant}/principals",
        json={"kind": "service", "subject": "loader", "display_name": "Loader"},
    ).json()["principal_id"]
    assert client.post(f"/v1/tenants/{tenant}/principals/{service}/roles", json={"role": "service"}).status_code == 202
    key = client.post(f"/v1/tenants/{tenant}/principals/{service}/api-keys").json()
    settle(platform)
    with_key = {"Authorization": "", "X-API-Key": key["api_key"]}
    assert client.get(f"/v1/tenants/{tenant}", headers=with_key).status_code == 200
    cause = Cause(platform.read_models, fails_on=lambda recorded: type(recorded.event).__name__ == "Revoked")
    cause.guard(platform.read_models, "access")

    assert client.post(f"/v1/tenants/{tenant}/api-keys/{key['key_id']}/revoke", json={"reason": "leaked"}).is_success
    settle(platform)

    def refused_for_now() -> Any:
        response = client.get(f"/v1/tenants/{tenant}", headers=with_key)
        return response if response.status_code == 503 else None

    refused = eventually(refused_for_now)  # at once, or once the 2 s credential cache has let go
    assert refused.headers["retry-after"]
    assert refused.json()["type"].endswith("/read-model-unsound")
    cause.fixed = True
    retry_all(client)
    assert eventually(lambda: client.get(f"/v1/tenants/{tenant}", headers=with_key).status_code == 401)


def test_a_stuck_read_model_makes_ready_fail_and_authentication_fail_closed(
    client: TestClient, platform: Platform, token_for: Any
) -> None:
    tenant = onboard(client, "stuck")
    admin = token_for("tenant-admin", tenant)
    assert principals_of(client, tenant, admin).status_code == 200
    platform.worker.stop()
    onboard(client, "waiting")  # one more event the stopped worker never applies

    problems = eventually(lambda: [p for p in not_ready(client) if "has not advanced" in p])
    assert any("read model access" in p for p in problems)
    refused = principals_of(client, tenant, admin)
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"].endswith("/read-model-unsound")

    platform.worker.catch_up()
    assert not_ready(client) == []
    assert principals_of(client, tenant, admin).status_code == 200
