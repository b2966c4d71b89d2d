"""Envelope encryption: the KEK keyring file, per-owner data keys, the field cipher, shredding and rotation.

These use small files under tmp_path (the keyring file and a SQLite key database): no server, no network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.keys import (
    DataKeyStore,
    EnvelopeCipher,
    KeyRing,
    KeyRingError,
    keyring_path,
    keys_url,
    open_envelope_cipher,
    retire_kek,
    rotate_kek,
)
from adapters.keys.datakeys import data_keys
from eventstore.cipher import FieldDecryptionError, KeyErasedError

TENANT_A = "7c0e7a36-5a1b-4a43-9a51-0a1d0c8f1e01"
TENANT_B = "7c0e7a36-5a1b-4a43-9a51-0a1d0c8f1e02"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def cipher(keys_dir: Path) -> Iterator[EnvelopeCipher]:
    opened = open_envelope_cipher(str(keys_dir))
    yield opened
    opened.close()


def reopen(keys_dir: Path, cache_seconds: float = 60.0) -> EnvelopeCipher:
    """Another process's view of the same keyring file and key database."""
    return open_envelope_cipher(str(keys_dir), cache_seconds=cache_seconds)


# The keyring


def test_the_keyring_is_created_on_first_start_readable_by_its_owner_only(keys_dir: Path) -> None:
    ring = KeyRing.open(keyring_path(str(keys_dir)), create=True)

    assert ring.path == keys_dir / "kek.json"
    assert (mode(keys_dir), mode(ring.path)) == (0o700, 0o600)
    assert ring.ids() == [ring.current_id]
    assert ring.current_id.startswith("kek-")
    document = json.loads(ring.path.read_text())
    assert len(base64.b64decode(document["keys"][ring.current_id]["key"])) == 32


def test_opening_again_keeps_the_same_keys(keys_dir: Path) -> None:
    first = KeyRing.open(keys_dir / "kek.json", create=True)
    second = KeyRing.open(keys_dir / "kek.json", create=True)

    kek_id, wrapped = first.wrap(b"k" * 32, b"ctx")

    assert second.unwrap(kek_id, wrapped, b"ctx") == b"k" * 32


def test_a_named_keyring_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(KeyRingError, match="no keyring file"):
        open_envelope_cipher(str(tmp_path / "keys"), kek_file=str(tmp_path / "missing.json"))
    assert not (tmp_path / "keys" / "kek.json").exists()


def test_a_named_keyring_file_is_used_instead_of_the_keys_directory(tmp_path: Path) -> None:
    KeyRing.open(tmp_path / "elsewhere" / "ring.json", create=True)

    opened = open_envelope_cipher(str(tmp_path / "keys"), kek_file=str(tmp_path / "elsewhere" / "ring.json"))

    assert opened.keys.keyring.path == tmp_path / "elsewhere" / "ring.json"
    assert not (tmp_path / "keys" / "kek.json").exists()
    assert opened.decrypt(TENANT_A, opened.encrypt(TENANT_A, "x")) == "x"
    opened.close()


@pytest.mark.parametrize(
    "content",
    ["not json", "{}", '{"current": "a", "keys": {}}', '{"current": "a", "keys": {"a": {"key": "c2hvcnQ="}}}'],
)
def test_a_malformed_keyring_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "kek.json"
    path.write_text(content)

    with pytest.raises(KeyRingError, match="keyring"):
        KeyRing.open(path, create=False)


def test_a_data_key_opens_only_with_its_context_and_a_known_kek(keys_dir: Path) -> None:
    ring = KeyRing.open(keys_dir / "kek.json", create=True)
    kek_id, wrapped = ring.wrap(b"d" * 32, b"dek|a|1")

    with pytest.raises(KeyRingError, match="failed to open"):
        ring.unwrap(kek_id, wrapped, b"dek|b|1")
    with pytest.raises(KeyRingError, match="no key"):
        ring.unwrap("kek-unknown", wrapped, b"dek|a|1")


