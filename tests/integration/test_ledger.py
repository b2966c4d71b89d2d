"""The evidence ledger on SQLite and on PostgreSQL (event store and read-model database alike).

Events are written through the platform's own services; every check below recomputes what it needs here, from
the entry layout and RFC 9162 as written, with ``cryptography`` for signatures: nothing is taken from
domain/merkle.py or the ledger's note code.
"""

from __future__ import annotations

import base64
import secrets
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from uuid import UUID

import msgspec
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import sql

from adapters.ledger import Ledger, open_ledger
from adapters.ledger.notes import Checkpoint, NoteError, NoteSigner, NoteVerifier, open_checkpoint
from adapters.ledger.tables import checkpoints, leaves
from application.commands import CommandContext
from bench.events import histories
from eventstore import codec
from eventstore.adapters import postgres_env
from interfaces.bootstrap import Platform, bootstrap
from interfaces.settings import Settings
from tests.rfc9162 import mth, sha, verify_consistency, verify_inclusion

# --- an auditor's own code: the entry layout, RFC 9162 and the C2SP note, written from their texts ------------


def entry_bytes(stream_id: str, version: int, topic: str, state: bytes) -> bytes:
    """Layout 1: 0x01, u16 topic length, topic, the stream id's 32 hex digits, u64 version, stored state."""
    return (
        b"\x01"
        + struct.pack(">H", len(topic.encode()))
        + topic.encode()
        + stream_id.encode()
        + struct.pack(">Q", version)
        + state
    )


def open_note(note: str, verifier_key: str) -> tuple[str, int, bytes]:
    """Checks a C2SP checkpoint note against a verifier key; returns (origin, tree size, root hash)."""
    name, key_id, encoded = verifier_key.split("+", 2)
    raw_key = base64.b64decode(encoded)
    assert raw_key[:1] == b"\x01"
    assert len(raw_key) == 33
    assert sha(name.encode() + b"\n" + raw_key)[:4].hex() == key_id
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    [line] = signatures.splitlines()
    assert line.startswith(f"\u2014 {name} ")
    blob = base64.b64decode(line.split(" ")[2])
    assert blob[:4].hex() == key_id
    Ed25519PublicKey.from_public_bytes(raw_key[1:]).verify(blob[4:], text.encode())  # raises when altered
    origin, size, root = text.splitlines()
    return origin, int(size), base64.b64decode(root)


# --- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    local = {"keys_dir": str(tmp_path / "keys"), "datasets": str(tmp_path / "ds"), "scratch_dir": str(tmp_path / "s")}
    if request.param == "sqlite":
        settings = Settings(event_store_url=str(tmp_path / "events.db"), read_model_url=f"sqlite:///{tmp_path}/rm.db")
    else:
        url, database = request.getfixturevalue("pg_event_store_url"), request.getfixturevalue("pg_database")
        settings = Settings(event_store="postgres", event_store_url=url, read_model_url=database)
    opened = bootstrap(replace(settings, **local, orchestrator="off"))
    yield opened
    opened.close()


def ledger_of(platform: Platform, every: int = 1_000) -> Ledger:
    return open_ledger(
        platform.store, platform.read_models.engine, platform.cipher.keys, checkpoint_every=every, checkpoint_interval=0
    )


def ctx() -> CommandContext:
    command_id = secrets.token_hex(8)
    return CommandContext("user:auditor-test", command_id, command_id)


def write_tenants(platform: Platform, count: int) -> list[UUID]:
    """Onboards tenants, each with a person whose name is sealed with the tenant's data key."""
    ids = []
    for n in range(count):
        tenant_id = platform.tenants.onboard_tenant(
            ctx(), f"t{n}-{secrets.token_hex(3)}", f"T{n}", "standard"
        ).aggregate_id
        subject = f"person-{n}-{secrets.token_hex(3)}"
        platform.access.register_principal(ctx(), "person", "https://idp.test", subject, f"Person {n}", str(tenant_id))
        ids.append(tenant_id)
    return ids


