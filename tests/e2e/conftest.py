"""An app per test, on the embedded default (SQLite files) or on PostgreSQL, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform, bootstrap
from interfaces.http.app import create_app
from interfaces.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return Settings(event_store_url=str(tmp_path / "events.db"), read_model_url=f"sqlite:///{tmp_path}/rm.db")
    return Settings(
        event_store="postgres",
        event_store_url=request.getfixturevalue("pg_event_store_url"),
        read_model_url=request.getfixturevalue("pg_database"),
    )


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    platform = bootstrap(settings)
    yield platform
    platform.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        yield client
