"""A secrets scan: after a realistic run (secrets stored and rotated, principals registered, bad requests refused,
a tenant erased) with every logger at DEBUG, no secret value, personal field or raw key is found in clear -- nor
base64 or hex encoded -- in the event store, the key database, the logs or the error messages; the read-model
database holds no secret value and no key (it does show principals' names: that is its job)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import MetaData, select

import projections
from adapters.projection_worker import ProjectionWorker
from adapters.readmodels import ReadModelStore
from application.commands import CommandContext
from domain.access import principal_id_for
from domain.errors import DomainError
from interfaces.bootstrap import Platform, bootstrap
from interfaces.http.deps import dependencies
from interfaces.http.problems import EXCEPTION_HANDLERS
from interfaces.http.secrets import SecretController
from interfaces.settings import Settings
from projections import secrets as secret_directory

READ_MODELS = tuple({p.name: p for p in (*projections.ALL, secret_directory.projection)}.values())
ISSUER = "https://idp.example.com"


def ctx() -> CommandContext:
    command_id = str(uuid4())
    return CommandContext("user:test", command_id, command_id)


def encodings(raw: bytes) -> set[bytes]:
    """The forms a value could leak in: itself, hex, and base64 (standard and URL-safe, padded or not)."""
    forms = {raw, raw.hex().encode(), raw.hex().upper().encode()}
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        forms |= {encoded, encoded.rstrip(b"=")}
    return forms


def found(needles: dict[str, bytes], haystacks: dict[str, bytes]) -> list[str]:
    return [
        f"{label} in {where}"
        for label, needle in needles.items()
        for form in encodings(needle)
        for where, hay in haystacks.items()
        if form in hay
    ]


@dataclasses.dataclass
class Run:
    """What the scenario wrote and what it saw."""

    values: dict[str, str] = dataclasses.field(default_factory=dict)
    personal: dict[str, str] = dataclasses.field(default_factory=dict)
    raw_keys: dict[str, bytes] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)


@pytest.fixture
def platform(tmp_path: Path, root_log: io.StringIO) -> Iterator[Platform]:
    """Built with the root logger already at DEBUG, so the first start (keyring creation) is captured too."""
    settings = Settings(
        event_store_url=str(tmp_path / "events.db"),
        read_model_url=f"sqlite:///{tmp_path}/rm.db",
        keys_dir=str(tmp_path / "keys"),
    )
    built = bootstrap(settings)
    read_models = ReadModelStore(settings.read_model_url, READ_MODELS, built.read_models.sealer)
    wired = dataclasses.replace(built, read_models=read_models, worker=ProjectionWorker(built.store, read_models))
    yield wired
    built.read_models.close()


@pytest.fixture
def root_log() -> Iterator[io.StringIO]:
    """Everything any logger emits, formatted with tracebacks, from the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def play(platform: Platform, client: TestClient[Any]) -> Run:
    run = Run()
    acme, globex, gone = (
        platform.tenants.onboard_tenant(ctx(), slug, f"{slug} Corp", "standard").aggregate_id
        for slug in ("acme", "globex", "gone")
    )
    for tenant in (acme, globex, gone, None):
        register(platform, run, tenant)
    for tenant in (acme, globex, gone):
        store_and_rotate(platform, client, run, tenant)
        run.raw_keys[f"DEK of {tenant}"] = platform.cipher.keys.current(str(tenant)).secret
    run.raw_keys["platform DEK"] = platform.cipher.keys.current("platform").secret
    for tenant in (acme, globex):
        for name in ("webhook", "warehouse"):
            assert platform.secrets.reveal_secret(tenant, name) == run.values[f"{tenant}/{name}"]
    refuse_bad_requests(platform, client, run, acme)
    platform.tenants.offboard_tenant(ctx(), gone, "right to erasure", erase=True)
    platform.worker.catch_up()
    return run


def register(platform: Platform, run: Run, tenant: UUID | None) -> None:
    subject, name = f"u-{secrets.token_hex(8)}@example.com", f"Person {secrets.token_hex(8)}"
    platform.access.register_principal(ctx(), "person", ISSUER, subject, name, str(tenant) if tenant else None)
    role = "data-steward" if tenant else "platform-admin"
    platform.access.grant_role(ctx(), principal_id_for(ISSUER, subject, str(tenant) if tenant else None), role)
    run.personal |= {f"subject of {tenant}": subject, f"name of {tenant}": name}


def store_and_rotate(platform: Platform, client: TestClient[Any], run: Run, tenant: UUID) -> None:
    for name in ("webhook", "warehouse"):
        first, second = secrets.token_urlsafe(32), secrets.token_hex(20)
        answer = client.put(f"/v1/tenants/{tenant}/secrets/{name}", json={"value": first})
        assert answer.status_code == 202
        platform.secrets.rotate_secret(ctx(), tenant, name, second)
        run.values |= {f"{tenant}/{name} v1": first, f"{tenant}/{name}": second}


