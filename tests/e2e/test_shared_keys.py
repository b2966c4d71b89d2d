"""Keys survive platform processes recreated from scratch: `platform serve` on PostgreSQL (event store, read models,
data keys) with the shared key files `platform keys init` made is stopped, its local folder (keys directory,
scratch) wiped, and a fresh API server and a fresh `platform orchestrator` worker are started with only the shared
configuration: sealed fields open, the export link verifies, tokens and API keys still work, and the worker masks
with the same salts. No process makes a key of its own, and a shared key file missing or malformed stops the start
with one line naming its setting."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sample.retail import write_csv
from tests.e2e.test_cli import free_port, run, start, stop, wait_until_up

pytestmark = [pytest.mark.postgres]
CORRECTED = ("O-00000001", 1)
"""The line the demo's batch sends again, corrected (another email): the later line wins there."""
GDP = "dataset=gdp&fields=order_id,line,customer_email&limit=1000"


@pytest.fixture
def shared(tmp_path: Path) -> dict[str, str]:
    """The shared key files, made once by `platform keys init`, as the settings it prints."""
    made = run(["keys", "init", "--dir", str(tmp_path / "common-keys")], {"PATH": "/usr/bin:/bin"})
    assert made.returncode == 0, made.stderr
    settings = dict(line.split("=", 1) for line in made.stdout.splitlines())
    assert set(settings) == {
        "PLATFORM_KEK_FILE",
        "PLATFORM_MASKING_KEY_FILE",
        "PLATFORM_FINGERPRINT_KEY_FILE",
        "PLATFORM_LINK_KEY_FILE",
        "PLATFORM_JWT_SIGNING_KEY_FILE",
        "PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE",
    }
    return settings


@pytest.fixture
def env(tmp_path: Path, shared: dict[str, str], pg_event_store_url: str, pg_database: str) -> dict[str, str]:
    """Everything shared (PostgreSQL, the dataset store, the key files) plus a local folder of the process's own."""
    local = tmp_path / "local"
    return {
        "PATH": "/usr/bin:/bin",
        "PLATFORM_EVENT_STORE": "postgres",
        "PLATFORM_EVENT_STORE_URL": pg_event_store_url,
        "PLATFORM_READ_MODEL_URL": pg_database,
        "PLATFORM_KEYS_URL": pg_database,
        "PLATFORM_DATASETS": str(tmp_path / "datasets"),
        "PLATFORM_KEYS_DIR": str(local / "keys"),
        "PLATFORM_SCRATCH_DIR": str(local / "scratch"),
        **shared,
    }


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[list[subprocess.Popen[str]]]:
    """The platform processes a test starts, each stopped at the end."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            stop(process)


def serve(env: dict[str, str], served: list[subprocess.Popen[str]]) -> str:
    """Starts `platform serve` on a free port and returns its base URL once it answers."""
    port = free_port()
    served.append(start(["serve"], {**env, "PLATFORM_PORT": str(port)}))
    base = f"http://127.0.0.1:{port}"
    wait_until_up(base, served[-1])
    return base


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token(env: dict[str, str], role: str, *tenant: str) -> str:
    made = run(["token", "--role", role, *(["--tenant", tenant[0]] if tenant else [])], env)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def masked_emails(base: str, tenant: str, version: int, auth: dict[str, str]) -> dict[tuple[str, int], str]:
    """The masked email of each sales line (order, line) of a published version's golden data points."""
    path = f"{base}/v1/tenants/{tenant}/products/retail-sales/versions/{version}/rows?{GDP}"
    rows = httpx.get(path, headers=auth, timeout=30)
    assert rows.status_code == 200, rows.text
    return {
        (row["order_id"], row["line"]): row["customer_email"] for row in rows.json()["rows"] if row["customer_email"]
    }


def exported(base: str, tenant: str, auth: dict[str, str]) -> str:
    """Requests a CSV export of the published golden data points; returns its download link once it is built."""
    body = {"product": "retail-sales", "version": 1, "dataset": "gdp"}
    asked = httpx.post(f"{base}/v1/tenants/{tenant}/exports", json=body, headers=auth, timeout=10)
    assert asked.status_code == 202, asked.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = httpx.get(f"{base}{asked.json()['location']}", headers=auth, timeout=10)
        if state.status_code == 200 and state.json()["status"] == "completed":
            return str(state.json()["download_url"])
        assert state.status_code in (200, 404), state.text
        assert state.json().get("status") != "failed", state.text
        time.sleep(0.2)
    pytest.fail("the export was not built within 60 s")


def api_key_of_a_new_service(base: str, tenant: str, auth: dict[str, str]) -> str:
    principals = f"{base}/v1/tenants/{tenant}/principals"
    body = {"kind": "service", "subject": "nightly-loader", "display_name": "Nightly Loader"}
    principal = httpx.post(principals, json=body, headers=auth, timeout=10).json()["principal_id"]
    granted = httpx.post(f"{principals}/{principal}/roles", json={"role": "service"}, headers=auth, timeout=10)
    assert granted.status_code == 202, granted.text
    issued = httpx.post(f"{principals}/{principal}/api-keys", headers=auth, timeout=10)
    assert issued.status_code == 201, issued.text
    return str(issued.json()["api_key"])


