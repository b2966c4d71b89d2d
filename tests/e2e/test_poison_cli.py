"""A poison event in a real `platform serve` on PostgreSQL, handled with `platform dlq` (processes, TCP, HTTP).

The poison is appended below the HTTP edge, by a second platform on the same stores: a principal whose issuer holds
a NUL, which PostgreSQL refuses in a text column (a display name is sealed: a NUL there is stored as ciphertext).
The server parks it and goes on; `platform dlq retry` is refused while the cause is there, and a discard leaves it
unapplied, after which `/ready` is 200 again.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from test_cli import admin, free_port, onboard_and_read, run, start, stop, wait_until_up

from application.commands import CommandContext
from interfaces.bootstrap import bootstrap
from interfaces.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_env(tmp_path: Path, pg_event_store_url: str, pg_database: str) -> dict[str, str]:
    return {
        **os.environ,
        "PLATFORM_PORT": str(free_port()),
        "PLATFORM_KEYS_DIR": str(tmp_path / "keys"),
        "PLATFORM_DATASETS": str(tmp_path / "datasets"),
        "PLATFORM_SCRATCH_DIR": str(tmp_path / "scratch"),
        "PLATFORM_EVENT_STORE": "postgres",
        "PLATFORM_EVENT_STORE_URL": pg_event_store_url,
        "PLATFORM_READ_MODEL_URL": pg_database,
        "PLATFORM_ORCHESTRATOR": "off",
        "PLATFORM_SCHEDULER": "off",
        "PLATFORM_ACTION_ENGINE": "off",
        "PLATFORM_WEBHOOK_DISPATCHER": "off",
    }


def open_letters(env: dict[str, str]) -> str:
    for _ in range(150):
        listed = run(["dlq", "list", "--source", "projection", "--status", "open"], env).stdout
        if listed.strip():
            return listed
        time.sleep(0.2)
    raise AssertionError("no projection dead letter appeared")


def test_a_parked_event_is_listed_refused_on_retry_while_it_fails_and_discarded_from_the_cli(
    pg_env: dict[str, str],
) -> None:
    base = f"http://127.0.0.1:{pg_env['PLATFORM_PORT']}"
    server = start(["serve"], pg_env)
    try:
        wait_until_up(base, server)
        tenant = onboard_and_read(base, "poisoned", admin(pg_env))["tenant_id"]
        below_the_edge = bootstrap(replace(Settings.from_env(pg_env), projections="off"))
        try:
            context = CommandContext("user:test", "register-eve", "poison")
            below_the_edge.access.register_principal(context, "person", "platform-\x00local", "eve", "Eve", tenant)
        finally:
            below_the_edge.close()
        later = onboard_and_read(base, "later", admin(pg_env))  # the read model went on past the poison

        listed = open_letters(pg_env)
        assert "projection" in listed, listed
        assert "access" in listed, listed
        ready = httpx.get(f"{base}/ready", timeout=10)
        assert ready.status_code == 503
        assert any("read model access has 1 parked event" in p for p in ready.json()["problems"])
        letter = listed.split()[0]
        retried = run(["dlq", "retry", letter], pg_env)
        assert retried.returncode == 2
        assert "still cannot apply" in retried.stderr
        assert "NUL" in retried.stderr
        discarded = run(["dlq", "discard", letter, "--reason", "test data with a NUL, never needed"], pg_env)
        assert discarded.returncode == 0, discarded.stderr
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 200
        assert later["slug"] == "later"
    finally:
        stop(server)
