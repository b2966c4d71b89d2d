"""The dataset store's suite, run against both backends: local disk and an S3 server (moto, its own process).

Landing, dedupe, write-once, hash checks on read, sealing at rest, sealing files written before sealing existed,
and erasure behave the same on both. A test reaches the stored bytes only through ``Backend`` (to read or alter
them as an attacker or a disk fault would), never through the store's insides. What only local disk has (read-only
modes, hard links, devices) stays in tests/unit/test_dataset_store.py.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from adapters.datasets.migration import encrypt_datasets
from adapters.datasets.scratch import work_directory
from adapters.datasets.sealing import MAGIC, SEGMENT
from adapters.datasets.store import (
    CHUNK,
    STAGES,
    AlreadyStoredError,
    DatasetStore,
    IntegrityError,
    StoredFile,
    Upload,
)
from tests import s3
from tests.data_keys import data_keys

TENANT = "7c0e7a36-5a1b-4a43-9a51-0a1d0c8f1e01"
OTHER = "0d7e1c55-2b0a-4c3e-8f6d-1e2a3b4c5d6e"
DATA = b"id,name\n1,a\n"
SHA = hashlib.sha256(DATA).hexdigest()
KEY = f"{TENANT}/raw/{SHA[:2]}/{SHA}.csv"


@dataclass
class Backend:
    """A store and a direct handle on the same files, for a test to read or alter what is stored."""

    store: DatasetStore
    filesystem: pafs.FileSystem
    base: str
    scratch: Path

    def stored_bytes(self, key: str) -> bytes:
        with self.filesystem.open_input_stream(f"{self.base}/{key}", compression=None) as stream:
            return bytes(stream.read())

    def overwrite(self, key: str, data: bytes) -> None:
        """Writes ``data`` at ``key`` behind the store's back (a stored local file is read-only: made writable)."""
        path = f"{self.base}/{key}"
        if isinstance(self.filesystem, pafs.LocalFileSystem):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if Path(path).exists():
                Path(path).chmod(0o640)
        with self.filesystem.open_output_stream(path, compression=None) as sink:
            sink.write(data)

    def flip_byte(self, key: str, index: int) -> None:
        data = bytearray(self.stored_bytes(key))
        data[index] ^= 0xFF
        self.overwrite(key, bytes(data))

    def stored_keys(self) -> list[str]:
        found = self.filesystem.get_file_info(pafs.FileSelector(self.base, allow_not_found=True, recursive=True))
        return sorted(i.path[len(self.base) + 1 :] for i in found if i.type == pafs.FileType.File)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    scratch = tmp_path / "scratch"
    if request.param == "local":
        root = tmp_path / "datasets"
        store = DatasetStore.open(str(root), scratch, data_keys(tmp_path / "keys"))
        return Backend(store, pafs.LocalFileSystem(), str(root), scratch)
    url = request.getfixturevalue("s3_server").fresh_bucket_url()
    store = DatasetStore.open(url, scratch, data_keys(tmp_path / "keys"))
    filesystem, base = pafs.FileSystem.from_uri(url)
    return Backend(store, filesystem, base, scratch)


@pytest.fixture
def store(backend: Backend) -> DatasetStore:
    return backend.store


@pytest.fixture
def scratch(backend: Backend) -> Path:
    return backend.scratch


def upload(store: DatasetStore, data: bytes, max_bytes: int = 1 << 30, chunk: int = 5) -> Upload:
    received = store.receive(max_bytes)
    for start in range(0, len(data), chunk):
        received.write(data[start : start + chunk])
    return received


