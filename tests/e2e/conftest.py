"""A platform on the embedded default (SQLite files) or on PostgreSQL, driven over HTTP: one per test, or one per
module for the modules whose tests need no fresh platform (each keeps to its own tenant and ids).

``settings``, ``platform``, ``token_for`` and ``client`` are a test's own; ``module_settings``, ``module_platform``
and ``module_client`` are shared by the tests of a module, and a module uses them by asking for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Settings
from tests.conftest import event_store_url_in, new_pg_database, new_pg_schema

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

TokenFor = Callable[[str, "str | None"], dict[str, str]]


def settings_in(folder: Path, backend: str, databases: ExitStack) -> Settings:
    """Settings with files under ``folder`` and, on PostgreSQL, databases that ``databases`` drops when closed."""
    # the orchestrator is driven by the tests (Platform.orchestrator.catch_up)
    local = {
        "keys_dir": str(folder / "keys"),
        "datasets": str(folder / "datasets"),
        "scratch_dir": str(folder / "scratch"),
        "orchestrator": "off",
        "scheduler": "off",
        "action_engine": "off",
        "action_backoff": 0.01,
        "webhook_dispatcher": "off",
        "pipeline_backoff": 0.01,
    }
    if backend == "sqlite":
        return Settings(event_store_url=str(folder / "events.db"), read_model_url=f"sqlite:///{folder}/rm.db", **local)
    return Settings(
        **local,
        event_store="postgres",
        event_store_url=event_store_url_in(databases.enter_context(new_pg_schema())),
        read_model_url=databases.enter_context(new_pg_database()),
    )


def token_for_in(platform: Platform) -> TokenFor:
    """Authorization headers of a (registered, role-holding) development principal, usable at once."""

    def headers(role: str, tenant_id: str | None = None) -> dict[str, str]:
        token = dev_token(platform, role, tenant_id)
        platform.worker.catch_up()
        return {"Authorization": f"Bearer {token}"}

    return headers


def admin_client(platform: Platform) -> Iterator[TestClient]:
    """A client speaking as a platform admin unless a request sets its own Authorization header."""
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        client.headers.update(token_for_in(platform)("platform-admin", None))
        yield client


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with ExitStack() as databases:
        yield settings_in(tmp_path, request.param, databases)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    platform = bootstrap(settings)
    yield platform
    platform.close()


@pytest.fixture
def token_for(platform: Platform) -> TokenFor:
    return token_for_in(platform)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    yield from admin_client(platform)


@pytest.fixture(scope="module", params=BACKENDS)
def module_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with ExitStack() as databases:
        yield settings_in(tmp_path_factory.mktemp("platform"), request.param, databases)


@pytest.fixture(scope="module")
def module_platform(module_settings: Settings) -> Iterator[Platform]:
    platform = bootstrap(module_settings)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def module_client(module_platform: Platform) -> Iterator[TestClient]:
    yield from admin_client(module_platform)
