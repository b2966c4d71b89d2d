"""After erasure, nothing the platform keeps holds the tenant's personal values in clear.

A real platform (`platform serve` and `platform relay` as processes, on SQLite files or on a PostgreSQL database of
its own) takes a tenant's people (emails as subjects, names as display names) and a batch of sales lines with
customer emails through the pipeline, an export and the NATS relay. The tenant is offboarded with erasure, the
key-encryption key is rotated and the old ones retired. Then every file under the platform's data folders, every
row and every page (dead tuples included, through ``pageinspect``) of its PostgreSQL database and every message of
its JetStream stream is searched for those values in clear.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
import pytest

from interfaces.bootstrap import open_field_cipher, open_store
from interfaces.settings import Settings
from sample.retail import COLUMNS, CONTRACT, lines
from tests.conftest import NATS_URL, POSTGRES_URL
from tests.e2e.test_cli import admin, free_port, run, stop, wait_until_up

pytestmark = pytest.mark.nats
PLATFORM = [sys.executable, "-m", "interfaces.cli"]
ROWS = 40


@dataclass
class Erased:
    """What the scenario left behind, and the personal values to look for."""

    backend: str
    env: dict[str, str]
    data: Path
    personal: list[str]
    slug: str
    erasure_answer: dict[str, Any]
    keys_output: list[str]
    database: str | None = None
    stream: str = ""
    kek_events: list[Any] = field(default_factory=list)

    def needles(self) -> list[bytes]:
        return [value.encode() for value in self.personal]


def found_in(haystack: bytes, needles: list[bytes]) -> list[str]:
    return [needle.decode() for needle in needles if needle in haystack]


def files_under(folder: Path, *, skip: Path | None = None) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and (skip is None or skip not in path.parents):
            yield path


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.3)


def start_logged(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        return subprocess.Popen([*PLATFORM, *args], env=env, stderr=out, stdout=out, text=True)


class Scenario:
    """A tenant with people, a batch of customers' sales lines, a published product, an export, all relayed."""

    def __init__(self, base: str, env: dict[str, str], data: Path) -> None:
        self.base, self.env, self.data = base, env, data
        self.tag = secrets.token_hex(4)
        self.slug = f"scan-{self.tag}"
        self.admin = admin(env)
        self.personal: list[str] = []

    def call(self, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.base}{path}", headers=headers, timeout=60, **kwargs)

    def token(self, role: str) -> dict[str, str]:
        issued = run(["token", "--role", role, "--tenant", self.tenant], self.env)
        assert issued.returncode == 0, issued.stderr
        return {"Authorization": f"Bearer {issued.stdout.strip()}"}

    def onboard(self) -> None:
        body = {"slug": self.slug, "display_name": f"Scan {self.tag} GmbH", "plan": "standard"}
        created = self.call("POST", "/v1/tenants", self.admin, json=body)
        assert created.status_code == 201, created.text
        self.tenant = created.json()["tenant_id"]
        features = {"features": ["ingestion", "exports"], "quotas": {}}
        assert self.call("POST", f"/v1/tenants/{self.tenant}/entitlements", self.admin, json=features).is_success

    def people(self) -> None:
        """Two persons (emails as subjects, names as display names) and a service named after a person."""
        owner = self.token("tenant-admin")
        self.tenant_admin = owner
        for kind, subject, name, role in (
            ("person", f"ada.lovelace.{self.tag}@example.org", f"Ada Lovelace {self.tag}", "analyst"),
            ("person", f"grace.hopper.{self.tag}@example.org", f"Grace Hopper {self.tag}", "data-steward"),
            ("service", f"etl-of-alan-turing-{self.tag}", f"Alan Turing's loader {self.tag}", "service"),
        ):
            body = {"kind": kind, "subject": subject, "display_name": name}
            registered = self.call("POST", f"/v1/tenants/{self.tenant}/principals", owner, json=body)
            assert registered.status_code == 201, registered.text
            principal = registered.json()["principal_id"]
            granted = self.call(
                "POST", f"/v1/tenants/{self.tenant}/principals/{principal}/roles", owner, json={"role": role}
            )
            assert granted.is_success, granted.text
            self.personal += [subject, name]
            self.principal = principal

    def contract(self) -> None:
        engineer, steward = self.token("data-engineer"), self.token("data-steward")
        self.engineer = engineer
        path = f"/v1/tenants/{self.tenant}/contracts"
        yaml_headers = {**engineer, "content-type": "application/yaml"}
        assert self.call("POST", path, yaml_headers, content=CONTRACT.read_bytes()).status_code == 201
        version = {"version": "1.0.0"}
        assert self.call("POST", f"{path}/retail-sales/propose", engineer, json=version).is_success
        approved = self.call("POST", f"{path}/retail-sales/approve", steward, json=version)
        assert approved.is_success, approved.text

    def batch(self) -> None:
        """Sales lines whose customer emails are all this scenario's own."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for number, line in enumerate(lines(ROWS, seed=11)):
            line[COLUMNS.index("customer_email")] = f"customer{number}.{self.tag}@shopper.example"
            self.personal.append(line[COLUMNS.index("customer_email")])
            writer.writerow(line)
        headers = {**self.engineer, "content-type": "text/csv"}
        path = f"/v1/tenants/{self.tenant}/contracts/retail-sales/batches"
        landed = self.call("POST", path, headers, content=out.getvalue().encode())
        assert landed.status_code == 202, landed.text
        location = landed.json()["location"]

        def finished() -> dict[str, Any] | None:
            found = self.call("GET", location, self.engineer).json()
            return found if found["status"] in ("succeeded", "failed", "dead_lettered") else None

        assert wait_for("the run", finished)["status"] == "succeeded"
        rows = self.call(
            "GET",
            f"/v1/tenants/{self.tenant}/products/retail-sales/versions/1/rows",
            self.tenant_admin,
            params={"dataset": "gdp", "fields": "order_id,customer_email", "limit": 1000},
        )
        assert rows.status_code == 200, rows.text
        served = {row["customer_email"] for row in rows.json()["rows"]}
        assert served & set(self.personal)  # the values exist and are served in clear before the erasure

    def export(self) -> None:
        body = {"product": "retail-sales", "version": 1, "format": "csv", "dataset": "gdp"}
        requested = self.call("POST", f"/v1/tenants/{self.tenant}/exports", self.tenant_admin, json=body)
        assert requested.status_code == 202, requested.text
        location = f"/v1/tenants/{self.tenant}/exports/{requested.json()['export_id']}"

        def completed() -> dict[str, Any] | None:
            found = self.call("GET", location, self.tenant_admin).json()
            return found if found["status"] in ("completed", "failed") else None

        done = wait_for("the export", completed)
        assert done["status"] == "completed", done
        download = self.call("GET", done["download_url"], self.tenant_admin)
        assert download.status_code == 200, download.text

    def erase(self) -> dict[str, Any]:
        body = {"reason": "right to erasure", "erase": True}
        answer = self.call("POST", f"/v1/tenants/{self.tenant}/offboard", self.admin, json=body)
        assert answer.status_code == 202, answer.text
        read = {**self.admin, "X-Consistent-Position": str(answer.json()["position"])}
        principal = self.call("GET", f"/v1/tenants/{self.tenant}/principals/{self.principal}", read)
        assert principal.status_code == 200, principal.text
        assert (principal.json()["subject"], principal.json()["display_name"]) == ("[erased]", "[erased]")
        return dict(answer.json())


def rotate_and_retire(env: dict[str, str]) -> list[str]:
    rotated = run(["keys", "rotate"], env)
    assert rotated.returncode == 0, rotated.stderr
    outputs = [rotated.stdout]
    listed = re.search(r"^retire next: (.+)$", rotated.stdout, re.MULTILINE)
    assert listed is not None, rotated.stdout
    for kek_id in listed.group(1).split():
        retired = run(["keys", "retire", kek_id], env)
        assert retired.returncode == 0, retired.stderr
        outputs.append(retired.stdout)
    return outputs


def stream_messages(stream: str) -> list[bytes]:
    """Every message of the stream through the JetStream API: headers and data."""

    async def read() -> list[bytes]:
        connection = await nats.connect(NATS_URL)
        try:
            js = connection.jetstream()
            state = (await js.stream_info(stream)).state
            found = []
            for sequence in range(state.first_seq, state.last_seq + 1):
                message = await js.get_msg(stream, sequence)
                found.append(repr(message.headers).encode() + (message.data or b""))
            return found
        finally:
            await connection.close()

    return asyncio.run(read())


def delete_stream(stream: str) -> None:
    async def delete() -> None:
        connection = await nats.connect(NATS_URL)
        try:
            await connection.jetstream().delete_stream(stream)
        except Exception:
            pass
        finally:
            await connection.close()

    asyncio.run(delete())


def log_events(env: dict[str, str]) -> list[Any]:
    settings = Settings.from_env(env)
    cipher = open_field_cipher(settings.keys)
    store = open_store(settings.stores, cipher)
    try:
        return list(store.read_all(0, 1_000_000))
    finally:
        store.close()
        cipher.close()


def relayed_all(env: dict[str, str], stream: str) -> bool:
    return len(stream_messages(stream)) >= len(log_events(env))


def platform_env(backend: str, data: Path, stream: str, database: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PLATFORM_EVENT_STORE_URL": str(data / "events.db"),
        "PLATFORM_READ_MODEL_URL": f"sqlite:///{data}/readmodels.db",
        "PLATFORM_PORT": str(free_port()),
        "PLATFORM_KEYS_DIR": str(data / "keys"),
        "PLATFORM_DATASETS": str(data / "datasets"),
        "PLATFORM_SCRATCH_DIR": str(data / "scratch"),
        "PLATFORM_NATS_URL": NATS_URL,
        "PLATFORM_NATS_STREAM": stream,
        "PLATFORM_NATS_SUBJECT_PREFIX": stream.lower(),
        "PLATFORM_LOG_LEVEL": "DEBUG",
    }
    if database is not None:
        env |= {
            "PLATFORM_EVENT_STORE": "postgres",
            "PLATFORM_EVENT_STORE_URL": f"{database}?schema=platform",
            "PLATFORM_READ_MODEL_URL": database,
        }
    return env


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def erased(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Erased]:
    backend = request.param
    data = tmp_path_factory.mktemp(f"erasure-{backend}") / "var"
    stream = f"T_{uuid.uuid4().hex[:12].upper()}"
    database = create_database() if backend == "postgres" else None
    env = platform_env(backend, data, stream, database)
    base = f"http://127.0.0.1:{env['PLATFORM_PORT']}"
    server = start_logged(["serve"], env, data / "logs" / "serve.log")
    relay: subprocess.Popen[str] | None = None
    try:
        wait_until_up(base, server)
        relay = start_logged(["relay"], env, data / "logs" / "relay.log")
        scenario = Scenario(base, env, data)
        scenario.onboard()
        scenario.people()
        scenario.contract()
        scenario.batch()
        scenario.export()
        answer = scenario.erase()
        keys_output = rotate_and_retire(env)
        wait_for("the relay", lambda: relayed_all(env, stream))
    finally:
        for process in (relay, server):
            if process is not None and process.poll() is None:
                stop(process)
    kek_events = [e for e in log_events(env) if e.type.startswith("KeyEncryptionKeys") or e.type == "TenantDataErased"]
    yield Erased(
        backend, env, data, scenario.personal, scenario.slug, answer, keys_output, database, stream, kek_events
    )
    delete_stream(stream)
    if database is not None:
        drop_database(database)


def create_database() -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_url = POSTGRES_URL.split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    admin_url = POSTGRES_URL.split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def test_the_scan_sees_what_is_there(erased: Erased) -> None:
    """The scanners find what is stored in clear (the tenant's slug), so an empty finding means something."""
    slug = [erased.slug.encode()]
    assert found_in(b"".join(stream_messages(erased.stream)), slug)
    if erased.database is None:
        assert found_in((erased.data / "events.db").read_bytes(), slug)
    else:
        assert found_in(b"".join(postgres_pages(erased.database)), slug)
        assert found_in("\n".join(postgres_rows(erased.database)).encode(), slug)


def test_no_file_of_the_platform_holds_a_personal_value_in_clear(erased: Erased) -> None:
    """Event store, read models (free pages included), keys, scratch and logs: everything but the dataset store."""
    scanned = list(files_under(erased.data, skip=erased.data / "datasets"))
    assert {p.name for p in scanned} >= {"kek.json", "keys.db", "serve.log", "relay.log"}
    if erased.database is None:
        assert {p.name for p in scanned} >= {"events.db", "readmodels.db"}
    leaks = {str(p.relative_to(erased.data)): found_in(p.read_bytes(), erased.needles()) for p in scanned}
    assert {path: values for path, values in leaks.items() if values} == {}


def test_no_dataset_file_holds_a_personal_value_in_clear(erased: Erased) -> None:
    """Raw batches, golden data, KPIs, published versions, exports and blobs of the dataset store."""
    scanned = list(files_under(erased.data / "datasets"))
    assert scanned
    leaks = {str(p.relative_to(erased.data)): found_in(p.read_bytes(), erased.needles()) for p in scanned}
    assert {path: values for path, values in leaks.items() if values} == {}


def test_no_message_of_the_nats_stream_holds_a_personal_value_in_clear(erased: Erased) -> None:
    messages = stream_messages(erased.stream)
    assert len(messages) >= len(log_events(erased.env))
    assert [found_in(m, erased.needles()) for m in messages if found_in(m, erased.needles())] == []


def postgres_rows(database: str) -> list[str]:
    """Every row of every table of the database's own schemas, as text."""
    with psycopg.connect(database) as connection:
        tables = connection.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return [row[0] for (table,) in tables for row in connection.execute(f"SELECT t::text FROM {table} t")]


def postgres_pages(database: str) -> list[bytes]:
    """Every page of every table, TOAST table and index of the database's own schemas, read raw through
    ``pageinspect``: live rows, dead tuples not yet vacuumed, and index entries."""
    with psycopg.connect(database, autocommit=True) as connection:
        available = connection.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pageinspect'").fetchone()
        if available is None:
            pytest.skip("the pageinspect extension is not installed on this PostgreSQL server")
        connection.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        relations = connection.execute(
            "SELECT c.oid::regclass::text, pg_relation_size(c.oid) / current_setting('block_size')::int"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 't', 'i', 'm') AND c.relpersistence = 'p'"
            " AND (n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') OR c.oid IN ("
            "   SELECT reltoastrelid FROM pg_class WHERE reltoastrelid <> 0"
            "   AND relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)))"
        ).fetchall()
        pages = []
        for relation, blocks in relations:
            for block in range(int(blocks)):
                pages.append(bytes(connection.execute("SELECT get_raw_page(%s, %s)", (relation, block)).fetchone()[0]))
        return pages


def test_no_row_or_page_of_the_postgres_database_holds_a_personal_value_in_clear(erased: Erased) -> None:
    if erased.database is None:
        pytest.skip("the platform ran on SQLite files (scanned as files)")
    rows = "\n".join(postgres_rows(erased.database)).encode()
    assert found_in(rows, erased.needles()) == []
    pages = postgres_pages(erased.database)
    assert [found_in(page, erased.needles()) for page in pages if found_in(page, erased.needles())] == []


def test_the_erasure_says_how_it_is_completed_and_key_management_left_evidence(erased: Erased) -> None:
    assert "platform keys rotate" in erased.erasure_answer["erasure"]
    assert "platform keys retire" in erased.erasure_answer["erasure"]
    kinds = [e.type for e in erased.kek_events]
    assert kinds[:3] == ["TenantDataErased", "KeyEncryptionKeysTracked", "KeyEncryptionKeysRotated"]
    assert erased.kek_events[0].data["data_key_destroyed"] is True
    assert erased.kek_events[0].metadata.tenant_id is not None
    assert "KeyEncryptionKeysRetired" in kinds
    assert len(erased.keys_output) == kinds.count("KeyEncryptionKeysRetired") + 1
