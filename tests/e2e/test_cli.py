"""The `platform` command for real: processes, files, a TCP port and HTTP."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.keys import open_envelope_cipher
from domain.keys import KEY_ENCRYPTION_KEYS_ID
from eventstore.adapters import open_event_store

PLATFORM = [sys.executable, "-m", "interfaces.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PLATFORM_EVENT_STORE_URL": str(tmp_path / "events.db"),
        "PLATFORM_READ_MODEL_URL": f"sqlite:///{tmp_path}/readmodels.db",
        "PLATFORM_PORT": str(free_port()),
        "PLATFORM_KEYS_DIR": str(tmp_path / "keys"),
        "PLATFORM_DATASETS": str(tmp_path / "datasets"),
        "PLATFORM_SCRATCH_DIR": str(tmp_path / "scratch"),
    }


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*PLATFORM, *args], env=env, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> str:
    """Stops the process and returns what it printed on stderr, whose pipe is then closed (warnings are errors)."""
    process.send_signal(signal.SIGTERM)
    try:
        _, printed = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        _, printed = process.communicate()
    return printed or ""


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[str]:
    process = start(["serve"], env)
    base = f"http://127.0.0.1:{env['PLATFORM_PORT']}"
    try:
        wait_until_up(base, process)
        yield base
    finally:
        stop(process)


def admin(env: dict[str, str]) -> dict[str, str]:
    """A platform admin's key, as the first start wrote it for its operator."""
    key_file = Path(env["PLATFORM_KEYS_DIR"]) / "bootstrap-admin.key"
    return {"Authorization": f"Bearer {key_file.read_text().strip()}"}


