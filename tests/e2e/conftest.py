"""An app per test, on the embedded default (SQLite files) or on PostgreSQL, driven over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    # Files under the test's own folder; the orchestrator is driven by the tests (Platform.orchestrator.catch_up).
    local = {
        "keys_dir": str(tmp_path / "keys"),
        "datasets": str(tmp_path / "datasets"),
        "scratch_dir": str(tmp_path / "scratch"),
        "orchestrator": "off",
        "scheduler": "off",
        "action_engine": "off",
        "action_backoff": 0.01,
        "webhook_dispatcher": "off",
        "pipeline_backoff": 0.01,
    }
    if request.param == "sqlite":
        return Settings(
            event_store_url=str(tmp_path / "events.db"), read_model_url=f"sqlite:///{tmp_path}/rm.db", **local
        )
    return Settings(
        **local,
        event_store="postgres",
        event_store_url=request.getfixturevalue("pg_event_store_url"),
        read_model_url=request.getfixturevalue("pg_database"),
    )


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    platform = bootstrap(settings)
    yield platform
    platform.close()


TokenFor = Callable[[str, "str | None"], dict[str, str]]


@pytest.fixture
def token_for(platform: Platform) -> TokenFor:
    """Authorization headers of a (registered, role-holding) development principal, usable at once."""

    def headers(role: str, tenant_id: str | None = None) -> dict[str, str]:
        token = dev_token(platform, role, tenant_id)
        platform.worker.catch_up()
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def client(platform: Platform, token_for: TokenFor) -> Iterator[TestClient]:
    """A client speaking as a platform admin unless a request sets its own Authorization header."""
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        client.headers.update(token_for("platform-admin", None))
        yield client
