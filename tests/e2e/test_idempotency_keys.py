"""Idempotency-Key over HTTP, on the embedded default and on PostgreSQL (draft-ietf-httpapi-idempotency-key-header):
the same key with the same request replays the first answer; with another body, path or method it is a 422 problem
and nothing is written. The fingerprint kept with the key is keyed, so the log does not reveal a body's digest."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform

PROBLEM = "application/problem+json"


@pytest.fixture
def tenant(client: TestClient) -> str:
    created = client.post("/v1/tenants", json={"slug": "acme", "display_name": "Acme Corp"})
    assert created.status_code == 201, created.text
    return str(created.json()["tenant_id"])


def assert_reused(response: Any) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/idempotency-key-reused")
    assert "was used for another request" in body["detail"]


def test_the_same_key_and_body_replay_and_another_body_is_a_422_writing_nothing(
    client: TestClient, platform: Platform, tenant: str
) -> None:
    path, key = f"/v1/tenants/{tenant}/entitlements", {"Idempotency-Key": "entitle-1"}
    first = client.post(path, json={"features": ["exports"], "quotas": {"max_products": 5}}, headers=key)
    assert first.status_code == 202, first.text
    again = client.post(path, json={"features": ["exports"], "quotas": {"max_products": 5}}, headers=key)
    assert (again.status_code, again.json()) == (202, first.json())
    end = platform.store.last_position()

    assert_reused(client.post(path, json={"features": ["webhooks"], "quotas": {}}, headers=key))
    assert_reused(client.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "unpaid"}, headers=key))
    assert platform.store.last_position() == end
    platform.worker.catch_up()
    shown = client.get(f"/v1/tenants/{tenant}").json()
    assert (shown["features"], shown["status"]) == (["exports"], "active")


def test_a_key_naming_a_new_resource_refuses_another_body_for_it(
    client: TestClient, platform: Platform, tenant: str, token_for: Any
) -> None:
    # A webhook endpoint is named by the command that subscribed it: the same key is the same endpoint.
    engineer = dict(token_for("data-engineer", tenant)) | {"Idempotency-Key": "hook-1"}
    hooks = f"/v1/tenants/{tenant}/webhooks"
    entitled = client.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["webhooks"]})
    assert entitled.status_code == 202, entitled.text
    body = {"url": "https://hooks.example.com/in", "event_types": ["platform.tenants.TenantEntitlementsChanged"]}
    platform.webhooks.guard.resolve = lambda host, port, **_: [(2, 1, 6, "", ("93.184.215.14", port))]  # type: ignore[attr-defined]
    first = client.post(hooks, json=body, headers=engineer)
    assert first.status_code == 201, first.text
    assert client.post(hooks, json=body, headers=engineer).json() == first.json()
    end = platform.store.last_position()
    assert_reused(client.post(hooks, json=body | {"url": "https://other.example.com/in"}, headers=engineer))
    assert platform.store.last_position() == end


def test_the_log_keeps_a_keyed_fingerprint_never_a_plain_digest_of_the_body(
    client: TestClient, platform: Platform, tenant: str, token_for: Any
) -> None:
    admin = dict(token_for("tenant-admin", tenant)) | {"Idempotency-Key": "secret-1"}
    body = b'{"value": "hunter2"}'
    path = f"/v1/tenants/{tenant}/secrets/crm-token"
    stored = client.put(path, content=body, headers=admin | {"content-type": "application/json"})
    assert stored.status_code == 202, stored.text
    [recorded] = [r for r in platform.store.read_all(0, 10_000) if r.metadata.command_id == "secret-1"]
    fingerprint = recorded.metadata.request_fingerprint
    assert fingerprint is not None
    assert len(fingerprint) == 64
    plain = hashlib.sha256(b"PUT %s?\n%s" % (path.encode(), body)).hexdigest()
    assert fingerprint != plain
    assert fingerprint != hashlib.sha256(body).hexdigest()
    replayed = client.put(path, content=body, headers=admin | {"content-type": "application/json"})
    assert replayed.json() == stored.json()
    other = client.put(path, json={"value": "hunter3"}, headers=admin)
    assert_reused(other)


def test_requests_without_a_key_are_untouched(client: TestClient, platform: Platform, tenant: str) -> None:
    path = f"/v1/tenants/{tenant}/entitlements"
    assert client.post(path, json={"features": ["exports"]}).status_code == 202
    assert client.post(path, json={"features": ["webhooks"]}).status_code == 202
    [*_, last] = platform.store.read_stream(uuid.UUID(tenant))
    assert last.metadata.request_fingerprint is None
