"""A platform on the embedded default (SQLite files) or on PostgreSQL, driven over HTTP, once per backend.

``settings``, ``platform``, ``token_for`` and ``client`` are a test's own platform, new for each test. A module whose
tests need no fresh platform (each keeps to its own tenant and ids) says so with one line,
``pytestmark = pytest.mark.shared_platform``, and the same names then give one platform per module and backend
(``module_settings``, ``module_platform``, ``module_client``). Such a module changes its settings by overriding
``module_settings``, and its tests share one client: they pass headers per request, never edit the client's. A test
of it that needs an empty platform (it counts everything, or lists every tenant) is marked ``fresh_platform``: the
module's settings on stores of its own.
"""

from __future__ import annotations

import dataclasses
import uuid
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

SHARED = "shared_platform"
FRESH = "fresh_platform"

STORES = ("event_store", "event_store_url", "read_model_url", "keys_dir", "datasets", "scratch_dir")
"""The settings that place a platform's stores."""

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


def new_slug(name: str) -> str:
    """A tenant slug no other test of a shared platform uses (slugs are never reused)."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{SHARED}: the module's tests share one platform per backend")
    config.addinivalue_line("markers", f"{FRESH}: in a module sharing its platform, this test has its own")


def shares_platform(request: pytest.FixtureRequest) -> bool:
    """Whether the test is in a module marked ``shared_platform``, unless it is itself marked ``fresh_platform``."""
    return request.node.get_closest_marker(FRESH) is None and request.node.get_closest_marker(SHARED) is not None


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The stores of the platform: SQLite files or PostgreSQL (one module's tests run on one, then the other)."""
    return str(request.param)


def on_own_stores(module: Settings, own: Settings) -> Settings:
    """The module's settings on a test's own stores: what a ``fresh_platform`` test of a sharing module runs on."""
    return dataclasses.replace(module, **{name: getattr(own, name) for name in STORES})


@pytest.fixture
def settings(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Settings]:
    if shares_platform(request):
        yield request.getfixturevalue("module_settings")
        return
    with ExitStack() as databases:
        own = settings_in(tmp_path, backend, databases)
        shared = request.node.get_closest_marker(SHARED) is not None
        yield on_own_stores(request.getfixturevalue("module_settings"), own) if shared else own


@pytest.fixture
def platform(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Platform]:
    if shares_platform(request):
        if settings is not request.getfixturevalue("module_settings"):
            pytest.fail(f"a module marked {SHARED} changes module_settings, not settings", pytrace=False)
        yield request.getfixturevalue("module_platform")
        return
    platform = bootstrap(settings)
    yield platform
    platform.close()


@pytest.fixture
def token_for(platform: Platform) -> TokenFor:
    return token_for_in(platform)


@pytest.fixture
def client(request: pytest.FixtureRequest, platform: Platform) -> Iterator[TestClient]:
    if shares_platform(request):
        yield request.getfixturevalue("module_client")
        return
    yield from admin_client(platform)


@pytest.fixture(scope="module")
def module_settings(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with ExitStack() as databases:
        yield settings_in(tmp_path_factory.mktemp("platform"), backend, databases)


@pytest.fixture(scope="module")
def module_platform(module_settings: Settings) -> Iterator[Platform]:
    platform = bootstrap(module_settings)
    yield platform
    platform.close()


@pytest.fixture(scope="module")
def module_client(module_platform: Platform) -> Iterator[TestClient]:
    yield from admin_client(module_platform)
