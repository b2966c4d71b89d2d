"""Two real `platform serve` processes on one PostgreSQL-backed platform share their rate limits through Redis:
requests sent to them by turns use up one bucket, not one each (with PLATFORM_RATE_LIMIT_STORE=memory each
process would let twice as many through)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_cli import admin, free_port, start, stop, wait_until_up

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
OFF = ("PROJECTIONS", "ORCHESTRATOR", "WEBHOOK_DISPATCHER", "SCHEDULER", "ACTION_ENGINE")


@pytest.fixture
def env(tmp_path: Path, pg_event_store_url: str, pg_database: str, redis_store_url: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PLATFORM_EVENT_STORE": "postgres",
        "PLATFORM_EVENT_STORE_URL": pg_event_store_url,
        "PLATFORM_READ_MODEL_URL": pg_database,
        "PLATFORM_KEYS_DIR": str(tmp_path / "keys"),
        "PLATFORM_DATASETS": str(tmp_path / "datasets"),
        "PLATFORM_SCRATCH_DIR": str(tmp_path / "scratch"),
        "PLATFORM_RATE_LIMIT_STORE": redis_store_url,
        "PLATFORM_RATE_LIMIT_PRINCIPAL": "6/3600",
        "PLATFORM_RATE_LIMIT_CLIENT": "4/3600",
        "PLATFORM_RATE_LIMIT_AUTH_FAILURES": "4/3600",
    }


@pytest.fixture
def servers(env: dict[str, str]) -> Iterator[list[str]]:
    """The first server keeps the read models; the second, started once the first has made the keys, only serves."""
    bases: list[str] = []
    processes = []
    try:
        for extra in ({}, {f"PLATFORM_{name}": "off" for name in OFF}):
            port = free_port()
            process = start(["serve"], {**env, **extra, "PLATFORM_PORT": str(port)})
            processes.append(process)
            bases.append(f"http://127.0.0.1:{port}")
            wait_until_up(bases[-1], process)
        yield bases
    finally:
        for process in processes:
            stop(process)


def by_turns(bases: list[str], path: str, headers: dict[str, str], count: int) -> list[int]:
    return [httpx.get(bases[i % 2] + path, headers=headers, timeout=10).status_code for i in range(count)]


def test_two_api_processes_share_each_limit(servers: list[str], env: dict[str, str]) -> None:
    principal = by_turns(servers, "/v1/tenants", admin(env), 8)
    anonymous = by_turns(servers, "/schema/openapi.json", {}, 6)
    failed = by_turns(servers, "/v1/tenants", {"Authorization": "Bearer wrong"}, 6)

    assert principal == [200] * 6 + [429] * 2
    assert anonymous == [200] * 4 + [429] * 2
    assert failed == [401] * 4 + [429] * 2