def wait_until_up(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60  # a loaded 2-core machine starts a process slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("server did not come up within 60 s")


def onboard_and_read(base: str, slug: str, auth: dict[str, str]) -> dict:
    body = {"slug": slug, "display_name": slug.title()}
    created = httpx.post(f"{base}/v1/tenants", json=body, headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    body = created.json()
    headers = {"X-Consistent-Position": str(body["position"]), **auth}
    view = httpx.get(f"{base}/v1/tenants/{body['tenant_id']}", headers=headers, timeout=10)
    assert view.status_code == 200, view.text
    return view.json()


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLATFORM, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_serve_answers_over_http_and_replay_rebuilds_equal_read_models(server: str, env: dict[str, str]) -> None:
    for slug in ("north", "south", "east"):
        assert onboard_and_read(server, slug, admin(env))["status"] == "active"
    replayed = run(["replay"], env)
    assert replayed.returncode == 0, replayed.stderr
    assert "tenant_directory: up to position 6: equal" in replayed.stdout
    assert "access: up to position 6: equal" in replayed.stdout


def test_read_models_run_in_a_worker_process_of_their_own(env: dict[str, str]) -> None:
    env = {**env, "PLATFORM_PROJECTIONS": "off"}
    server, worker = start(["serve"], env), start(["projections"], env)
    try:
        base = f"http://127.0.0.1:{env['PLATFORM_PORT']}"
        wait_until_up(base, server)
        deadline = time.monotonic() + 10
        while not (Path(env["PLATFORM_KEYS_DIR"]) / "bootstrap-admin.key").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        token = run(["token", "--role", "platform-admin"], env)
        assert token.returncode == 0, token.stderr
        auth = {"Authorization": f"Bearer {token.stdout.strip()}"}
        for _ in range(50):  # the worker process needs a moment to see the new principal
            if httpx.get(f"{base}/v1/tenants", headers=auth, timeout=5).status_code == 200:
                break
            time.sleep(0.1)
        assert onboard_and_read(base, "worked", auth)["slug"] == "worked"
    finally:
        for process in (server, worker):
            print(f"--- {process.args[-1]} ---", stop(process), sep="\n")  # pytest shows it when the test fails


def test_replay_refuses_a_database_that_is_not_fresh(server: str, env: dict[str, str]) -> None:
    onboard_and_read(server, "west", admin(env))
    result = run(["replay", "--into", env["PLATFORM_READ_MODEL_URL"]], env)
    assert result.returncode == 2
    assert "fresh database" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_settings_are_one_line_and_a_non_zero_exit(env: dict[str, str]) -> None:
    result = run(["version"], {**env, "PLATFORM_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.strip() == "platform version: PLATFORM_PORT='eighty' is not a valid int"
    unknown = run(["replay"], {**env, "PLATFORM_EVENT_STORE": "oracle"})
    assert unknown.returncode == 2
    assert "unknown event store 'oracle'" in unknown.stderr


def test_version_names_the_event_store(env: dict[str, str]) -> None:
    result = run(["version"], env)
    assert result.returncode == 0
    assert result.stdout.startswith("platform 0.1.0 (event store: sqlite)")


def test_first_start_prints_a_bootstrap_admin_key_once_into_an_owner_only_file(env: dict[str, str]) -> None:
    for attempt in range(2):
        process = start(["serve"], env)
        base = f"http://127.0.0.1:{env['PLATFORM_PORT']}"
        try:
            wait_until_up(base, process)
        finally:
            printed = stop(process)
        key_file = Path(env["PLATFORM_KEYS_DIR"]) / "bootstrap-admin.key"
        assert (key_file.read_text().strip() in printed) == (attempt == 0)
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert oct(key_file.parent.stat().st_mode & 0o777) == "0o700"


def test_token_refuses_a_tenant_that_does_not_exist(env: dict[str, str]) -> None:
    result = run(["token", "--role", "analyst", "--tenant", "9f0c1c1e-0000-4000-8000-000000000000"], env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("platform token: no such tenant")


def test_a_development_token_is_accepted_at_once_by_a_running_server(env: dict[str, str]) -> None:
    # Nothing feeds the server's read models here: only the token command itself can make its principal known.
    env = {**env, "PLATFORM_PROJECTIONS": "off"}
    process = start(["serve"], env)
    try:
        base = f"http://127.0.0.1:{env['PLATFORM_PORT']}"
        wait_until_up(base, process)
        token = run(["token", "--role", "platform-admin"], env)
        assert token.returncode == 0, token.stderr
        auth = {"Authorization": f"Bearer {token.stdout.strip()}"}
        answer = httpx.get(f"{base}/v1/tenants", headers=auth, timeout=10)
        assert answer.status_code == 200, answer.text
    finally:
        stop(process)


def test_keys_rotate_then_retire_the_old_key_encryption_key(server: str, env: dict[str, str]) -> None:
    onboard_and_read(server, "keyed", admin(env))
    rotated = run(["keys", "rotate"], env)
    assert rotated.returncode == 0, rotated.stderr
    current, previous = re.match(r"key-encryption key (\S+) is current \(was (\S+)\)", rotated.stdout).groups()
    assert run(["keys", "retire", current], env).returncode == 2
    retired = run(["keys", "retire", previous], env)
    assert retired.returncode == 0, retired.stderr
    assert onboard_and_read(server, "still-readable", admin(env))["slug"] == "still-readable"
    assert run(["replay"], env).returncode == 0
    rewrapped = int(re.search(r"; (\d+) data keys re-wrapped", rotated.stdout).group(1))
    assert rewrapped >= 1  # the platform's own data key at least
    assert_key_management_is_evidence(server, env, current, previous, rewrapped)


def assert_key_management_is_evidence(
    server: str, env: dict[str, str], current: str, previous: str, rewrapped: int
) -> None:
    """The rotation and the retirement are events of the platform's own stream, with no key material, each a leaf
    of the evidence ledger."""
    cipher = open_envelope_cipher(env["PLATFORM_KEYS_DIR"])
    store = open_event_store("sqlite", env["PLATFORM_EVENT_STORE_URL"], cipher=cipher)
    try:
        rotated, retired = store.read_stream(KEY_ENCRYPTION_KEYS_ID)[1:]
    finally:
        store.close()
        cipher.close()
    assert rotated.type == "KeyEncryptionKeysRotated"
    assert rotated.data == {"kek_id": current, "previous": previous, "rewrapped": rewrapped}
    assert (retired.type, retired.data) == ("KeyEncryptionKeysRetired", {"kek_id": previous, "rewrapped": 0})
    assert {rotated.metadata.tenant_id, retired.metadata.tenant_id} == {None}
    assert rotated.metadata.actor.startswith("platform-cli:")
    keyring = json.loads((Path(env["PLATFORM_KEYS_DIR"]) / "kek.json").read_text())
    stored = (Path(env["PLATFORM_EVENT_STORE_URL"])).read_bytes()
    for entry in keyring["keys"].values():
        assert entry["key"].encode() not in stored
        assert base64.b64decode(entry["key"]) not in stored
    for recorded in (rotated, retired):
        proof = wait_for_leaf(server, env, recorded.event_id)
        assert proof["leaf_index"] >= 0


def wait_for_leaf(server: str, env: dict[str, str], event_id: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        signed = httpx.post(f"{server}/v1/ledger/checkpoints", headers=admin(env), timeout=10)
        assert signed.status_code == 201, signed.text
        found = httpx.get(f"{server}/v1/ledger/proofs/inclusion", params={"event_id": event_id}, headers=admin(env))
        if found.status_code == 200 or time.monotonic() > deadline:
            assert found.status_code == 200, found.text
            return found.json()
        time.sleep(0.2)


def test_demo_runs_the_whole_flow_and_ingest_adds_a_batch(server: str, env: dict[str, str], tmp_path: Path) -> None:
    demo = run(["demo", "--url", server, "--rows", "2000"], env)
    assert demo.returncode == 0, demo.stderr
    assert "approved by the steward" in demo.stdout
    assert "published retail-sales v1" in demo.stdout
    assert re.search(r"daily_revenue\s+2026-\d\d-\d\d country=\w\w", demo.stdout), demo.stdout
    tenant = re.search(r"\(([0-9a-f-]{36})\) onboarded", demo.stdout)
    assert tenant is not None
    from sample.retail import write_csv

    more = write_csv(tmp_path / "more.csv", 500, seed=99)
    ingested = run(["ingest", str(more), "--tenant", tenant[1], "--contract", "retail-sales", "--wait"], env)
    assert ingested.returncode == 0, ingested.stderr
    assert "landed as run" in ingested.stdout
    assert re.search(r"publish\s+succeeded", ingested.stdout), ingested.stdout
    again = run(["ingest", str(more), "--tenant", tenant[1], "--contract", "retail-sales"], env)
    assert "already landed as run" in again.stdout
    templates = run(["actions", "templates", "list", "--tenant", tenant[1]], env)
    assert templates.returncode == 0, templates.stderr
    assert '"templates": []' in templates.stdout or templates.stdout.strip().startswith(("[", "{"))
    wrong = run(["actions", "runs", "activate", "x", "--tenant", tenant[1]], env)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "platform actions: actions runs takes one of: list, show, approve, reject"


def test_ingest_errors_are_one_line_and_a_non_zero_exit(server: str, env: dict[str, str], tmp_path: Path) -> None:
    missing = run(["ingest", str(tmp_path / "nope.csv"), "--tenant", "x", "--contract", "y"], env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"platform ingest: no such file: {tmp_path / 'nope.csv'}"
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    tenant = onboard_and_read(server, "no-contracts", admin(env))["tenant_id"]
    refused = run(["ingest", str(data), "--tenant", tenant, "--contract", "retail-sales", "--url", server], env)
    assert refused.returncode == 2
    assert refused.stderr.strip() == "platform ingest: HTTP 404: no such contract: retail-sales"


def test_dead_letters_are_listed_shown_retried_and_discarded_from_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    """The server leaves runs to `platform orchestrator` processes; a batch altered after landing dead-letters."""
    env = env | {"PLATFORM_ORCHESTRATOR": "off", "PLATFORM_PIPELINE_BACKOFF": "0.05"}
    base = f"http://127.0.0.1:{env['PLATFORM_PORT']}"
    server, orchestrator = start(["serve"], env), start(["orchestrator"], env)
    try:
        wait_until_up(base, server)
        demo = run(["demo", "--rows", "300"], env)
        assert demo.returncode == 0, demo.stderr
        stop(orchestrator)
        tenant = re.search(r"\(([0-9a-f-]{36})\) onboarded", demo.stdout)
        assert tenant is not None
        from sample.retail import write_csv

        batch = write_csv(tmp_path / "late.csv", 50, seed=5)
        assert run(["ingest", str(batch), "--tenant", tenant[1], "--contract", "retail-sales"], env).returncode == 0
        raw = [p for p in Path(env["PLATFORM_DATASETS"]).rglob("*.csv") if "raw" in p.parts]
        landed = max(raw, key=lambda p: p.stat().st_mtime)  # the batch just ingested, sealed at rest
        landed.chmod(0o640)
        sealed = bytearray(landed.read_bytes())
        sealed[len(sealed) // 2] ^= 0x01
        landed.write_bytes(bytes(sealed))
        orchestrator = start(["orchestrator"], env)
        listed = ""
        for _ in range(100):
            listed = run(["dlq", "list", "--status", "open"], env).stdout
            if "normalize" in listed:
                break
            time.sleep(0.2)
        assert re.search(r"open\s+pipeline\s+normalize\s+3 attempts", listed), listed
        letter = listed.split()[0]
        shown = run(["dlq", "show", letter], env)
        assert "cause_type: PipelineRun.Ingested" in shown.stdout
        no_reason = run(["dlq", "discard", letter], env)
        assert no_reason.returncode == 2
        assert no_reason.stderr.strip() == "platform dlq: dlq discard needs --reason"
        discarded = run(["dlq", "discard", letter, "--reason", "the sender will resend"], env)
        assert discarded.returncode == 0, discarded.stderr
        retried = run(["dlq", "retry", letter], env)
        assert retried.returncode == 2
        assert "is discarded" in retried.stderr
    finally:
        stop(orchestrator)
        stop(server)
