"""`platform audit verify` as a process, on SQLite and on PostgreSQL: one byte changed in the database is named.

Events are written through the platform's services, the ledger is built and a checkpoint signed; then one byte of
one stored event is changed directly in the event store's own table, as someone with database access could.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import sqlite3
import subprocess
import sys

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from psycopg import sql

from application.commands import CommandContext
from eventstore.adapters import postgres_env
from interfaces.bootstrap import Platform
from interfaces.settings import Settings

PLATFORM = [sys.executable, "-m", "interfaces.cli"]


def environment(settings: Settings) -> dict[str, str]:
    """The settings as the PLATFORM_* variables a separate `platform` process reads."""
    return {
        **os.environ,
        "PLATFORM_EVENT_STORE": settings.event_store,
        "PLATFORM_EVENT_STORE_URL": settings.event_store_url,
        "PLATFORM_READ_MODEL_URL": settings.read_model_url,
        "PLATFORM_KEYS_DIR": settings.keys_dir,
        "PLATFORM_DATASETS": settings.datasets,
        "PLATFORM_SCRATCH_DIR": settings.scratch_dir,
        "PLATFORM_LOG_LEVEL": "WARNING",
    }


def audit_verify(settings: Settings, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [*PLATFORM, "audit", "verify", *extra]
    return subprocess.run(command, env=environment(settings), capture_output=True, text=True, timeout=120, check=False)


def ctx() -> CommandContext:
    command_id = secrets.token_hex(8)
    return CommandContext("user:auditor-test", command_id, command_id)


def record_some_history(platform: Platform) -> None:
    for n in range(3):
        tenant_id = platform.tenants.onboard_tenant(ctx(), f"audit-{n}-{secrets.token_hex(3)}", f"T{n}", "trial")
        platform.tenants.suspend_tenant(ctx(), tenant_id.aggregate_id, "unpaid invoice")


def change_one_byte(settings: Settings, position: int, table: str) -> None:
    """Flips one bit of one character of the stored state, directly in the event store's database."""
    if settings.event_store == "sqlite":
        with sqlite3.connect(settings.event_store_url) as connection:
            [state] = connection.execute(f"SELECT state FROM {table} WHERE rowid = ?", (position,)).fetchone()
            at = state.index(b'"actor":"') + len(b'"actor":"')
            changed = state[:at] + bytes([state[at] ^ 0x20]) + state[at + 1 :]
            connection.execute(f"UPDATE {table} SET state = ? WHERE rowid = ?", (changed, position))
        return
    name = sql.Identifier(postgres_env(settings.event_store_url)["POSTGRES_SCHEMA"], table)
    with psycopg.connect(settings.event_store_url.split("?", 1)[0], autocommit=True) as connection:
        query = sql.SQL("SELECT state FROM {} WHERE notification_id = %s").format(name)
        row = connection.execute(query, (position,)).fetchone()
        assert row is not None
        state = bytes(row[0])
        at = state.index(b'"actor":"') + len(b'"actor":"')
        changed = state[:at] + bytes([state[at] ^ 0x20]) + state[at + 1 :]
        connection.execute(
            sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(name), (changed, position)
        )


def test_an_untouched_log_verifies_and_one_changed_byte_is_named_by_position(platform: Platform) -> None:
    record_some_history(platform)
    checkpoint = platform.ledger.sign_checkpoint()
    raw = platform.store.read_raw(0, 10_000)
    victim = raw[3]
    event_id = platform.ledger.find_leaf(position=victim[0]).event_id
    table = platform.store.recorder.events_table_name  # type: ignore[attr-defined]
    settings = platform.settings

    clean = audit_verify(settings)
    change_one_byte(settings, victim[0], table)
    tampered = audit_verify(settings)

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "signed checkpoints: 1, of which 1 verified" in clean.stdout
    assert "OK: the ledger matches the event log" in clean.stdout
    assert f"events in the log: {checkpoint.tree_size}" in clean.stdout
    assert "verified:" in clean.stderr  # progress goes to stderr
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f"FIRST DIVERGENCE at position {victim[0]} (leaf 3, event {event_id})" in tampered.stdout
    assert "of which 0 verified" in tampered.stdout
    assert "FAILED" in tampered.stdout


def delete_event(settings: Settings, position: int, table: str) -> None:
    """Deletes one stored event row directly in the event store's database."""
    if settings.event_store == "sqlite":
        with sqlite3.connect(settings.event_store_url) as connection:
            connection.execute(f"DELETE FROM {table} WHERE rowid = ?", (position,))
        return
    name = sql.Identifier(postgres_env(settings.event_store_url)["POSTGRES_SCHEMA"], table)
    with psycopg.connect(settings.event_store_url.split("?", 1)[0], autocommit=True) as connection:
        connection.execute(sql.SQL("DELETE FROM {} WHERE notification_id = %s").format(name), (position,))


def test_a_deleted_event_is_named_by_its_own_position_not_the_next_one(platform: Platform) -> None:
    record_some_history(platform)
    platform.ledger.sign_checkpoint()
    victim = platform.store.read_raw(0, 10_000)[3]
    event_id = platform.ledger.find_leaf(position=victim[0]).event_id
    table = platform.store.recorder.events_table_name  # type: ignore[attr-defined]

    delete_event(platform.settings, victim[0], table)
    tampered = audit_verify(platform.settings)

    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert f"FIRST DIVERGENCE at position {victim[0]} (leaf 3, event {event_id})" in tampered.stdout
    assert f"MISMATCH: the event at position {victim[0]} (leaf 3) is missing from the log" in tampered.stdout


def test_a_key_the_auditor_trusts_decides_and_a_malformed_one_is_refused(platform: Platform) -> None:
    record_some_history(platform)
    platform.ledger.sign_checkpoint()
    own = platform.ledger.verifier.verifier_key
    settings = platform.settings

    trusted = audit_verify(settings, "--key", own)
    stranger = audit_verify(
        settings, "--key", verifier_key_of(platform.ledger.verifier.name, Ed25519PrivateKey.generate())
    )
    malformed = audit_verify(settings, "--key", "not-a-key")

    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert stranger.returncode == 1, stranger.stdout + stranger.stderr
    assert "carries no signature of" in stranger.stdout
    assert "of which 0 verified" in stranger.stdout
    assert malformed.returncode == 2
    assert "verifier key" in malformed.stderr


def verifier_key_of(name: str, key: Ed25519PrivateKey) -> str:
    """A C2SP verifier key for an Ed25519 key: name+hex(key id)+base64(0x01 || public key)."""
    public = b"\x01" + key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n" + public).digest()[:4].hex()
    return f"{name}+{key_id}+{base64.b64encode(public).decode()}"
