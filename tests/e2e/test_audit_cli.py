"""The audit tooling on a real pipeline run: evidence bundles written and checked offline (and tampering caught),
a published number traced back to its raw bytes, time travel with replay --until, and deterministic replays."""

from __future__ import annotations

import base64
import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.ledger.notes import NoteSigner
from adapters.readmodels import ReadModelStore, sqlite_url
from adapters.replay import replay
from interfaces.bootstrap import Platform
from interfaces.cli import main
from projections import ALL
from tests.e2e.test_pipeline_api import api, people, published, tenant  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("published")


@pytest.fixture
def cli(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """`platform ...` in this process, on the test's own stores (settings through the environment)."""
    for field in dataclasses.fields(platform.settings):
        monkeypatch.setenv(f"PLATFORM_{field.name.upper()}", str(getattr(platform.settings, field.name)))
    return platform


def rewrite(bundle: Path, change: Any) -> Path:
    with zipfile.ZipFile(bundle) as source:
        files = {name: source.read(name) for name in source.namelist()}
    files = change(files)
    altered = bundle.with_name("altered.zip")
    with zipfile.ZipFile(altered, "w") as target:
        for name, data in files.items():
            target.writestr(name, data)
    return altered


def test_an_evidence_bundle_checks_offline_and_tampering_is_named(
    cli: Platform, tenant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "evidence.zip"
    assert main(["audit", "bundle", "--tenant", tenant, "--out", str(bundle)]) == 0
    key = cli.ledger.verifier.verifier_key
    capsys.readouterr()
    assert main(["audit", "check", str(bundle), "--key", key]) == 0
    out = capsys.readouterr().out
    assert "OK: every event is included in the signed tree" in out
    with zipfile.ZipFile(bundle) as files:
        events = [json.loads(line) for line in files.read("events.ndjson").splitlines()]
        names = set(files.namelist())
    assert names >= {"manifest.json", "checkpoint.json", "lineage.openlineage.json", "obligations.json", "README.md"}
    assert events
    assert {e["tenant_id"] for e in events} == {tenant}

    def alter_one(files: dict[str, bytes]) -> dict[str, bytes]:
        lines = files["events.ndjson"].decode().splitlines()
        event = json.loads(lines[1])
        entry = bytearray(base64.b64decode(event["entry"]))
        entry[-5] ^= 1
        event["entry"] = base64.b64encode(bytes(entry)).decode()
        lines[1] = json.dumps(event)
        return files | {"events.ndjson": ("\n".join(lines) + "\n").encode()}

    assert main(["audit", "check", str(rewrite(bundle, alter_one)), "--key", key]) == 1
    out = capsys.readouterr().out
    assert f"event {events[1]['event_id']} (leaf {events[1]['leaf_index']}" in out
    assert "was altered" in out

    def drop_one(files: dict[str, bytes]) -> dict[str, bytes]:
        lines = files["events.ndjson"].decode().splitlines()
        return files | {"events.ndjson": ("\n".join(lines[:2] + lines[3:]) + "\n").encode()}

    assert main(["audit", "check", str(rewrite(bundle, drop_one)), "--key", key]) == 1
    assert f"event of leaf {events[2]['leaf_index']} is missing" in capsys.readouterr().out

    other = NoteSigner.from_seed(cli.settings.ledger_origin, b"\x07" * 32).verifier.verifier_key
    assert main(["audit", "check", str(bundle), "--key", other]) == 1
    assert "the checkpoint does not verify" in capsys.readouterr().out

    (tmp_path / "not-a-bundle.zip").write_bytes(b"nothing")
    assert main(["audit", "check", str(tmp_path / "not-a-bundle.zip")]) == 2
    assert "is not a readable bundle" in capsys.readouterr().err


def test_a_published_number_is_traced_to_its_raw_bytes_and_approval(
    cli: Platform, tenant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "trace", "retail-sales", "1", "--tenant", tenant]) == 0
    out = capsys.readouterr().out.lower()
    assert "retail-sales" in out
    assert "approved" in out
    assert "raw" in out
    assert main(["audit", "trace", "retail-sales", "9", "--tenant", tenant]) == 2


def test_replay_until_rebuilds_the_read_models_as_they_were(
    cli: Platform, api: TestClient, tenant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published_at = next(
        r.position for r in cli.store.read_all(0, 100_000) if type(r.event).__name__ == "VersionPublished"
    )
    target = sqlite_url(tmp_path / "then.db")
    assert main(["replay", "--until", str(published_at - 1), "--into", target]) == 0
    assert f"up to position {published_at - 1}" in capsys.readouterr().out
    then = ReadModelStore(target, ALL)
    try:
        with then.engine.connect() as connection:
            rows = connection.exec_driver_sql("select count(*) from data_product_versions").scalar()
        assert rows == 0  # before the publication: no product version yet
        assert then.checkpoint("data_products") <= published_at - 1
    finally:
        then.close()
    assert (
        main(["replay", "--until", str(cli.store.last_position() + 10), "--into", sqlite_url(tmp_path / "x.db")]) == 2
    )
    assert "beyond the log" in capsys.readouterr().err


def test_replaying_the_same_log_twice_gives_byte_identical_read_models(cli: Platform, tmp_path: Path) -> None:
    last = cli.store.last_position()
    digests = []
    for name in ("first", "second"):
        target = ReadModelStore(sqlite_url(tmp_path / f"{name}.db"), ALL)
        try:
            replay(cli.store, target, dict.fromkeys(target.projections, last))
            digests.append({projection: target.snapshot(projection) for projection in target.projections})
        finally:
            target.close()
    assert digests[0] == digests[1]
    assert all(position == last or position > 0 for position, _ in digests[0].values())
