"""Two `platform consumers` processes share the pipeline's work over the real NATS server, and every effect
happens exactly once: one normalization, one KPI build and one product version per run."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from interfaces.bootstrap import open_field_cipher, open_store
from interfaces.settings import Settings
from sample.retail import write_csv
from tests.e2e.test_cli import admin, run, start, stop, wait_until_up
from tests.e2e.test_cli import env as cli_env

pytestmark = pytest.mark.nats
env = cli_env
BATCHES = 5


@pytest.fixture
def nats_env(env: dict[str, str], nats_url: str, stream_name: str) -> dict[str, str]:
    return env | {
        "PLATFORM_NATS_URL": nats_url,
        "PLATFORM_NATS_STREAM": stream_name,
        "PLATFORM_NATS_SUBJECT_PREFIX": stream_name.lower(),
        "PLATFORM_ORCHESTRATOR": "off",
        "PLATFORM_LOG_LEVEL": "INFO",
    }


def wait_for(check, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.3)


def test_two_consumer_processes_share_the_work_and_do_each_effect_once(
    nats_env: dict[str, str], tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{nats_env['PLATFORM_PORT']}"
    server = start(["serve"], nats_env)
    processes: list[subprocess.Popen[str]] = [server]
    try:
        wait_until_up(base, server)
        processes += [start(["relay"], nats_env), start(["consumers"], nats_env), start(["consumers"], nats_env)]
        time.sleep(2)  # both consumer processes bound before the work arrives
        demo = run(["demo", "--rows", "400"], nats_env)
        assert demo.returncode == 0, demo.stderr
        tenant = re.search(r"\(([0-9a-f-]{36})\) onboarded", demo.stdout)
        assert tenant is not None
        for seed in range(BATCHES - 1):
            batch = write_csv(tmp_path / f"batch-{seed}.csv", 200, seed=100 + seed)
            sent = run(["ingest", str(batch), "--tenant", tenant[1], "--contract", "retail-sales"], nats_env)
            assert sent.returncode == 0, sent.stderr
        runs_url = f"{base}/v1/tenants/{tenant[1]}/runs"

        def all_done() -> bool:
            runs = httpx.get(runs_url, headers=admin(nats_env), timeout=10).json()["runs"]
            return len(runs) == BATCHES and all(r["status"] == "succeeded" for r in runs)

        wait_for(all_done)
    finally:
        printed = {id(process): stop(process) for process in reversed(processes)}

    settings = Settings.from_env(nats_env)
    cipher = open_field_cipher(settings.keys)
    store = open_store(settings.stores, cipher)
    try:
        events = store.read_all(0, 100_000)
        runs = [e for e in events if type(e.event).__name__ == "Ingested" and e.event.__module__ == "domain.pipeline"]
        assert len(runs) == BATCHES
        for ingested in runs:
            kinds = [type(r.event).__name__ for r in store.read_stream(UUID(str(ingested.stream_id)))]
            assert kinds == ["Ingested", "Normalized", "KpisBuilt", "Published"], kinds
        published = [e.event.version for e in events if type(e.event).__name__ == "VersionPublished"]
        assert sorted(published) == list(range(1, BATCHES + 1))
    finally:
        store.close()
        cipher.close()
    logs = [printed[id(p)] for p in processes[2:]]
    assert all("step(s) done" in log for log in logs), "both consumer processes did some of the work"


def test_a_consumer_killed_mid_work_loses_nothing_and_doubles_nothing(nats_env: dict[str, str], tmp_path: Path) -> None:
    nats_env = nats_env | {"PLATFORM_WORK_ACK_WAIT": "3"}
    base = f"http://127.0.0.1:{nats_env['PLATFORM_PORT']}"
    server = start(["serve"], nats_env)
    processes: list[subprocess.Popen[str]] = [server]
    try:
        wait_until_up(base, server)
        victim = start(["consumers"], nats_env)
        processes += [start(["relay"], nats_env), victim, start(["consumers"], nats_env)]
        time.sleep(2)
        demo = run(["demo", "--rows", "300"], nats_env)
        assert demo.returncode == 0, demo.stderr
        tenant = re.search(r"\(([0-9a-f-]{36})\) onboarded", demo.stdout)
        assert tenant is not None
        for seed in range(3):
            batch = write_csv(tmp_path / f"big-{seed}.csv", 20_000, seed=200 + seed)
            assert (
                run(["ingest", str(batch), "--tenant", tenant[1], "--contract", "retail-sales"], nats_env).returncode
                == 0
            )
        time.sleep(0.5)
        victim.kill()  # SIGKILL: no goodbye, messages it held are unacked
        victim.wait()
        runs_url = f"{base}/v1/tenants/{tenant[1]}/runs"

        def all_done() -> bool:
            runs = httpx.get(runs_url, headers=admin(nats_env), timeout=10).json()["runs"]
            return len(runs) == 4 and all(r["status"] == "succeeded" for r in runs)

        wait_for(all_done)
    finally:
        for process in reversed(processes):
            stop(process)  # the killed one too: its pipe is drained and closed
    settings = Settings.from_env(nats_env)
    cipher = open_field_cipher(settings.keys)
    store = open_store(settings.stores, cipher)
    try:
        events = store.read_all(0, 100_000)
        for ingested in (e for e in events if type(e.event).__name__ == "Ingested" and "pipeline" in e.topic):
            kinds = [type(r.event).__name__ for r in store.read_stream(UUID(str(ingested.stream_id)))]
            assert kinds == ["Ingested", "Normalized", "KpisBuilt", "Published"], kinds
        published = [e.event.version for e in events if type(e.event).__name__ == "VersionPublished"]
        assert sorted(published) == [1, 2, 3, 4]
    finally:
        store.close()
        cipher.close()


def test_nats_going_away_stops_no_command_and_consumers_catch_up_once_it_is_back(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Fault drill on a nats-server of the test's own: stopped while batches keep coming, then started again."""
    from tests.integration.test_nats_relay import OwnNatsServer, shutil

    binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/bin")
    if binary is None:
        pytest.skip("nats-server is not installed, so this drill cannot stop and restart one")
    own = OwnNatsServer(binary, tmp_path / "jetstream")
    own.start()
    drill = env | {
        "PLATFORM_NATS_URL": own.url,
        "PLATFORM_NATS_STREAM": "DRILL",
        "PLATFORM_NATS_SUBJECT_PREFIX": "drill",
        "PLATFORM_ORCHESTRATOR": "off",
        "PLATFORM_WORK_ACK_WAIT": "3",
    }
    base = f"http://127.0.0.1:{drill['PLATFORM_PORT']}"
    server = start(["serve"], drill)
    processes: list[subprocess.Popen[str]] = [server]
    try:
        wait_until_up(base, server)
        processes += [start(["relay"], drill), start(["consumers"], drill)]
        demo = run(["demo", "--rows", "200"], drill)
        assert demo.returncode == 0, demo.stderr
        tenant = re.search(r"\(([0-9a-f-]{36})\) onboarded", demo.stdout)
        assert tenant is not None
        own.stop()  # NATS goes away; commands keep succeeding
        for seed in range(2):
            batch = write_csv(tmp_path / f"outage-{seed}.csv", 100, seed=300 + seed)
            sent = run(["ingest", str(batch), "--tenant", tenant[1], "--contract", "retail-sales"], drill)
            assert sent.returncode == 0, sent.stderr
        time.sleep(1)
        own.start()  # back: the relay publishes what it missed, the consumers catch up
        runs_url = f"{base}/v1/tenants/{tenant[1]}/runs"

        def all_done() -> bool:
            runs = httpx.get(runs_url, headers=admin(drill), timeout=10).json()["runs"]
            return len(runs) == 3 and all(r["status"] == "succeeded" for r in runs)

        wait_for(all_done)
    finally:
        for process in reversed(processes):
            print(f"--- {process.args[-1]} ---", stop(process), sep="\n")  # pytest shows it when the test fails
        own.stop()
    settings = Settings.from_env(drill)
    cipher = open_field_cipher(settings.keys)
    store = open_store(settings.stores, cipher)
    try:
        published = [
            e.event.version for e in store.read_all(0, 100_000) if type(e.event).__name__ == "VersionPublished"
        ]
        assert sorted(published) == [1, 2, 3]
    finally:
        store.close()
        cipher.close()
