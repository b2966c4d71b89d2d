"""Authentication and access management over HTTP: tokens, API keys, roles, denials."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import TestClient

from adapters.auth.authenticator import CACHE_SECONDS
from adapters.auth.tokens import LOCAL_ISSUER, LOCAL_KID, local_signing_key
from interfaces.bootstrap import Platform
from tests.e2e.conftest import new_slug

pytestmark = pytest.mark.shared_platform

PROBLEM = "application/problem+json"


@pytest.fixture
def tenant(client: TestClient) -> str:
    created = client.post("/v1/tenants", json={"slug": new_slug("acme"), "display_name": "Acme"})
    assert created.status_code == 201
    return created.json()["tenant_id"]


def signed(platform: Platform, key: Ed25519PrivateKey | None = None, **claims: object) -> dict[str, str]:
    now = int(time.time())
    body = {"iss": LOCAL_ISSUER, "aud": platform.settings.jwt_audience, "sub": "dev-platform-admin"}
    body |= {"iat": now, "nbf": now, "exp": now + 600} | claims
    key = key or local_signing_key(Path(platform.settings.keys_dir))
    return {"Authorization": f"Bearer {jwt.encode(body, key, algorithm='EdDSA', headers={'kid': LOCAL_KID})}"}


def test_refused_credentials_get_401_without_saying_which_check_failed(client: TestClient, platform: Platform) -> None:
    assert client.get("/v1/tenants", headers=signed(platform)).status_code == 200  # the baseline works
    valid = signed(platform)["Authorization"]
    refused = {
        "missing": {"Authorization": ""},
        "not-bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "tampered": {"Authorization": valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB")},
        "expired": signed(platform, exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200),
        "not-yet-valid": signed(platform, nbf=int(time.time()) + 3600),
        "wrong-audience": signed(platform, aud="someone-else"),
        "wrong-issuer": signed(platform, iss="https://evil.example"),
        "foreign-key": signed(platform, key=Ed25519PrivateKey.generate()),
        "unregistered": signed(platform, sub="nobody"),
        "unknown-api-key": {"Authorization": "Bearer gdp_abcdefabcdef_secret"},
        "malformed-api-key": {"X-API-Key": "gdp_short"},
    }
    bodies = set()
    for name, headers in refused.items():
        response = client.get("/v1/tenants", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
        bodies.add(response.json()["detail"])
    assert bodies == {"valid credentials are required"}


def test_a_service_key_works_until_revoked_and_rotation_keeps_the_old_one_for_the_overlap(
    client: TestClient, platform: Platform, tenant: str
) -> None:
    base = f"/v1/tenants/{tenant}"
    registered = client.post(
        f"{base}/principals", json={"kind": "service", "subject": "loader", "display_name": "Loader"}
    )
    assert registered.status_code == 201, registered.text
    principal = registered.json()["principal_id"]
    assert client.post(f"{base}/principals/{principal}/roles", json={"role": "service"}).status_code == 202
    issued = client.post(f"{base}/principals/{principal}/api-keys").json()
    key = {"X-API-Key": issued["api_key"]}
    platform.worker.catch_up()
    assert client.get(base, headers=key).status_code == 200
    assert issued["api_key"] not in client.get(f"{base}/api-keys").text

    rotated = client.post(f"{base}/api-keys/{issued['key_id']}/rotate", json={"overlap_seconds": 3600}).json()
    platform.worker.catch_up()
    assert client.get(base, headers={"Authorization": f"Bearer {rotated['api_key']}"}).status_code == 200
    assert client.get(base, headers=key).status_code == 200  # still inside the overlap window

    revoked = client.post(f"{base}/api-keys/{issued['key_id']}/revoke", json={"reason": "leaked"})
    assert revoked.status_code == 202
    platform.worker.catch_up()
    deadline = time.monotonic() + CACHE_SECONDS + 1  # a proven credential is trusted for CACHE_SECONDS at most
    while client.get(base, headers=key).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key still works after the cache window"
        time.sleep(0.1)
    stored = platform.store.read_all(0, 1000)
    assert all(issued["api_key"] not in str(r.data) for r in stored)


def test_a_tenant_admin_manages_access_but_an_analyst_is_refused_and_the_attempt_is_recorded(
    client: TestClient, platform: Platform, token_for, tenant: str
) -> None:
    base = f"/v1/tenants/{tenant}"
    admin, analyst = token_for("tenant-admin", tenant), token_for("analyst", tenant)
    person = {"kind": "person", "subject": "ann@example.com", "display_name": "Ann", "issuer": "https://idp.example"}
    assert client.post(f"{base}/principals", json=person, headers=admin).status_code == 201
    before = platform.store.last_position()
    refused = client.post(f"{base}/principals", json={**person, "subject": "bob"}, headers=analyst)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    new = platform.store.read_all(before, 10)
    assert [r.type for r in new] == ["DenialRecorded"]
    assert new[0].data["action"] == "register_principal"
    assert new[0].data["reasons"] == ["no policy permits it"]
    platform.worker.catch_up()
    listed = client.get(f"{base}/denials", headers=admin).json()
    assert listed[0]["action"] == "register_principal"


def test_a_suspended_tenant_is_read_only_for_its_own_principals(
    client: TestClient, platform: Platform, token_for, tenant: str
) -> None:
    admin = token_for("tenant-admin", tenant)
    assert client.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "audit"}).status_code == 202
    platform.worker.catch_up()
    body = {"kind": "person", "subject": "carol", "display_name": "Carol"}
    refused = client.post(f"/v1/tenants/{tenant}/principals", json=body, headers=admin)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "register_principal is not permitted here: "
        "the tenant is suspended, so it accepts no changes until it is reinstated"
    )
    assert "inactive-tenants-are-read-only" in str(platform.store.read_all(0, 1000)[-1].data["reasons"])
    assert client.get(f"/v1/tenants/{tenant}/principals", headers=admin).status_code == 200


def test_roles_are_checked_by_the_domain(client: TestClient, tenant: str) -> None:
    base = f"/v1/tenants/{tenant}"
    principal = client.post(
        f"{base}/principals", json={"kind": "person", "subject": "dan", "display_name": "Dan"}
    ).json()["principal_id"]
    assert client.post(f"{base}/principals/{principal}/roles", json={"role": "platform-admin"}).status_code == 422
    assert client.post(f"{base}/principals/{principal}/roles", json={"role": "service"}).status_code == 422
    assert client.post(f"{base}/principals/{principal}/roles", json={"role": "wizard"}).status_code == 422
    assert client.delete(f"{base}/principals/{principal}/roles/analyst").status_code == 409
    assert client.post(f"{base}/principals/{uuid.uuid4()}/roles", json={"role": "analyst"}).status_code == 404
