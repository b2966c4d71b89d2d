"""The audit tooling on a real pipeline run: evidence bundles written and checked offline (and tampering caught),
a published number traced back to its raw bytes, time travel with replay --until, and deterministic replays."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar.testing import TestClient

from adapters.ledger.notes import NoteSigner
from adapters.readmodels import ReadModelStore, sqlite_url
from adapters.replay import replay
from interfaces.bootstrap import Platform
from interfaces.cli import main
from projections import ALL
from tests.e2e.test_pipeline_api import api, people, published, tenant  # noqa: F401  (fixtures)
from tests.rfc9162 import sha, verify_inclusion

pytestmark = pytest.mark.usefixtures("published")


@pytest.fixture
def cli(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> Platform:
    """`platform ...` in this process, on the test's own stores (settings through the environment)."""
    for name, value in platform.settings.environment().items():
        monkeypatch.setenv(name, value)
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
    assert "OK: exactly the leaves the signed statement lists, each included in the signed tree" in out
    assert "signed statement: " in out
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


def read_bundle(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as source:
        return {name: source.read(name) for name in source.namelist()}


def resealed(bundle: Path, files: dict[str, bytes], lines: list[str]) -> Path:
    """The bundle with these event lines and a manifest edited to match them (its list, count and file hashes)."""
    manifest = json.loads(files["manifest.json"])
    events = "".join(line + "\n" for line in lines).encode()
    changed = files | {"events.ndjson": events}
    manifest["leaf_indexes"] = sorted(json.loads(line)["leaf_index"] for line in lines)
    manifest["events"] = len(lines)
    manifest["files"] = {name: hashlib.sha256(changed[name]).hexdigest() for name in manifest["files"]}
    return rewrite(bundle, lambda _: changed | {"manifest.json": json.dumps(manifest).encode()})


def event_line(platform: Platform, position: int, tree_size: int) -> tuple[dict[str, Any], str]:
    """A well-formed bundle line, with a valid inclusion proof, for the event at a log position."""
    leaf = platform.ledger.find_leaf(position=position)
    proof = platform.ledger.inclusion(leaf, tree_size)
    event = {
        "leaf_index": leaf.leaf_index,
        "position": leaf.position,
        "event_id": leaf.event_id,
        "tenant_id": leaf.tenant_id,
        "entry": base64.b64encode(platform.ledger.entry(leaf).body).decode(),
        "leaf_hash": proof.leaf_hash.hex(),
        "path": [node.hex() for node in proof.path],
    }
    return event, json.dumps(event, sort_keys=True)


def statement_without(note: str, leaf_index: int) -> str:
    """The statement's text with one leaf taken out of its list (and its count lowered to match)."""
    text = note[: note.rindex("\n\n") + 1]
    lines = text.splitlines()
    lines.remove(str(leaf_index))
    lines[7] = str(int(lines[7]) - 1)
    return "\n".join(lines) + "\n"


def test_a_bundle_proves_completeness_and_an_event_left_out_or_added_is_named(
    cli: Platform, api: TestClient, tenant: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = api.post("/v1/tenants", json={"slug": "elsewhere", "display_name": "Elsewhere"}).json()
    bundle = tmp_path / "evidence.zip"
    assert main(["audit", "bundle", "--tenant", tenant, "--out", str(bundle)]) == 0
    key = cli.ledger.verifier.verifier_key
    files = read_bundle(bundle)
    lines = files["events.ndjson"].decode().splitlines()
    events = [json.loads(line) for line in lines]
    size = json.loads(files["checkpoint.json"])["tree_size"]
    capsys.readouterr()

    def check(altered: Path) -> str:
        assert main(["audit", "check", str(altered), "--key", key]) == 1
        return capsys.readouterr().out

    dropped = events[2]
    left_out = check(resealed(bundle, files, lines[:2] + lines[3:]))
    assert f"FAILED: event of leaf {dropped['leaf_index']} is missing from events.ndjson" in left_out
    assert f"events verified: {len(events) - 1} of {len(events)}" in left_out

    foreign, foreign_line = event_line(cli, other["position"], size)
    added = check(resealed(bundle, files, [*lines, foreign_line]))
    where = f"event {foreign['event_id']} (leaf {foreign['leaf_index']}, position {foreign['position']})"
    assert f"FAILED: {where} belongs to tenant {other['tenant_id']}" in added

    twice = check(resealed(bundle, files, [*lines, lines[1]]))
    assert f"(leaf {events[1]['leaf_index']}, position {events[1]['position']}) appears twice" in twice

    edited = statement_without(files["tenant-leaves.note"].decode(), dropped["leaf_index"])
    unsigned = edited + "\n" + files["tenant-leaves.note"].decode().rsplit("\n\n", 1)[1]
    with_edited = resealed(bundle, files | {"tenant-leaves.note": unsigned.encode()}, lines[:2] + lines[3:])
    assert "FAILED: the signed statement of the tenant's leaves does not verify" in check(with_edited)

    stranger = NoteSigner.from_seed(cli.settings.ledger_origin, b"\x07" * 32).sign(edited)
    with_stranger = resealed(bundle, files | {"tenant-leaves.note": stranger.encode()}, lines[:2] + lines[3:])
    assert "carries no signature of" in check(with_stranger)

    without = rewrite(bundle, lambda f: {n: d for n, d in f.items() if n != "tenant-leaves.note"})
    assert "nothing signed says which events it must hold" in check(without)

    first, last = events[1], events[-2]
    ranged = tmp_path / "ranged.zip"
    period = ["--from", str(first["position"]), "--to", str(last["position"])]
    assert main(["audit", "bundle", "--tenant", tenant, *period, "--out", str(ranged)]) == 0
    ranged_files = read_bundle(ranged)
    ranged_lines = ranged_files["events.ndjson"].decode().splitlines()
    assert [json.loads(line)["leaf_index"] for line in ranged_lines] == [e["leaf_index"] for e in events[1:-1]]
    _, earlier = event_line(cli, events[0]["position"], json.loads(ranged_files["checkpoint.json"])["tree_size"])
    outside = check(resealed(ranged, ranged_files, [earlier, *ranged_lines]))
    assert f"(leaf {events[0]['leaf_index']}, position {events[0]['position']}) is not among the leaves" in outside


# --- an auditor's own check of the completeness statement, written from the README (no project code) -----------


def open_signed_note(note: str, verifier_key: str) -> list[str]:
    """The text lines of a C2SP signed note, once the Ed25519 signature of the verifier key's name verified."""
    name, key_id, encoded = verifier_key.split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[:1] == b"\x01"
    assert len(raw) == 33
    assert sha(name.encode() + b"\n" + raw)[:4].hex() == key_id
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        signer, _, blob = line.removeprefix("\u2014 ").partition(" ")
        signature = base64.b64decode(blob)
        if signer == name and signature[:4].hex() == key_id:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(signature[4:], text.encode())  # raises when forged
            return text.split("\n")[:-1]
    raise AssertionError(f"no signature of {name}")


def independent_check(bundle: Path, verifier_key: str, tenant: str) -> tuple[int, int, list[int]]:
    """Checks a bundle as the README says an auditor can; returns the signed range and list of leaves."""
    with zipfile.ZipFile(bundle) as source:
        checkpoint_note = json.loads(source.read("checkpoint.json"))["note"]
        statement_note = source.read("tenant-leaves.note").decode()
        lines = source.read("events.ndjson").decode().splitlines()
    checkpoint = open_signed_note(checkpoint_note, verifier_key)
    statement = open_signed_note(statement_note, verifier_key)
    assert statement[0] == "governed-data-platform/tenant-leaves/v1"
    assert statement[1:4] == checkpoint
    assert statement[4] == tenant
    start, end, count, *listed = (int(n) for n in statement[5:])
    assert count == len(listed)
    assert listed == sorted(set(listed))
    assert all(start <= index < end for index in listed)
    size, root = int(checkpoint[1]), base64.b64decode(checkpoint[2])
    held = []
    for line in lines:
        event = json.loads(line)
        entry = base64.b64decode(event["entry"])
        path = [bytes.fromhex(node) for node in event["path"]]
        assert verify_inclusion(event["leaf_index"], size, sha(b"\x00" + entry), path, root)
        (topic_length,) = struct.unpack(">H", entry[1:3])
        assert json.loads(entry[3 + topic_length + 32 + 8 :])["meta"]["tenant_id"] == tenant
        held.append(event["leaf_index"])
    assert sorted(held) == listed  # each listed leaf once, and nothing else
    return start, end, listed


def test_an_auditor_checks_the_completeness_statement_with_their_own_code(
    cli: Platform, api: TestClient, tenant: str, tmp_path: Path
) -> None:
    api.post("/v1/tenants", json={"slug": "neighbour", "display_name": "Neighbour"})
    key = cli.ledger.verifier.verifier_key
    everything = tmp_path / "all.zip"
    assert main(["audit", "bundle", "--tenant", tenant, "--out", str(everything)]) == 0
    start, end, listed = independent_check(everything, key, tenant)
    raw = cli.store.read_raw(0, 100_000)  # leaf i is the i-th stored event
    assert (start, end) == (0, len(raw))
    assert listed == [i for i, event in enumerate(raw) if json.loads(event[4])["meta"].get("tenant_id") == tenant]

    recorded = [datetime.fromisoformat(json.loads(event[4])["meta"]["recorded_at"]) for event in raw]
    times = sorted(recorded[i] for i in listed)
    since, until = times[1].isoformat(), times[-2].isoformat()
    period = tmp_path / "period.zip"
    assert main(["audit", "bundle", "--tenant", tenant, "--from", since, "--to", until, "--out", str(period)]) == 0
    start, end, listed_in_period = independent_check(period, key, tenant)
    since_at, until_at = datetime.fromisoformat(since), datetime.fromisoformat(until)
    assert recorded[start] >= since_at > max(recorded[:start], default=since_at - timedelta(1))
    assert recorded[end - 1] <= until_at < min(recorded[end:], default=until_at + timedelta(1))
    assert listed_in_period == [i for i in listed if start <= i < end]
    assert [i for i in listed if since_at <= recorded[i] <= until_at] == listed_in_period


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