def leftovers(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def test_land_puts_the_upload_at_its_content_key(store: DatasetStore, backend: Backend, scratch: Path) -> None:
    stored = store.land(upload(store, DATA), TENANT, "raw", ".csv")
    assert stored == StoredFile(KEY, SHA, len(DATA), existed=False)
    assert store.read_verified(KEY, SHA) == DATA
    assert store.exists(KEY)
    assert backend.stored_keys() == [KEY]
    assert leftovers(scratch) == []


def test_landing_the_same_bytes_twice_writes_once(store: DatasetStore, backend: Backend, scratch: Path) -> None:
    first = store.land(upload(store, DATA), TENANT, "raw", ".csv")
    before = backend.stored_bytes(KEY)
    second = store.land(upload(store, DATA, chunk=3), TENANT, "raw", ".csv")
    assert (first.existed, second.existed) == (False, True)
    assert backend.stored_bytes(KEY) == before  # sealed anew, the bytes would differ: nothing was written
    assert backend.stored_keys() == [KEY]
    assert leftovers(scratch) == []


def test_a_different_size_at_the_content_key_is_never_replaced(store: DatasetStore, backend: Backend) -> None:
    store.land(upload(store, DATA), TENANT, "raw", ".csv")
    backend.overwrite(KEY, b"short")
    with pytest.raises(IntegrityError, match="never replaced"):
        store.land(upload(store, DATA), TENANT, "raw", ".csv")
    assert backend.stored_bytes(KEY) == b"short"


def test_an_upload_used_as_a_context_discards_unless_landed(store: DatasetStore) -> None:
    with pytest.raises(RuntimeError), upload(store, DATA) as received:
        raise RuntimeError("the client went away")
    assert not received.path.exists()
    with upload(store, DATA) as received:
        store.land(received, TENANT, "raw", ".csv")
    assert store.read_verified(KEY, SHA) == DATA


def test_a_large_upload_is_landed_intact(store: DatasetStore) -> None:
    data = os.urandom(2 * CHUNK + 123)
    stored = store.land(upload(store, data, chunk=64 << 10), TENANT, "raw", ".parquet")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.bytes == len(data)
    assert store.read_verified(stored.key, stored.sha256) == data


def test_put_file_consumes_the_source(store: DatasetStore, tmp_path: Path) -> None:
    produced = tmp_path / "out.csv"
    produced.write_bytes(DATA)
    stored = store.put_file(produced, TENANT, "raw", ".csv")
    assert (stored.key, stored.sha256, stored.existed) == (KEY, SHA, False)
    assert not produced.exists()
    again = tmp_path / "again.csv"
    again.write_bytes(DATA)
    assert store.put_file(again, TENANT, "raw", ".csv").existed
    assert not again.exists()
    assert store.read_verified(KEY, SHA) == DATA


def test_put_bytes_writes_once_at_an_explicit_key(store: DatasetStore, backend: Backend) -> None:
    key = f"{TENANT}/published/orders/v1/manifest.json"
    assert store.put_bytes(key, b"{}") == StoredFile(key, hashlib.sha256(b"{}").hexdigest(), 2, existed=False)
    written = backend.stored_bytes(key)
    assert store.put_bytes(key, b"{}").existed
    with pytest.raises(AlreadyStoredError):
        store.put_bytes(key, b"[]")
    with pytest.raises(AlreadyStoredError):
        store.put_bytes(key, b"{ }")
    assert store.read_verified(key, hashlib.sha256(b"{}").hexdigest()) == b"{}"
    assert backend.stored_bytes(key) == written
    assert written.startswith(MAGIC)  # sealed where stored, not the plain bytes


def test_verified_hands_out_the_stored_file_after_checking_it(
    store: DatasetStore, backend: Backend, scratch: Path
) -> None:
    stored = store.land(upload(store, DATA), TENANT, "raw", ".csv")
    with store.verified(stored.key, stored.sha256) as path:
        assert path.is_relative_to(scratch)  # the plaintext, opened into scratch
        assert path.read_bytes() == DATA
    assert leftovers(scratch) == []
    assert DATA not in backend.stored_bytes(KEY)
    assert store.read_verified(KEY, SHA) == DATA


def test_a_tampered_file_is_never_served(store: DatasetStore, backend: Backend) -> None:
    store.land(upload(store, DATA), TENANT, "raw", ".csv")
    backend.overwrite(KEY, DATA.replace(b"a", b"b"))
    with pytest.raises(IntegrityError, match="SHA-256"), store.verified(KEY, SHA):
        pytest.fail("a tampered file was served")
    with pytest.raises(IntegrityError):
        store.read_verified(KEY, SHA)


def test_a_wrong_recorded_hash_is_an_integrity_error(store: DatasetStore) -> None:
    store.land(upload(store, DATA), TENANT, "raw", ".csv")
    with pytest.raises(IntegrityError):
        store.read_verified(KEY, hashlib.sha256(b"other").hexdigest())


def test_a_missing_file_is_an_integrity_error_saying_missing(store: DatasetStore) -> None:
    assert not store.exists(KEY)
    with pytest.raises(IntegrityError, match="missing"):
        store.read_verified(KEY, SHA)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_takes_files(store: DatasetStore, stage: str) -> None:
    stored = store.land(upload(store, DATA), TENANT, stage, "")
    assert stored.key == f"{TENANT}/{stage}/{SHA[:2]}/{SHA}"
    assert store.read_verified(stored.key, SHA) == DATA


def test_the_store_seals_what_it_lands_and_hands_back_the_plaintext(
    store: DatasetStore, backend: Backend, tmp_path: Path
) -> None:
    plain = b"order_id,customer_email\n" + b"".join(b"%d,p%d@example.com\n" % (i, i) for i in range(40_000))
    produced = tmp_path / "batch.csv"
    produced.write_bytes(plain)
    stored = store.put_file(produced, TENANT, "raw", ".csv")
    assert stored.sha256 == hashlib.sha256(plain).hexdigest()  # the plaintext's hash: lineage and dedupe hold
    assert b"@example.com" not in backend.stored_bytes(stored.key)
    assert store.is_sealed(stored.key)
    assert store.read_verified(stored.key, stored.sha256) == plain
    again = tmp_path / "again.csv"
    again.write_bytes(plain)
    assert store.put_file(again, TENANT, "raw", ".csv").existed  # same plaintext, same key: stored once


def test_a_sealed_file_moved_into_another_tenants_folder_is_refused(store: DatasetStore, backend: Backend) -> None:
    stored = store.put_bytes(f"{TENANT}/gdp/ab/golden.parquet", b"golden rows")
    moved = f"{OTHER}/gdp/ab/golden.parquet"
    backend.overwrite(moved, backend.stored_bytes(stored.key))
    with pytest.raises(IntegrityError, match="belongs to"):
        store.read_verified(moved, stored.sha256)


def test_blobs_stay_as_they_are(store: DatasetStore, backend: Backend) -> None:
    stored = store.put_bytes(f"{TENANT}/blobs/ab/contract.json", b'{"kind": "DataContract"}')
    assert backend.stored_bytes(stored.key) == b'{"kind": "DataContract"}'
    assert not store.is_sealed(stored.key)


def test_deleting_a_tenants_files_takes_its_stages_and_scratch_and_leaves_the_rest(
    store: DatasetStore, backend: Backend, scratch: Path
) -> None:
    for stage in ("raw", "gdp", "kpi", "published", "exports"):
        store.put_bytes(f"{TENANT}/{stage}/ab/file", f"{stage} rows".encode())
    store.put_bytes(f"{OTHER}/raw/ab/file", b"other rows")
    blob = store.put_bytes(f"{TENANT}/blobs/ab/contract.json", b"{}")
    with (
        store.receive(100, TENANT) as held,
        store.receive(100, OTHER) as others,
        work_directory(scratch, TENANT) as work,
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
    assert backend.stored_keys() == sorted([blob.key, f"{OTHER}/raw/ab/file"])
    assert store.delete_tenant_files(TENANT) == 0


def test_a_sealed_parquet_file_is_read_in_place_by_seeking(store: DatasetStore, scratch: Path, tmp_path: Path) -> None:
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
    assert list((scratch / "downloads").glob("*")) == []  # no plaintext copy made


def test_a_stream_is_handed_out_only_after_the_hash_matched(store: DatasetStore, backend: Backend) -> None:
    stored = store.put_bytes(f"{TENANT}/kpi/ab/kpis.parquet", b"kpi rows" * 20_000)
    with pytest.raises(IntegrityError, match="SHA-256"), store.opened(stored.key, "0" * 64):
        pytest.fail("a stream was handed out for another hash")
    backend.flip_byte(stored.key, len(backend.stored_bytes(stored.key)) // 2)
    with pytest.raises(IntegrityError, match="failed to open"), store.opened(stored.key, stored.sha256):
        pytest.fail("an altered file was handed out")


def test_files_written_before_sealing_are_sealed_in_place(store: DatasetStore, backend: Backend) -> None:
    plain = b"id,customer_email\n1,a@example.com\n" * 3000
    sha = hashlib.sha256(plain).hexdigest()
    key = f"{TENANT}/gdp/{sha[:2]}/{sha}.csv"
    backend.overwrite(key, plain)  # as the store wrote it before sealing existed
    done = encrypt_datasets(store, lambda line: None)
    assert (done.sealed, done.already) == (1, 0)
    assert b"@example.com" not in backend.stored_bytes(key)
    assert store.read_verified(key, sha) == plain
    assert backend.stored_keys() == [key]  # nothing left beside it
    assert encrypt_datasets(store, lambda line: None).already == 1


@pytest.fixture
def s3_client(s3_server: s3.S3Server) -> Iterator[Any]:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{s3_server.endpoint}",
        aws_access_key_id=s3.ACCESS_KEY,
        aws_secret_access_key=s3.SECRET_KEY,
        region_name="us-east-1",
    )
    yield client
    client.close()


@pytest.mark.s3
def test_a_file_over_the_part_size_is_uploaded_in_parts(s3_server: s3.S3Server, s3_client: Any, tmp_path: Path) -> None:
    url = s3_server.fresh_bucket_url(prefix="lake")
    store = DatasetStore.open(url, tmp_path / "scratch", data_keys(tmp_path / "keys"))
    data = os.urandom(24 << 20)  # over pyarrow's part size (10 MiB in pyarrow 26; 5 MiB is S3's least)
    stored = store.land(upload(store, data, chunk=1 << 20), TENANT, "raw", ".parquet")
    bucket = url.split("@", 1)[1].split("/", 1)[0]
    head = s3_client.head_object(Bucket=bucket, Key=f"lake/{stored.key}")
    parts = head["ETag"].strip('"').rsplit("-", 1)[1]  # a multipart upload's ETag ends in its number of parts
    assert int(parts) >= 2
    assert store.read_verified(stored.key, stored.sha256) == data
