"""PLATFORM_AUTH=off (benchmarks only), decided once by the composition root: no credentials are asked for, every
caller is the anonymous platform admin, and the one authorization path permits everything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from litestar.testing import TestClient

from application.authorization import PermitAll
from interfaces.bootstrap import Platform, bootstrap
from interfaces.http.app import create_app
from interfaces.settings import Settings


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    platform = bootstrap(replace(settings, auth="off"))
    yield platform
    platform.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_without_authorization_no_credential_is_asked_for_and_every_step_may_run(platform: Platform) -> None:
    assert isinstance(platform.authorization.policies, PermitAll)
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        created = client.post("/v1/tenants", json={"slug": "acme", "display_name": "Acme"})
        assert created.status_code == 201, created.text
        tenant = created.json()["tenant_id"]
        assert client.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "unpaid"}).status_code == 202
        assert client.get("/metrics").status_code == 200
        platform.worker.catch_up()
        assert client.get(f"/v1/tenants/{tenant}").json()["status"] == "suspended"
    assert platform.authorization.authorize_step(tenant, "normalize_batch") == []