def write_bulk(platform: Platform, count: int) -> None:
    """Many tenant histories straight into the recorder (the port's bytes, many streams per insert)."""
    pending = [event for history in histories(count) for event in history]
    recorder = platform.store.recorder  # type: ignore[attr-defined]
    for start in range(0, count, 500):
        recorder.insert_events([codec.encode(p.event, p.metadata) for p in pending[start : start + 500]])


def all_raw(platform: Platform) -> list[tuple[int, str, int, str, bytes]]:
    return platform.store.read_raw(0, 1_000_000)


def stored_leaves(platform: Platform) -> list[tuple[int, int, str, str | None, bytes]]:
    with platform.read_models.engine.connect() as connection:
        rows = connection.execute(leaves.select().order_by(leaves.c.leaf_index)).all()
    return [(i, p, e, t, bytes(h)) for i, p, e, t, h in rows]


# --- tests ----------------------------------------------------------------------------------------------------


def test_every_event_is_a_leaf_an_auditor_rebuilds_from_its_entry_bytes(platform: Platform) -> None:
    write_tenants(platform, 3)
    ledger = ledger_of(platform)

    added = ledger.catch_up()

    raw = all_raw(platform)
    rows = stored_leaves(platform)
    assert added == len(raw) == len(rows) == ledger.size >= 6
    for (index, position, event_id, tenant_id, leaf_hash), event in zip(rows, raw, strict=True):
        body = entry_bytes(event[1], event[2], event[3], event[4])
        meta = msgspec.json.decode(event[4])["meta"]
        assert (position, event_id, tenant_id) == (event[0], meta["event_id"], meta["tenant_id"])
        assert leaf_hash == sha(b"\x00" + body)
        assert ledger.entry(ledger.leaf(index)).body == body
    assert mth([r[4] for r in rows]) == ledger.root(len(rows))
    assert b"Person 0" not in b"".join(e[4] for e in raw)  # sealed fields stay sealed in the leaves


def test_an_empty_log_has_the_empty_root_signed_and_verified(platform: Platform) -> None:
    ledger = ledger_of(platform)

    checkpoint = ledger.sign_checkpoint()

    assert (checkpoint.tree_size, checkpoint.root_hash) == (0, sha(b""))
    assert open_note(checkpoint.note, ledger.verifier.verifier_key)[1:] == (0, sha(b""))
    report = ledger.verify()
    assert (report.ok, report.checkpoints_verified, report.events) == (True, 1, 0)


def test_checkpoints_fall_every_n_events_as_c2sp_notes_signed_by_the_published_key(platform: Platform) -> None:
    write_tenants(platform, 10)  # 20 events and the principals' own
    ledger = ledger_of(platform, every=8)

    ledger.catch_up()
    on_demand = ledger.sign_checkpoint()

    hashes = [r[4] for r in stored_leaves(platform)]
    checkpoints = ledger.tables.checkpoints()
    assert [c.tree_size for c in checkpoints[:-1]] == list(range(8, len(hashes), 8))
    assert checkpoints[-1] == on_demand
    assert on_demand.tree_size == len(hashes)
    for checkpoint in checkpoints:
        origin, size, root = open_note(checkpoint.note, ledger.verifier.verifier_key)
        assert (origin, size, root) == (ledger.verifier.name, checkpoint.tree_size, checkpoint.root_hash)
        assert root == mth(hashes[:size])
    assert ledger.sign_checkpoint() == on_demand  # nothing new: the same checkpoint, not a second signature
    again = ledger_of(platform)
    assert again.verifier == ledger.verifier  # the key comes back from the key store, not from memory


