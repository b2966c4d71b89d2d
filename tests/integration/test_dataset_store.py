"""The dataset store on local disk: content-addressed landing, write-once, verified reads, key rules.

Files live under tmp_path; no server, no network. The S3 backend shares the code paths but needs a server, so
only its URL parsing is checked here.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import pytest
from pyarrow import fs as pafs

from adapters.datasets.store import (
    CHUNK,
    STAGES,
    AlreadyStoredError,
    DatasetError,
    DatasetStore,
    IntegrityError,
    StoredFile,
    TooLargeError,
    Upload,
)
from adapters.keys.datakeys import DataKeyStore
from tests.data_keys import data_keys

TENANT = "7c0e7a36-5a1b-4a43-9a51-0a1d0c8f1e01"
DATA = b"id,name\n1,a\n"
SHA = hashlib.sha256(DATA).hexdigest()
KEY = f"{TENANT}/raw/{SHA[:2]}/{SHA}.csv"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "datasets"


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path / "scratch"


@pytest.fixture
def keys(tmp_path: Path) -> DataKeyStore:
    return data_keys(tmp_path / "keys")


@pytest.fixture
def store(root: Path, scratch: Path, keys: DataKeyStore) -> DatasetStore:
    return DatasetStore.open(str(root), scratch, keys)


def upload(store: DatasetStore, data: bytes, max_bytes: int = 1 << 30, chunk: int = 5) -> Upload:
    received = store.receive(max_bytes)
    for start in range(0, len(data), chunk):
        received.write(data[start : start + chunk])
    return received


def tamper(path: Path, data: bytes) -> None:
    path.chmod(0o640)
    path.write_bytes(data)


def plaintext(store: DatasetStore, path: Path) -> bytes:
    """What the stored file at ``path`` holds once opened (raw files are sealed: never the plaintext on disk)."""
    key = path.relative_to(path.parents[3]).as_posix()
    return store.read_verified(key, path.name.split(".")[0])


def leftovers(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def test_an_upload_hashes_and_counts_what_it_writes(store: DatasetStore) -> None:
    received = upload(store, DATA)
    assert (received.sha256, received.bytes) == (SHA, len(DATA))
    received.finish()
    assert received.path.read_bytes() == DATA


def test_land_puts_the_upload_at_its_content_key(store: DatasetStore, root: Path, scratch: Path) -> None:
    stored = store.land(upload(store, DATA), TENANT, "raw", ".csv")
    assert stored == StoredFile(KEY, SHA, len(DATA), existed=False)
    assert plaintext(store, root / KEY) == DATA
    assert store.exists(KEY)
    assert leftovers(scratch) == []


def test_landing_the_same_bytes_twice_writes_once(store: DatasetStore, root: Path, scratch: Path) -> None:
    first = store.land(upload(store, DATA), TENANT, "raw", ".csv")
    before = (root / KEY).stat()
    second = store.land(upload(store, DATA, chunk=3), TENANT, "raw", ".csv")
    assert (first.existed, second.existed) == (False, True)
    assert second.key == first.key
    after = (root / KEY).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert leftovers(scratch) == []
    assert leftovers(root) == [root / KEY]


def test_stored_files_are_read_only(store: DatasetStore, root: Path) -> None:
    store.land(upload(store, DATA), TENANT, "raw", ".csv")
    assert stat.S_IMODE((root / KEY).stat().st_mode) & 0o222 == 0


def test_a_different_size_at_the_content_key_is_never_replaced(store: DatasetStore, root: Path) -> None:
    store.land(upload(store, DATA), TENANT, "raw", ".csv")
    tamper(root / KEY, b"short")
    with pytest.raises(IntegrityError, match="never replaced"):
        store.land(upload(store, DATA), TENANT, "raw", ".csv")
    assert (root / KEY).read_bytes() == b"short"


def test_an_upload_past_its_limit_is_refused_and_discarded(store: DatasetStore) -> None:
    received = store.receive(max_bytes=8)
    received.write(b"12345")
    with pytest.raises(TooLargeError) as caught:
        received.write(b"6789")
    assert caught.value.limit == 8
    assert not received.path.exists()
    with pytest.raises(DatasetError):
        store.land(received, TENANT, "raw", ".csv")


def test_an_upload_used_as_a_context_discards_unless_landed(store: DatasetStore, root: Path) -> None:
    with pytest.raises(RuntimeError), upload(store, DATA) as received:
        raise RuntimeError("the client went away")
    assert not received.path.exists()
    with upload(store, DATA) as received:
        store.land(received, TENANT, "raw", ".csv")
    assert plaintext(store, root / KEY) == DATA


def test_a_landed_upload_cannot_be_landed_again(store: DatasetStore) -> None:
    received = upload(store, DATA)
    store.land(received, TENANT, "raw", ".csv")
    with pytest.raises(DatasetError):
        store.land(received, TENANT, "gdp", ".csv")


def test_a_large_upload_is_landed_intact(store: DatasetStore) -> None:
    data = os.urandom(2 * CHUNK + 123)
    stored = store.land(upload(store, data, chunk=64 << 10), TENANT, "raw", ".parquet")
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.bytes == len(data)
    assert store.read_verified(stored.key, stored.sha256) == data


def test_landing_copies_across_devices_when_a_link_cannot(
    store: DatasetStore, root: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_link = os.link

    def link_within_a_device(source: Path, target: Path) -> None:
        if Path(source).is_relative_to(scratch):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(source, target)

    monkeypatch.setattr(os, "link", link_within_a_device)
    stored = store.land(upload(store, DATA), TENANT, "raw", ".csv")
    assert (stored.key, stored.existed) == (KEY, False)
    assert leftovers(root) == [root / KEY]
    assert leftovers(scratch) == []
    assert store.land(upload(store, DATA), TENANT, "raw", ".csv").existed


def test_put_file_consumes_the_source(store: DatasetStore, root: Path, tmp_path: Path) -> None:
    produced = tmp_path / "out.csv"
    produced.write_bytes(DATA)
    stored = store.put_file(produced, TENANT, "raw", ".csv")
    assert (stored.key, stored.sha256, stored.existed) == (KEY, SHA, False)
    assert not produced.exists()
    again = tmp_path / "again.csv"
    again.write_bytes(DATA)
    assert store.put_file(again, TENANT, "raw", ".csv").existed
    assert not again.exists()
    assert plaintext(store, root / KEY) == DATA


def test_put_file_leaves_the_source_when_refused(store: DatasetStore, tmp_path: Path) -> None:
    produced = tmp_path / "out.csv"
    produced.write_bytes(DATA)
    with pytest.raises(ValueError, match="stage"):
        store.put_file(produced, TENANT, "scratchpad", ".csv")
    assert produced.read_bytes() == DATA


def test_put_bytes_writes_once_at_an_explicit_key(store: DatasetStore, root: Path) -> None:
    key = f"{TENANT}/published/orders/v1/manifest.json"
    assert store.put_bytes(key, b"{}") == StoredFile(key, hashlib.sha256(b"{}").hexdigest(), 2, existed=False)
    assert store.put_bytes(key, b"{}").existed
    with pytest.raises(AlreadyStoredError):
        store.put_bytes(key, b"[]")
    with pytest.raises(AlreadyStoredError):
        store.put_bytes(key, b"{ }")
    assert store.read_verified(key, hashlib.sha256(b"{}").hexdigest()) == b"{}"
    assert b"{}" not in (root / key).read_bytes()


def test_verified_hands_out_the_stored_file_after_checking_it(store: DatasetStore, root: Path) -> None:
    stored = store.land(upload(store, DATA), TENANT, "raw", ".csv")
    with store.verified(stored.key, stored.sha256) as path:
        assert path != root / KEY  # the plaintext, opened into scratch
        assert path.read_bytes() == DATA
    assert DATA not in (root / KEY).read_bytes()
    assert store.read_verified(KEY, SHA) == DATA


def test_a_tampered_file_is_never_served(store: DatasetStore, root: Path) -> None:
    store.land(upload(store, DATA), TENANT, "raw", ".csv")
    tamper(root / KEY, DATA.replace(b"a", b"b"))
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


@pytest.mark.parametrize(
    "key",
    [
        "",
        f"/{TENANT}/raw/x.csv",
        f"{TENANT}/raw/../../x.csv",
        f"../{TENANT}/raw/x.csv",
        f"{TENANT}/unknown/x.csv",
        "/raw/x.csv",
        f"{TENANT}/raw",
        f"{TENANT}/raw/a//b.csv",
        f"{TENANT}/raw/./x.csv",
        f"{TENANT}\\raw\\x.csv",
    ],
)
def test_keys_outside_a_tenant_stage_are_refused(store: DatasetStore, key: str) -> None:
    with pytest.raises(ValueError, match="dataset key"):
        store.exists(key)
    with pytest.raises(ValueError, match="dataset key"):
        store.put_bytes(key, DATA)
    with pytest.raises(ValueError, match="dataset key"), store.verified(key, SHA):
        pass


@pytest.mark.parametrize(
    ("tenant_id", "stage", "suffix", "message"),
    [
        ("", "raw", ".csv", "tenant id"),
        ("a/b", "raw", ".csv", "tenant id"),
        ("..", "raw", ".csv", "tenant id"),
        (TENANT, "tmp", ".csv", "unknown stage"),
        (TENANT, "raw", "/x", "suffix"),
    ],
)
def test_landing_outside_a_tenant_stage_is_refused(
    store: DatasetStore, root: Path, tenant_id: str, stage: str, suffix: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.land(upload(store, DATA), tenant_id, stage, suffix)
    assert leftovers(root) == []


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_takes_files(store: DatasetStore, stage: str) -> None:
    stored = store.land(upload(store, DATA), TENANT, stage, "")
    assert stored.key == f"{TENANT}/{stage}/{SHA[:2]}/{SHA}"
    assert store.read_verified(stored.key, SHA) == DATA


def test_a_file_url_opens_a_local_store(tmp_path: Path, scratch: Path, keys: DataKeyStore) -> None:
    store = DatasetStore.open((tmp_path / "by-url").as_uri(), scratch, keys)
    store.put_bytes(KEY, DATA)
    assert plaintext(store, tmp_path / "by-url" / KEY) == DATA


def test_an_s3_url_is_parsed_into_a_bucket_prefix_and_options(scratch: Path) -> None:
    url = "s3://lake/platform?endpoint_override=localhost:9000&scheme=http&region=eu-west-1"
    store = DatasetStore.open(url, scratch)
    assert isinstance(store._fs, pafs.S3FileSystem)
    assert store._fs.region == "eu-west-1"
    assert store._fs_path(KEY) == f"lake/platform/{KEY}"