def test_a_new_current_kek_keeps_the_old_ones_until_retired_and_other_processes_see_it(keys_dir: Path) -> None:
    ring = KeyRing.open(keys_dir / "kek.json", create=True)
    other = KeyRing.open(keys_dir / "kek.json", create=False)
    old_id, wrapped = ring.wrap(b"d" * 32, b"ctx")

    new_id = ring.add_current()

    assert other.current_id == new_id != old_id
    assert other.unwrap(old_id, wrapped, b"ctx") == b"d" * 32
    with pytest.raises(KeyRingError, match="current"):
        ring.remove(new_id)
    other.remove(old_id)
    assert ring.ids() == [new_id]
    assert mode(ring.path) == 0o600
    with pytest.raises(KeyRingError, match="no key"):
        ring.unwrap(old_id, wrapped, b"ctx")


def test_no_repr_shows_a_key(cipher: EnvelopeCipher) -> None:
    key = cipher.keys.current(TENANT_A)
    shown = " ".join([repr(cipher), repr(cipher.keys), repr(cipher.keys.keyring), repr(key)])

    assert key.secret.hex() not in shown
    assert base64.b64encode(key.secret).decode() not in shown
    assert "secret" not in repr(key)


# Data keys


def test_each_owner_gets_one_data_key_shared_by_every_process(keys_dir: Path, cipher: EnvelopeCipher) -> None:
    other = reopen(keys_dir)

    a, b, platform = (cipher.keys.current(owner) for owner in (TENANT_A, TENANT_B, "platform"))

    assert len({a.key_id, b.key_id, platform.key_id}) == 3
    assert other.keys.current(TENANT_A) == a
    assert len(a.secret) == 32
    assert keys_url(str(keys_dir)) == f"sqlite:///{keys_dir / 'keys.db'}"
    assert mode(keys_dir / "keys.db") == 0o600
    other.close()


def test_a_key_is_only_found_for_its_own_owner(cipher: EnvelopeCipher) -> None:
    a = cipher.keys.current(TENANT_A)

    with pytest.raises(FieldDecryptionError):
        cipher.keys.by_id(TENANT_B, a.key_id)
    with pytest.raises(FieldDecryptionError):
        cipher.keys.by_id(TENANT_A, "0" * 32)


def test_a_destroyed_key_is_gone_for_good_and_never_replaced(keys_dir: Path, cipher: EnvelopeCipher) -> None:
    a = cipher.keys.current(TENANT_A)
    wrapped = _wrapped(cipher.keys, TENANT_A)
    cipher.keys.current(TENANT_B)

    cipher.destroy_data_key(TENANT_A)
    cipher.destroy_data_key(TENANT_A)  # idempotent

    for store in (cipher.keys, reopen(keys_dir).keys):
        with pytest.raises(KeyErasedError):
            store.current(TENANT_A)
        with pytest.raises(KeyErasedError):
            store.by_id(TENANT_A, a.key_id)
        assert store.current(TENANT_B).owner == TENANT_B
    raw = (keys_dir / "keys.db").read_bytes()
    assert wrapped not in raw
    assert a.secret not in raw


def test_destroyed_keys_leave_no_bytes_behind_in_the_key_database_file(keys_dir: Path, cipher: EnvelopeCipher) -> None:
    owners = [f"tenant-{i}" for i in range(20)]
    for owner in owners:
        cipher.keys.current(owner)
    wrapped = {owner: _wrapped(cipher.keys, owner) for owner in owners}

    for owner in owners[3:15]:
        cipher.destroy_data_key(owner)

    raw = (keys_dir / "keys.db").read_bytes()
    assert [owner for owner in owners[3:15] if wrapped[owner] in raw] == []
    assert all(wrapped[owner] in raw for owner in owners[15:])  # the scan looks at the right bytes


def test_destroying_an_owner_that_never_had_a_key_stops_one_being_made(cipher: EnvelopeCipher) -> None:
    cipher.destroy_data_key(TENANT_B)

    with pytest.raises(KeyErasedError):
        cipher.encrypt(TENANT_B, "anything")