def test_proofs_from_stored_subtrees_verify_at_every_kind_of_tree_size(platform: Platform) -> None:
    write_bulk(platform, 700)
    ledger = ledger_of(platform)
    ledger.catch_up()
    hashes = [r[4] for r in stored_leaves(platform)]
    assert len(hashes) == 700

    for size in (1, 2, 255, 256, 257, 511, 512, 513, 700):
        root = mth(hashes[:size])
        assert ledger.root(size) == root
        for index in {0, size // 2, size - 1, min(300, size - 1)}:
            proof = ledger.inclusion(ledger.leaf(index), size)
            assert verify_inclusion(index, size, hashes[index], proof.path, root), (index, size)
            assert not verify_inclusion(index, size, hashes[index - 1], proof.path, root) or index == 0
        for first in (1, 3, 256, 300, 511):
            if first < size:
                path = ledger.consistency(first, size)
                assert verify_consistency(first, size, mth(hashes[:first]), root, path), (first, size)


def test_two_writers_at_once_extend_the_tree_once(platform: Platform) -> None:
    write_bulk(platform, 300)
    first, second = ledger_of(platform), ledger_of(platform)
    first.writer.batch = second.writer.batch = 7

    threads = [threading.Thread(target=ledger.catch_up) for ledger in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    rows = stored_leaves(platform)
    raw = all_raw(platform)
    assert [r[1] for r in rows] == [e[0] for e in raw]
    assert [r[0] for r in rows] == list(range(300))
    assert first.root(300) == mth([r[4] for r in rows])
    write_bulk(platform, 5)
    assert first.catch_up() == 5
    assert second.catch_up() == 0


def test_crypto_shredding_changes_no_leaf_and_verification_still_passes(platform: Platform) -> None:
    [tenant_id] = write_tenants(platform, 1)
    ledger = ledger_of(platform)
    before = ledger.sign_checkpoint()
    person = ledger.entry(ledger.leaf(1)).body

    platform.tenants.offboard_tenant(ctx(), tenant_id, "leaving", erase=True)
    after = ledger.sign_checkpoint()

    assert ledger.entry(ledger.leaf(1)).body == person
    assert b'"enc":["subject","display_name"]' in person
    assert mth([r[4] for r in stored_leaves(platform)][: before.tree_size]) == before.root_hash
    report = ledger.verify()
    assert report.ok, report.findings
    assert (report.checkpoints, report.checkpoints_verified, report.events) == (2, 2, after.tree_size)


def test_verify_finds_an_altered_event_a_rewritten_leaf_a_forged_note_and_a_deleted_event(
    platform: Platform,
) -> None:
    write_tenants(platform, 4)
    ledger = ledger_of(platform, every=4)
    ledger.sign_checkpoint()
    assert ledger.verify().ok
    raw = all_raw(platform)
    victim = raw[5]

    edit_event(platform, victim[0], flip_a_byte(victim[4]))
    report = ledger.verify()
    first = report.first_divergence
    assert first is not None
    assert (first.position, first.leaf_index) == (victim[0], 5)
    assert first.event_id == str(codec.event_id_for(UUID(hex=victim[1]), victim[2]))
    assert report.diverging_leaves == 1
    assert report.checkpoints_verified == 1  # the checkpoint at 4 predates the change; the later ones do not

    forged = entry_bytes(victim[1], victim[2], victim[3], flip_a_byte(victim[4]))
    with platform.read_models.engine.begin() as connection:  # the attacker rewrites the ledger's leaf too
        connection.execute(leaves.update().where(leaves.c.leaf_index == 5).values(leaf_hash=sha(b"\x00" + forged)))
    covered = ledger.verify()
    assert covered.diverging_leaves == 0
    assert not covered.ok
    assert any("do not give the root signed" in f.detail for f in covered.findings)

    stranger = NoteSigner.from_seed(ledger.verifier.name, bytes(32)).verifier
    unknown = ledger.verify(stranger)
    assert unknown.checkpoints_verified == 0
    assert any("carries no signature" in f.detail for f in unknown.findings)


def flip_a_byte(state: bytes) -> bytes:
    """Changes one character inside the event's command id: still valid JSON, still decodes."""
    at = state.index(b'"command_id":"') + len(b'"command_id":"')
    return state[:at] + bytes([state[at] ^ 0x01]) + state[at + 1 :]


def edit_event(platform: Platform, position: int, state: bytes) -> None:
    """Overwrites one stored event's state bytes directly in the event store's database."""
    settings = platform.settings
    table = platform.store.recorder.events_table_name  # type: ignore[attr-defined]
    if settings.event_store == "sqlite":
        import sqlite3

        with sqlite3.connect(settings.event_store_url) as connection:
            connection.execute(f"UPDATE {table} SET state = ? WHERE rowid = ?", (state, position))
        return
    schema = postgres_env(settings.event_store_url)["POSTGRES_SCHEMA"]
    statement = sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(sql.Identifier(schema, table))
    with psycopg.connect(settings.event_store_url.split("?", 1)[0], autocommit=True) as connection:
        connection.execute(statement, (state, position))


def test_verify_names_forged_notes_and_events_gone_from_the_log(platform: Platform) -> None:
    write_tenants(platform, 3)
    ledger = ledger_of(platform)
    checkpoint = ledger.sign_checkpoint()
    note_lines = checkpoint.note.split("\n")
    note_lines[1] = str(checkpoint.tree_size + 1)
    with platform.read_models.engine.begin() as connection:
        connection.execute(checkpoints.update().values(note="\n".join(note_lines)))

    forged = ledger.verify()
    assert any("does not verify" in f.detail for f in forged.findings)

    last = all_raw(platform)[-1]
    delete_event(platform, last[0])
    gone = ledger.verify()
    assert any(f.position == last[0] and "only" in f.detail for f in gone.findings)


def delete_event(platform: Platform, position: int) -> None:
    settings = platform.settings
    table = platform.store.recorder.events_table_name  # type: ignore[attr-defined]
    if settings.event_store == "sqlite":
        import sqlite3

        with sqlite3.connect(settings.event_store_url) as connection:
            connection.execute(f"DELETE FROM {table} WHERE rowid = ?", (position,))
        return
    schema = postgres_env(settings.event_store_url)["POSTGRES_SCHEMA"]
    statement = sql.SQL("DELETE FROM {} WHERE notification_id = %s").format(sql.Identifier(schema, table))
    with psycopg.connect(settings.event_store_url.split("?", 1)[0], autocommit=True) as connection:
        connection.execute(statement, (position,))


# --- the note format itself (no database) ----------------------------------------------------------------------

GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIGNATURE = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="


def test_notes_match_the_go_sumdb_note_vector_and_refuse_what_is_not_a_signed_note() -> None:
    seed = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])[1:]
    signer = NoteSigner.from_seed("PeterNeumann", seed)
    note = signer.sign(GO_TEXT)

    assert note == f"{GO_TEXT}\n\u2014 PeterNeumann {GO_SIGNATURE}\n"
    assert signer.verifier.verifier_key == GO_VERIFIER_KEY
    assert NoteVerifier.parse(GO_VERIFIER_KEY).open(note) == GO_TEXT
    checkpoint = Checkpoint("example.test/log", 5, bytes(range(32)))
    signed = NoteSigner.from_seed("example.test/log", seed).sign(checkpoint.body())
    verifier = NoteSigner.from_seed("example.test/log", seed).verifier
    assert open_checkpoint(signed, verifier) == checkpoint
    for broken in (signed.replace("\n5\n", "\n6\n"), signed.replace("\u2014", "-"), signed.rstrip("\n"), "x\n"):
        with pytest.raises(NoteError):
            open_checkpoint(broken, verifier)
    for key in ("", "a+b", "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "P+c74f20a3+AQ=="):
        with pytest.raises(NoteError):
            NoteVerifier.parse(key)
    with pytest.raises(NoteError):
        NoteSigner.from_seed("a name with spaces", seed)
