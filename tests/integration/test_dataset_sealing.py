"""Dataset files sealed at rest: the streaming envelope round-trips, hides the plaintext, and fails loudly on any
alteration; the store seals on write, opens and hash-checks on read, and dedupes by the plaintext's hash."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.datasets import sealing
from adapters.datasets.scratch import work_directory
from adapters.datasets.sealing import SEGMENT, TAG, SealedFileError
from adapters.datasets.store import DatasetStore, IntegrityError
from adapters.keys.datakeys import DataKeyStore
from eventstore.cipher import KeyErasedError
from tests.data_keys import data_keys

TENANT = "7c0e7a36-5a1b-4a43-9a51-0a1d0c8f1e01"
OTHER = "0d7e1c55-2b0a-4c3e-8f6d-1e2a3b4c5d6e"


@pytest.fixture
def keys(tmp_path: Path) -> DataKeyStore:
    return data_keys(tmp_path / "keys")


@pytest.fixture
def store(tmp_path: Path, keys: DataKeyStore) -> DatasetStore:
    return DatasetStore.open(str(tmp_path / "datasets"), tmp_path / "scratch", keys)


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


def test_the_store_seals_what_it_lands_and_hands_back_the_plaintext(store: DatasetStore, tmp_path: Path) -> None:
    plain = b"order_id,customer_email\n" + b"".join(b"%d,p%d@example.com\n" % (i, i) for i in range(40_000))
    produced = tmp_path / "batch.csv"
    produced.write_bytes(plain)
    stored = store.put_file(produced, TENANT, "raw", ".csv")
    assert stored.sha256 == hashlib.sha256(plain).hexdigest()  # the plaintext's hash: lineage and dedupe hold
    on_disk = (tmp_path / "datasets" / stored.key).read_bytes()
    assert b"@example.com" not in on_disk
    assert store.is_sealed(stored.key)
    assert store.read_verified(stored.key, stored.sha256) == plain
    again = tmp_path / "again.csv"
    again.write_bytes(plain)
    assert store.put_file(again, TENANT, "raw", ".csv").existed  # same plaintext, same key: stored once


def test_a_tampered_stored_file_is_never_served(store: DatasetStore, tmp_path: Path) -> None:
    stored = store.put_bytes(f"{TENANT}/exports/ab/export.csv", b"id,email\n1,a@example.com\n")
    path = tmp_path / "datasets" / stored.key
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.chmod(0o640)
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="failed to open"):
        store.read_verified(stored.key, stored.sha256)


def test_a_sealed_file_moved_into_another_tenants_folder_is_refused(store: DatasetStore, tmp_path: Path) -> None:
    stored = store.put_bytes(f"{TENANT}/gdp/ab/golden.parquet", b"golden rows")
    moved = f"{OTHER}/gdp/ab/golden.parquet"
    (tmp_path / "datasets" / moved).parent.mkdir(parents=True)
    (tmp_path / "datasets" / moved).write_bytes((tmp_path / "datasets" / stored.key).read_bytes())
    with pytest.raises(IntegrityError, match="belongs to"):
        store.read_verified(moved, stored.sha256)


def test_blobs_stay_as_they_are(store: DatasetStore, tmp_path: Path) -> None:
    stored = store.put_bytes(f"{TENANT}/blobs/ab/contract.json", b'{"kind": "DataContract"}')
    assert (tmp_path / "datasets" / stored.key).read_bytes() == b'{"kind": "DataContract"}'
    assert not store.is_sealed(stored.key)


def test_deleting_a_tenants_files_takes_its_stages_and_scratch_and_leaves_the_rest(
    store: DatasetStore, tmp_path: Path
) -> None:
    for stage in ("raw", "gdp", "kpi", "published", "exports"):
        store.put_bytes(f"{TENANT}/{stage}/ab/file", f"{stage} rows".encode())
    store.put_bytes(f"{OTHER}/raw/ab/file", b"other rows")
    blob = store.put_bytes(f"{TENANT}/blobs/ab/contract.json", b"{}")
    with (
        store.receive(100, TENANT) as held,
        store.receive(100, OTHER) as others,
        work_directory(tmp_path / "scratch", TENANT) as work,
    ):
        held.write(b"half an upload")
        (work / "table.parquet").write_bytes(b"half a table")
        assert store.delete_tenant_files(TENANT) == 5 + 2
        assert not held.path.exists()
        assert not work.exists()
        assert others.path.exists()
    assert list(store.keys_in(tenant_id=TENANT)) == []
    assert list(store.keys_in(tenant_id=OTHER)) == [f"{OTHER}/raw/ab/file"]
    assert store.exists(blob.key)  # contract documents stay: replay and the ledger need them
    assert store.delete_tenant_files(TENANT) == 0


def test_a_sealed_parquet_file_is_read_in_place_by_seeking(store: DatasetStore, tmp_path: Path) -> None:
    table = pa.table({"id": list(range(60_000)), "email": [f"p{i}@example.com" for i in range(60_000)]})
    produced = tmp_path / "golden.parquet"
    pq.write_table(table, produced, row_group_size=10_000)
    plain = produced.read_bytes()
    assert len(plain) > 3 * SEGMENT
    stored = store.put_file(produced, TENANT, "gdp", ".parquet")
    with store.opened(stored.key, stored.sha256) as stream:
        assert pq.read_table(stream).equals(table)
        stream.seek(-100, io.SEEK_END)
        assert stream.read() == plain[-100:]
        stream.seek(SEGMENT - 10)
        assert stream.read(SEGMENT + 20) == plain[SEGMENT - 10 : 2 * SEGMENT + 10]
    assert list((tmp_path / "scratch" / "downloads").glob("*")) == []  # no plaintext copy made


def test_a_stream_is_handed_out_only_after_the_hash_matched(store: DatasetStore, tmp_path: Path) -> None:
    stored = store.put_bytes(f"{TENANT}/kpi/ab/kpis.parquet", b"kpi rows" * 20_000)
    with pytest.raises(IntegrityError, match="SHA-256"), store.opened(stored.key, "0" * 64):
        pytest.fail("a stream was handed out for another hash")
    path = tmp_path / "datasets" / stored.key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.chmod(0o640)
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="failed to open"), store.opened(stored.key, stored.sha256):
        pytest.fail("an altered file was handed out")
