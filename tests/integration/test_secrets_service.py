"""The Secrets module end to end on the embedded stores: the service, the secret directory and the HTTP
controller, wired by bootstrap with envelope encryption. No answer ever carries a value."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient

import projections
from adapters.projection_worker import ProjectionWorker
from adapters.readmodels import ReadModelStore
from application.commands import CommandContext
from application.secrets import SecretService
from domain.errors import InvalidValueError, NotFoundError
from domain.tenants import TenantNotActiveError
from interfaces.bootstrap import Platform, bootstrap
from interfaces.http.deps import dependencies
from interfaces.http.problems import EXCEPTION_HANDLERS
from interfaces.http.secrets import SecretController
from interfaces.settings import Settings
from projections import secrets as secret_directory

READ_MODELS = tuple({p.name: p for p in (*projections.ALL, secret_directory.projection)}.values())


def ctx(command_id: str | None = None) -> CommandContext:
    command_id = command_id or str(uuid4())
    return CommandContext("user:test", command_id, command_id)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    settings = Settings(
        event_store_url=str(tmp_path / "events.db"),
        read_model_url=f"sqlite:///{tmp_path}/rm.db",
        keys_dir=str(tmp_path / "keys"),
    )
    built = bootstrap(settings)
    read_models = ReadModelStore(settings.read_model_url, READ_MODELS)  # until projections.ALL lists secrets
    wired = dataclasses.replace(built, read_models=read_models, worker=ProjectionWorker(built.store, read_models))
    yield wired
    wired.close()
    built.read_models.close()


@pytest.fixture
def tenant_id(platform: Platform) -> UUID:
    return platform.tenants.onboard_tenant(ctx(), "acme", "Acme Corp", "standard").aggregate_id


@pytest.fixture
def vault(platform: Platform) -> SecretService:
    return platform.secrets


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient[Any]]:
    app = Litestar(
        route_handlers=[SecretController],
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies=dependencies(platform),
        debug=False,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# The service


def test_bootstrap_wires_envelope_encryption_into_the_event_store(
    platform: Platform, vault: SecretService, tenant_id: UUID, tmp_path: Path
) -> None:
    value = secrets.token_urlsafe(24)

    vault.put_secret(ctx(), tenant_id, "webhook", value)

    raw = b"".join(p.read_bytes() for p in tmp_path.glob("events.db*"))
    assert b'"enc":["value"]' in raw
    assert value.encode() not in raw
    assert vault.reveal_secret(tenant_id, "webhook") == value
    assert (tmp_path / "keys" / "kek.json").exists()
    assert (tmp_path / "keys" / "keys.db").exists()


def test_put_rotate_delete_and_put_again_are_versions(vault: SecretService, tenant_id: UUID) -> None:
    stored = vault.put_secret(ctx(), tenant_id, "webhook", "one")
    rotated = vault.rotate_secret(ctx(), tenant_id, "webhook", "two")
    replaced = vault.put_secret(ctx(), tenant_id, "webhook", "three")
    deleted = vault.delete_secret(ctx(), tenant_id, "webhook")

    with pytest.raises(NotFoundError):
        vault.reveal_secret(tenant_id, "webhook")
    with pytest.raises(NotFoundError):
        vault.rotate_secret(ctx(), tenant_id, "webhook", "four")
    back = vault.put_secret(ctx(), tenant_id, "webhook", "four")

    assert [w.version for w in (stored, rotated, replaced, deleted, back)] == [1, 2, 3, 4, 5]
    assert stored.result.position < rotated.result.position < back.result.position
    assert vault.reveal_secret(tenant_id, "webhook") == "four"


def test_the_same_value_again_or_the_same_command_again_records_nothing(
    platform: Platform, vault: SecretService, tenant_id: UUID
) -> None:
    first = vault.put_secret(ctx("put-1"), tenant_id, "webhook", "one")
    position = platform.store.last_position()

    again = vault.put_secret(ctx("put-1"), tenant_id, "webhook", "one")
    same_value = vault.put_secret(ctx(), tenant_id, "webhook", "one")

    assert platform.store.last_position() == position
    assert (again.version, again.result.position, again.result.replayed) == (1, first.result.position, True)
    assert (same_value.version, same_value.result.position) == (1, first.result.position)


def test_secrets_need_an_active_tenant(platform: Platform, vault: SecretService, tenant_id: UUID) -> None:
    with pytest.raises(NotFoundError, match="no such tenant"):
        vault.put_secret(ctx(), uuid4(), "webhook", "one")
    platform.tenants.suspend_tenant(ctx(), tenant_id, "unpaid")
    with pytest.raises(TenantNotActiveError):
        vault.put_secret(ctx(), tenant_id, "webhook", "one")


@pytest.mark.parametrize(("name", "value"), [("bad name", "v"), ("ok", ""), ("ok", "x" * 8193), ("ok", "[erased]")])
def test_invalid_secrets_are_refused_and_record_nothing(
    platform: Platform, vault: SecretService, tenant_id: UUID, name: str, value: str
) -> None:
    position = platform.store.last_position()

    with pytest.raises(InvalidValueError):
        vault.put_secret(ctx(), tenant_id, name, value)

    assert platform.store.last_position() == position


# The HTTP controller


def base(tenant_id: UUID) -> str:
    return f"/v1/tenants/{tenant_id}/secrets"


def test_put_answers_name_version_and_position_and_never_the_value(client: TestClient[Any], tenant_id: UUID) -> None:
    value = secrets.token_urlsafe(24)

    first = client.put(f"{base(tenant_id)}/webhook", json={"value": value})
    second = client.put(f"{base(tenant_id)}/webhook", json={"value": value + "2"})

    assert first.status_code == second.status_code == 202
    assert first.json().keys() == {"name", "version", "position"}
    assert (first.json()["name"], first.json()["version"], second.json()["version"]) == ("webhook", 1, 2)
    assert value not in first.text + second.text


def test_list_shows_names_versions_and_fingerprints_only(
    client: TestClient[Any], platform: Platform, tenant_id: UUID
) -> None:
    values = {name: secrets.token_urlsafe(24) for name in ("b-key", "a-key", "c-key")}
    for name, value in values.items():
        client.put(f"{base(tenant_id)}/{name}", json={"value": value})
    last = client.delete(f"{base(tenant_id)}/c-key").json()
    platform.worker.catch_up()

    listed = client.get(f"{base(tenant_id)}/", headers={"X-Consistent-Position": str(last["position"])})
    paged = client.get(f"{base(tenant_id)}/", params={"limit": 1})

    assert listed.status_code == 200
    assert [(i["name"], i["version"]) for i in listed.json()["items"]] == [("a-key", 1), ("b-key", 1)]
    assert all(i["fingerprint"].startswith("hmac-sha256:") for i in listed.json()["items"])
    assert listed.json()["items"][0].keys() == {"name", "version", "fingerprint", "created_at", "updated_at"}
    assert (last["name"], last["version"]) == ("c-key", 2)
    assert paged.json()["next_after"] == "a-key"
    assert not any(value in listed.text for value in values.values())


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/webhook", {"value": "VALUE-1", "extra": 1}, 422),
        ("/webhook", {"value": ""}, 422),
        ("/webhook", {"value": "VALUE-1" * 2000}, 422),
        ("/webhook", {"value": 123456789}, 422),
        ("/bad%20name", {"value": "VALUE-1"}, 422),
        ("/-bad", {"value": "VALUE-1"}, 422),
    ],
)
def test_refusals_are_problems_that_never_repeat_the_value(
    client: TestClient[Any], tenant_id: UUID, path: str, body: dict[str, Any], status: int
) -> None:
    answer = client.put(base(tenant_id) + path, json=body)

    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "VALUE-1" not in answer.text
    assert "123456789" not in answer.text


def test_unknown_tenants_and_secrets_are_404(client: TestClient[Any], tenant_id: UUID) -> None:
    assert client.put("/v1/tenants/not-a-uuid/secrets/webhook", json={"value": "v"}).status_code == 404
    assert client.put(f"{base(uuid4())}/webhook", json={"value": "v"}).status_code == 404
    assert client.delete(f"{base(tenant_id)}/never-stored").status_code == 404


def test_every_route_names_its_cedar_action(client: TestClient[Any]) -> None:
    actions = {
        handler.opt.get("action")
        for route in client.app.routes
        for handler in getattr(route, "route_handlers", [])
        if route.path.startswith("/v1/tenants") and "OPTIONS" not in handler.http_methods  # Litestar's own
    }

    assert actions == {"put_secret", "list_secrets", "delete_secret"}