def refuse_bad_requests(platform: Platform, client: TestClient[Any], run: Run, tenant: UUID) -> None:
    bad = {f"refused {i}": secrets.token_urlsafe(32) for i in range(4)}
    run.values |= bad
    attempts = [
        lambda: platform.secrets.put_secret(ctx(), tenant, "bad name!", bad["refused 0"]),
        lambda: platform.secrets.put_secret(ctx(), tenant, "ok", bad["refused 1"] * 300),
        lambda: platform.secrets.put_secret(ctx(), uuid4(), "ok", bad["refused 2"]),
    ]
    for attempt in attempts:
        with pytest.raises(DomainError) as refused:
            attempt()
        run.errors.append(f"{refused.value!r} {refused.value}")
    for path, body in [
        ("/bad%20name", {"value": bad["refused 3"]}),
        ("/ok", {"value": bad["refused 3"] * 300}),
        ("/ok", {"value": bad["refused 3"], "unexpected": bad["refused 3"]}),
    ]:
        answer = client.put(f"/v1/tenants/{tenant}/secrets{path}", json=body)
        assert answer.status_code == 422
        run.errors.append(answer.text)


def read_model_dump(platform: Platform) -> bytes:
    tables = MetaData()
    tables.reflect(platform.read_models.engine)
    with platform.read_models.engine.connect() as connection:
        rows = {name: [list(r) for r in connection.execute(select(t))] for name, t in tables.tables.items()}
    return json.dumps(rows, default=str).encode()


def files(folder: Path, pattern: str) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob(pattern)))


def kek_bytes(keys_dir: Path) -> Iterable[tuple[str, bytes]]:
    document = json.loads((keys_dir / "kek.json").read_text())
    return ((f"KEK {kek_id}", base64.b64decode(e["key"])) for kek_id, e in document["keys"].items())


@dataclasses.dataclass
class Scan:
    run: Run
    haystacks: dict[str, bytes]
    dump: bytes
    kek_file: bytes

    @property
    def secret_values(self) -> dict[str, bytes]:
        return {label: value.encode() for label, value in self.run.values.items()}

    @property
    def personal(self) -> dict[str, bytes]:
        return {label: value.encode() for label, value in self.run.personal.items()}


@pytest.fixture
def scan(platform: Platform, tmp_path: Path, caplog: pytest.LogCaptureFixture, root_log: io.StringIO) -> Scan:
    """Plays the scenario with every logger at DEBUG (SQL included), then gathers every place a value could be."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQLAlchemy quiets itself to WARNING unless told
    # logging_config=None: Litestar's default config would replace the root logger's handlers (and caplog's)
    app = Litestar(
        route_handlers=[SecretController],
        exception_handlers=EXCEPTION_HANDLERS,
        dependencies=dependencies(platform),
        debug=False,
        logging_config=None,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        run = play(platform, client)
    dump = read_model_dump(platform)
    platform.close()
    run.raw_keys |= dict(kek_bytes(tmp_path / "keys"))
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + root_log.getvalue()
    haystacks = {
        "the event store": files(tmp_path, "events.db*"),
        "the key database": files(tmp_path / "keys", "keys.db*"),
        "the logs": logs.encode(),
        "the error messages": "\n".join(run.errors).encode(),
        "the read-model files": files(tmp_path, "rm.db*"),
        "the read-model dump": dump,
    }
    return Scan(run, haystacks, dump, (tmp_path / "keys" / "kek.json").read_bytes())


def test_no_secret_value_or_raw_key_is_found_anywhere(scan: Scan) -> None:
    assert found(scan.secret_values | scan.run.raw_keys, scan.haystacks) == []
    data_keys = {label: key for label, key in scan.run.raw_keys.items() if "DEK" in label}
    assert found(data_keys | scan.secret_values, {"kek.json": scan.kek_file}) == []
    # the scan looks at real data: each haystack holds what it should
    assert b'"enc":["value"]' in scan.haystacks["the event store"]
    assert b"webhook" in scan.dump
    assert b"created the key-encryption keyring" in scan.haystacks["the logs"]
    assert b"INSERT INTO secret_directory" in scan.haystacks["the logs"]  # SQL logging was on
    assert len(scan.run.errors) == 6
    assert len(scan.run.raw_keys) == 4 + 1  # 3 tenants' and the platform's data keys, and the KEK


def test_personal_fields_are_stored_sealed_and_never_repeated_in_errors(scan: Scan) -> None:
    places = ("the event store", "the key database", "the error messages", "the read-model files")
    places += ("the read-model dump",)
    stored = {where: scan.haystacks[where] for where in places}

    assert found(scan.personal, stored) == []
    assert b'"enc":["subject","display_name"]' in scan.haystacks["the event store"]
    assert b'"r1.platform.' in scan.dump  # the principal directory holds the platform admin's name, sealed


def test_personal_fields_never_reach_the_logs_even_with_sql_logging_on(scan: Scan) -> None:
    assert found(scan.personal, {"the logs": scan.haystacks["the logs"]}) == []
