"""Dataset files sealed at rest: the streaming envelope round-trips, hides the plaintext, and fails loudly on any
alteration. That the store seals on write, opens and hash-checks on read, and dedupes by the plaintext's hash is
checked on both backends in tests/integration/test_dataset_store_backends.py."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from adapters.datasets import sealing
from adapters.datasets.sealing import SEGMENT, TAG, SealedFileError
from adapters.keys.datakeys import DataKeyStore
from eventstore.cipher import KeyErasedError
from tests.data_keys import data_keys

TENANT = "7c0e7a36-5a1b-4a43-9a51-0a1d0c8f1e01"
OTHER = "0d7e1c55-2b0a-4c3e-8f6d-1e2a3b4c5d6e"


@pytest.fixture
def keys(tmp_path: Path) -> DataKeyStore:
    return data_keys(tmp_path / "keys")


def sealed_bytes(keys: DataKeyStore, plain: bytes, owner: str = TENANT) -> bytes:
    sink = io.BytesIO()
    sealing.seal(io.BytesIO(plain), sink, keys.current(owner))
    return sink.getvalue()


def opened(keys: DataKeyStore, sealed: bytes, owner: str = TENANT) -> bytes:
    return b"".join(sealing.unseal(io.BytesIO(sealed), keys, owner))


def header_length(sealed: bytes) -> int:
    return len(sealing.read_header(io.BytesIO(sealed)).raw)


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 7])
def test_any_size_round_trips_and_its_plaintext_size_follows_from_the_layout(keys: DataKeyStore, size: int) -> None:
    plain = os.urandom(size)
    sealed = sealed_bytes(keys, plain)
    assert opened(keys, sealed) == plain
    header = sealing.read_header(io.BytesIO(sealed))
    assert sealing.plaintext_size(header, len(sealed)) == size
    assert (header.owner, header.segment) == (TENANT, SEGMENT)


def test_the_sealed_bytes_hold_no_plaintext_and_differ_each_time(keys: DataKeyStore) -> None:
    plain = b"order_id,customer_email\n" + b"".join(b"%d,person%d@example.com\n" % (i, i) for i in range(5000))
    first, second = sealed_bytes(keys, plain), sealed_bytes(keys, plain)
    assert b"@example.com" not in first
    assert b"customer_email" not in first
    assert first != second  # a fresh salt, so a fresh file key, every time


def altered(sealed: bytes, how: str) -> bytes:
    start = header_length(sealed)
    whole = SEGMENT + TAG
    segments = [sealed[i : i + whole] for i in range(start, len(sealed), whole)]
    if how == "flipped":
        index = start + whole + 5
        return sealed[:index] + bytes([sealed[index] ^ 1]) + sealed[index + 1 :]
    if how == "last segment dropped":
        return sealed[: start + whole * (len(segments) - 1)]
    if how == "one byte cut":
        return sealed[:-1]
    if how == "segments swapped":
        return sealed[:start] + segments[1] + segments[0] + b"".join(segments[2:])
    if how == "segment repeated":
        return sealed[:start] + segments[0] + b"".join(segments)
    assert how == "salt changed"
    return sealed[: start - 1] + bytes([sealed[start - 1] ^ 1]) + sealed[start:]


@pytest.mark.parametrize(
    "how",
    ["flipped", "last segment dropped", "one byte cut", "segments swapped", "segment repeated", "salt changed"],
)
def test_any_alteration_fails_authentication(keys: DataKeyStore, how: str) -> None:
    sealed = sealed_bytes(keys, os.urandom(3 * SEGMENT + 100))
    with pytest.raises(SealedFileError, match="failed authentication"):
        opened(keys, altered(sealed, how))


def test_a_file_of_one_owner_does_not_open_as_anothers(keys: DataKeyStore) -> None:
    sealed = sealed_bytes(keys, b"id\n1\n")
    with pytest.raises(SealedFileError, match="belongs to"):
        opened(keys, sealed, OTHER)


def test_a_header_rewritten_to_another_owner_does_not_open(keys: DataKeyStore) -> None:
    keys.current(OTHER)
    sealed = sealed_bytes(keys, b"id\n1\n")
    rewritten = sealed.replace(TENANT.encode(), OTHER.encode(), 1)
    with pytest.raises(SealedFileError, match="not in the key store"):
        opened(keys, rewritten, OTHER)


def test_once_the_data_key_is_destroyed_the_file_never_opens_again(keys: DataKeyStore) -> None:
    sealed = sealed_bytes(keys, b"id\n1\n")
    assert not keys.destroyed(TENANT)
    keys.destroy(TENANT)
    assert keys.destroyed(TENANT)
    assert not keys.destroyed(OTHER)
    with pytest.raises(KeyErasedError):
        opened(keys, sealed)


def test_something_else_is_not_taken_for_a_sealed_file(keys: DataKeyStore) -> None:
    with pytest.raises(SealedFileError, match="not a sealed dataset file"):
        opened(keys, b"PDSEAL\x07" + bytes(100))
    with pytest.raises(SealedFileError, match="too short"):
        opened(keys, b"PDS")
