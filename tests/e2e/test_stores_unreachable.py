"""The stores gone: a PostgreSQL of the test's own (never the shared server), stopped by its pid under a running
platform. Reads and commands answer 503 problems with Retry-After, not 500, and say nothing of hosts or ports."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Settings

pytestmark = pytest.mark.postgres
PROBLEM = "application/problem+json"


class OwnPostgres:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free loopback port."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not binaries:
            pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = Path(binaries[-1]).parent
        self.data = Path(tempfile.mkdtemp(prefix="platform-pg-"))
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.data / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stops the server by its postmaster's pid (a fast shutdown) and waits until it is gone."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)
        while _alive(pid):
            time.sleep(0.05)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        # PostgreSQL refuses to run as root: as root, run it as the postgres user, who owns the folder.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if prefix:
            shutil.chown(self.data, "postgres")
        subprocess.run([*prefix, str(self.bin / program), *args], check=True, capture_output=True, timeout=60)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def gone(own_postgres: OwnPostgres, tmp_path: Path) -> Iterator[tuple[TestClient, Platform, str]]:
    """A client of a platform whose event store and read models were on ``own_postgres``, now stopped."""
    settings = Settings(
        event_store="postgres",
        event_store_url=f"{own_postgres.url}?schema=events&connect_timeout=1",
        read_model_url=own_postgres.url,
        keys_dir=str(tmp_path / "keys"),
        datasets=str(tmp_path / "datasets"),
        scratch_dir=str(tmp_path / "scratch"),
        orchestrator="off",
        scheduler="off",
        action_engine="off",
        webhook_dispatcher="off",
    )
    platform = bootstrap(settings)
    token = dev_token(platform, "platform-admin", None)
    platform.worker.catch_up()
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        created = client.post("/v1/tenants", json={"slug": "acme", "display_name": "Acme"})
        assert created.status_code == 201, created.text
        platform.worker.catch_up()
        own_postgres.stop()
        yield client, platform, created.json()["tenant_id"]
    platform.close()


def assert_unavailable(response: Any, slug: str, port: int) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "1"
    problem = response.json()
    assert problem["type"].endswith(slug), problem
    assert str(port) not in response.text


def test_reads_and_commands_answer_503_when_postgresql_is_gone(
    gone: tuple[TestClient, Platform, str], own_postgres: OwnPostgres
) -> None:
    client, _, tenant = gone
    assert_unavailable(client.get("/v1/tenants"), "read-model-unavailable", own_postgres.port)
    assert_unavailable(client.get(f"/v1/tenants/{tenant}"), "read-model-unavailable", own_postgres.port)
    suspended = client.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "overdue"})
    # Authentication reads the caller's current roles first, so the store named is the first one touched.
    assert_unavailable(suspended, "-unavailable", own_postgres.port)
    onboarded = client.post("/v1/tenants", json={"slug": "beta", "display_name": "Beta"})  # checks the slug first
    assert_unavailable(onboarded, "-unavailable", own_postgres.port)