def test_without_a_cache_a_key_destroyed_elsewhere_is_gone_at_once(keys_dir: Path, cipher: EnvelopeCipher) -> None:
    uncached = reopen(keys_dir, cache_seconds=0)
    token = uncached.encrypt(TENANT_A, "Alice")

    cipher.destroy_data_key(TENANT_A)

    with pytest.raises(KeyErasedError):
        uncached.decrypt(TENANT_A, token)
    uncached.close()


# The field cipher


@pytest.mark.parametrize("value", ["Alice Liddell", "", ["a", 1, None], {"k": {"n": 2.5}}, None, 42, True])
def test_any_json_value_round_trips_and_never_shows_in_the_token(cipher: EnvelopeCipher, value: object) -> None:
    token = cipher.encrypt(TENANT_A, value)

    assert cipher.decrypt(TENANT_A, token) == value
    assert token.startswith("v1.")
    assert "Alice" not in token


def test_sealing_the_same_value_twice_gives_different_tokens(cipher: EnvelopeCipher) -> None:
    assert cipher.encrypt(TENANT_A, "same") != cipher.encrypt(TENANT_A, "same")


def test_a_token_does_not_open_for_another_tenant_or_when_altered(cipher: EnvelopeCipher) -> None:
    token = cipher.encrypt(TENANT_A, "Alice")
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]

    for tenant, bad in ((TENANT_B, token), (TENANT_A, flipped), (TENANT_A, "plain text"), (TENANT_A, "v1.x.!!")):
        with pytest.raises(FieldDecryptionError):
            cipher.decrypt(tenant, bad)


def test_tenantless_values_use_the_platform_key_which_no_tenant_erasure_touches(cipher: EnvelopeCipher) -> None:
    token = cipher.encrypt(None, "Platform Admin")
    tenant_token = cipher.encrypt(TENANT_A, "Alice")

    cipher.destroy_data_key(TENANT_A)

    assert cipher.decrypt(None, token) == "Platform Admin"
    with pytest.raises(KeyErasedError):
        cipher.decrypt(TENANT_A, tenant_token)
    with pytest.raises(FieldDecryptionError):
        cipher.decrypt(TENANT_B, token)


def test_a_fingerprint_tells_values_apart_without_being_a_plain_hash(cipher: EnvelopeCipher) -> None:
    first = cipher.fingerprint(TENANT_A, "s3cret")

    assert first == cipher.fingerprint(TENANT_A, "s3cret")
    assert first != cipher.fingerprint(TENANT_A, "s3cret2")
    assert first != cipher.fingerprint(TENANT_B, "s3cret")
    assert first.startswith("hmac-sha256:")
    digest = first.split(":", 1)[1]
    for plain in (hashlib.sha256(b"s3cret").hexdigest(), hashlib.md5(b"s3cret").hexdigest(), b"s3cret".hex()):
        assert digest not in plain


# KEK rotation


def test_rotation_rewraps_every_live_key_and_the_old_kek_can_then_be_retired(keys_dir: Path) -> None:
    cipher = reopen(keys_dir, cache_seconds=0)
    tokens = {owner: cipher.encrypt(owner, f"value of {owner}") for owner in (TENANT_A, TENANT_B, None)}
    cipher.destroy_data_key(TENANT_B)

    rotation = rotate_kek(cipher.keys)

    assert rotation.rewrapped == 2
    assert cipher.keys.count_wrapped_by(rotation.previous) == 0
    with pytest.raises(KeyRingError, match="current"):
        retire_kek(cipher.keys, rotation.kek_id)
    retire_kek(cipher.keys, rotation.previous)
    fresh = reopen(keys_dir, cache_seconds=0)
    assert fresh.keys.keyring.ids() == [rotation.kek_id]
    assert fresh.decrypt(TENANT_A, tokens[TENANT_A]) == f"value of {TENANT_A}"
    assert fresh.decrypt(None, tokens[None]) == "value of None"
    with pytest.raises(KeyErasedError):
        fresh.decrypt(TENANT_B, tokens[TENANT_B])
    cipher.close()
    fresh.close()


def _wrapped(store: DataKeyStore, owner: str) -> bytes:
    with store.engine.connect() as connection:
        row = connection.execute(data_keys.select().where(data_keys.c.owner == owner)).one()
    return bytes(row.wrapped)
