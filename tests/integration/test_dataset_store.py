"""The dataset store on local disk: what only local files have (read-only modes, hard links across devices),
uploads, and the key rules.

Files live under tmp_path; no server, no network. Landing, write-once, verified reads and sealing are checked on
local disk and on an S3 server alike in tests/integration/test_dataset_store_backends.py.
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
    DatasetError,
    DatasetStore,
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


def test_stored_files_are_read_only(store: DatasetStore, root: Path) -> None:
    store.land(upload(store, DATA), TENANT, "raw", ".csv")
    assert stat.S_IMODE((root / KEY).stat().st_mode) & 0o222 == 0


def test_an_upload_past_its_limit_is_refused_and_discarded(store: DatasetStore) -> None:
    received = store.receive(max_bytes=8)
    received.write(b"12345")
    with pytest.raises(TooLargeError) as caught:
        received.write(b"6789")
    assert caught.value.limit == 8
    assert not received.path.exists()
    with pytest.raises(DatasetError):
        store.land(received, TENANT, "raw", ".csv")


def test_a_landed_upload_cannot_be_landed_again(store: DatasetStore) -> None:
    received = upload(store, DATA)
    store.land(received, TENANT, "raw", ".csv")
    with pytest.raises(DatasetError):
        store.land(received, TENANT, "gdp", ".csv")


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


def test_put_file_leaves_the_source_when_refused(store: DatasetStore, tmp_path: Path) -> None:
    produced = tmp_path / "out.csv"
    produced.write_bytes(DATA)
    with pytest.raises(ValueError, match="stage"):
        store.put_file(produced, TENANT, "scratchpad", ".csv")
    assert produced.read_bytes() == DATA


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
