"""The scratch folder: what a dead process left is swept at start; what a live one holds, or what the platform
did not make, is not."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from adapters.datasets.scratch import claim, sweep, work_directory
from adapters.datasets.store import DatasetStore
from tests.data_keys import data_keys

HOUR = 3600.0


def aged(path: Path, seconds: float = HOUR) -> Path:
    """Backdates a file or directory as if it was last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    for folder in ("uploads", "downloads", "work"):
        (tmp_path / "scratch" / folder).mkdir(parents=True)
    return tmp_path / "scratch"


def test_files_and_work_directories_left_by_a_dead_process_are_removed(scratch: Path) -> None:
    staged = scratch / "uploads" / "upload-abc.part"
    staged.write_bytes(b"half an upload")
    aged(staged)
    download = scratch / "downloads" / "download-xyz"
    download.write_bytes(b"x")
    aged(download)
    work = scratch / "work" / "work-123"
    (work / "spill").mkdir(parents=True)
    (work / "spill" / "keys-0.arrow").write_bytes(b"k")
    aged(work)
    assert sweep(scratch, time.time()) == [staged, download, work]
    assert not staged.exists()
    assert not download.exists()
    assert not work.exists()


def test_what_a_live_process_holds_is_kept_even_when_old(scratch: Path) -> None:
    held = scratch / "uploads" / "upload-live.part"
    held.write_bytes(b"arriving")
    aged(held)
    fd = claim(held)
    try:
        assert sweep(scratch, time.time()) == []
        assert held.exists()
    finally:
        os.close(fd)
    assert sweep(scratch, time.time()) == [held]


def test_what_changed_since_the_sweep_began_is_kept(scratch: Path) -> None:
    fresh = scratch / "uploads" / "upload-new.part"
    fresh.write_bytes(b"just now")
    assert sweep(scratch, time.time() - 60) == []
    assert fresh.exists()


def test_only_what_the_platform_names_in_its_own_folders_is_touched(scratch: Path) -> None:
    foreign = [
        scratch / "uploads" / "notes.txt",
        scratch / "elsewhere" / "upload-looks-like-ours.part",
        scratch / "upload-at-the-top.part",
    ]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not the platform's")
        aged(path)
    target = scratch.parent / "outside.part"
    target.write_bytes(b"outside")
    aged(target)
    link = scratch / "uploads" / "upload-link.part"
    link.symlink_to(target)
    assert sweep(scratch, time.time()) == []
    assert all(path.exists() for path in [*foreign, link, target])


def test_a_missing_scratch_folder_is_nothing_to_sweep(tmp_path: Path) -> None:
    assert sweep(tmp_path / "never-made", time.time()) == []


def test_an_upload_and_a_work_directory_in_use_survive_a_sweep(tmp_path: Path) -> None:
    store = DatasetStore.open(str(tmp_path / "datasets"), tmp_path / "scratch", data_keys(tmp_path / "keys"))
    with store.receive(1000) as upload, work_directory(tmp_path / "scratch") as work:
        upload.write(b"a,b\n1,2\n")
        aged(upload.path)
        aged(work)
        assert sweep(tmp_path / "scratch", time.time()) == []
        assert upload.path.exists()
        assert work.is_dir()
        upload.finish()
        assert sweep(tmp_path / "scratch", time.time()) == []  # finished, not landed yet: still held
        stored = store.land(upload, "t1", "raw", ".csv")
    assert store.exists(stored.key)
    assert not work.exists()
    assert list((tmp_path / "scratch" / "uploads").iterdir()) == []