def display_names(base: str, tenant: str, auth: dict[str, str]) -> set[str]:
    listed = httpx.get(f"{base}/v1/tenants/{tenant}/principals", headers=auth, timeout=10)
    assert listed.status_code == 200, listed.text
    return {principal["display_name"] for principal in listed.json()}


def test_keys_survive_processes_recreated_with_only_the_shared_configuration(
    env: dict[str, str], served: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    admin = bearer(Path(env["PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE"]).read_text().strip())
    first = serve(env, served)
    demo = run(["demo", "--url", first, "--rows", "200"], env)
    assert demo.returncode == 0, demo.stderr
    tenant = re.search(r"\(([0-9a-f-]{36})\) onboarded", demo.stdout)[1]  # type: ignore[index]
    engineer = bearer(token(env, "data-engineer", tenant))
    service = {"X-API-Key": api_key_of_a_new_service(first, tenant, admin)}
    link = exported(first, tenant, engineer)
    downloaded = httpx.get(f"{first}{link}", headers=engineer, timeout=30)
    assert downloaded.status_code == 200, downloaded.text
    masked = masked_emails(first, tenant, 1, engineer)
    names = display_names(first, tenant, admin)
    assert {"Dana Engineer", "Sam Steward", "Nightly Loader"} <= names
    stop(served.pop())

    shutil.rmtree(tmp_path / "local")  # recreated from scratch: the API server, and a worker that publishes
    again = serve(env | {"PLATFORM_ORCHESTRATOR": "off"}, served)
    served.append(start(["orchestrator"], env))
    for auth in (admin, engineer, service):  # the bootstrap admin key, the token signed before, an API key
        assert httpx.get(f"{again}/v1/tenants/{tenant}", headers=auth, timeout=10).status_code == 200
    assert display_names(again, tenant, admin) == names  # sealed personal data opens with the shared keyring
    assert httpx.get(f"{again}{link}", headers=engineer, timeout=30).content == downloaded.content
    same_lines = write_csv(tmp_path / "again.csv", 60)  # the first 60 lines of the demo's batch: the same emails
    ingested = run(
        ["ingest", str(same_lines), "--tenant", tenant, "--contract", "retail-sales", "--wait", "--url", again], env
    )
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    remasked = masked_emails(again, tenant, 2, engineer)
    remasked.pop(CORRECTED)
    assert len(remasked) > 50
    assert remasked == {line: masked[line] for line in remasked}  # the worker's salts are the first server's
    assert not (tmp_path / "local" / "keys").exists()  # no process made a key of its own


BAD_FILES = [
    ("PLATFORM_KEK_FILE", "links.key", "is not a keyring file (`platform keys init` makes one)"),
    ("PLATFORM_MASKING_KEY_FILE", "kek.json", "does not hold a 32-byte secret"),
    ("PLATFORM_LINK_KEY_FILE", "missing.key", "names no file"),
    ("PLATFORM_JWT_SIGNING_KEY_FILE", "masking.key", "does not hold an Ed25519 private key (PEM)"),
    ("PLATFORM_BOOTSTRAP_ADMIN_KEY_FILE", "fingerprints.key", "does not hold an API key (gdp_<prefix>_<secret>;"),
]


@pytest.mark.parametrize(("variable", "file", "reason"), BAD_FILES, ids=[bad[0] for bad in BAD_FILES])
def test_a_shared_key_file_missing_or_malformed_stops_the_start_naming_its_setting(
    shared: dict[str, str], tmp_path: Path, variable: str, file: str, reason: str
) -> None:
    named = str(tmp_path / "common-keys" / file)
    local = tmp_path / "local"
    env = {
        "PATH": "/usr/bin:/bin",
        "PLATFORM_EVENT_STORE_URL": str(local / "events.db"),
        "PLATFORM_READ_MODEL_URL": f"sqlite:///{local}/readmodels.db",
        "PLATFORM_KEYS_DIR": str(local / "keys"),
        "PLATFORM_PORT": str(free_port()),
        **shared,
        variable: named,
    }
    result = run(["serve"], env)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"platform serve: {variable}={named!r} {reason}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not local.exists()  # stopped before anything was made


def test_keys_init_makes_the_shared_keys_once(shared: dict[str, str], tmp_path: Path) -> None:
    directory = Path(shared["PLATFORM_KEK_FILE"]).parent
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    again = run(["keys", "init", "--dir", str(directory)], {"PATH": "/usr/bin:/bin"})
    assert again.returncode == 2
    assert again.stderr.strip().endswith("the shared keys are made once (remove them to start over)")
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before
    assert {oct(path.stat().st_mode & 0o777) for path in directory.iterdir()} == {"0o600"}
    assert sorted(before) == sorted(Path(path).name for path in shared.values())
