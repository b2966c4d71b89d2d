"""Unauthenticated requests are rate limited on the real platform, on the embedded default and on PostgreSQL: by client
address, failed authentications counted apart and barring the address sooner, with the IETF RateLimit headers and
429 problems of the per-principal limits; the /health and /ready probes are never limited."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Quota, Settings

PROBLEM = "application/problem+json"


def test_600_bad_credential_requests_meet_429s(client: TestClient, platform: Platform) -> None:
    bad = [{"Authorization": "Bearer not-a-token"}, {"X-API-Key": "gdp_aaaaaaaaaaaa_wrong"}, {}]
    before = platform.store.last_position()
    del client.headers["authorization"]  # the fixture's platform-admin token
    answers = [client.get("/v1/tenants", headers=bad[i % 3]) for i in range(600)]
    statuses = [a.status_code for a in answers]

    limit = Settings().rate_limit_auth_failures.limit
    assert statuses[:limit] == [401] * limit
    assert statuses[limit:] == [429] * (600 - limit)
    refused = answers[-1]
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/too-many-requests")
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["ratelimit-policy"].startswith('"auth_failures";q=')
    assert refused.headers["ratelimit"].startswith('"auth_failures";r=0;')
    assert platform.store.last_position() == before  # refusals write nothing


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    tight = dataclasses.replace(
        settings,
        rate_limit_client=Quota("client", 3, 60),
        rate_limit_auth_failures=Quota("auth_failures", 2, 60, "failed authentications"),
    )
    platform = bootstrap(tight)
    try:
        with TestClient(create_app(platform), raise_server_exceptions=False) as client:
            client.app.state.admin = {"Authorization": f"Bearer {dev_token(platform, 'platform-admin', None)}"}
            platform.worker.catch_up()
            yield client
    finally:
        platform.close()


def test_routes_without_credentials_are_limited_by_address_and_the_probes_never(strict: TestClient) -> None:
    schema = [strict.get("/schema/openapi.json").status_code for _ in range(4)]
    probes = [strict.get(path).status_code for path in ("/health", "/ready") * 10]

    assert schema == [200, 200, 200, 429]
    assert set(probes) == {200}


def test_an_address_that_failed_too_often_waits_whatever_it_sends(strict: TestClient) -> None:
    admin = strict.app.state.admin
    assert strict.get("/v1/tenants", headers=admin).status_code == 200
    failed = [strict.get("/v1/tenants", headers={"Authorization": "Bearer wrong"}) for _ in range(2)]
    barred = strict.get("/v1/tenants", headers=admin)

    assert [a.status_code for a in failed] == [401, 401]
    assert failed[1].headers["ratelimit"].startswith('"auth_failures";r=0;')
    assert failed[1].headers["www-authenticate"].startswith("Bearer")
    assert barred.status_code == 429
    assert "failed authentications" in barred.json()["detail"]
