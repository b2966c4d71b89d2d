"""The platform's local scratch space: staging files of uploads, downloads from an object store, and the work
directories of compute steps. Each is held under an exclusive lock (``flock``) while in use, and swept at start.

A process that dies mid-upload or mid-step leaves its files behind, and nothing else would ever remove them.
``sweep`` removes, in the folders the platform owns under scratch (``uploads/``, ``downloads/``, ``work/``), only
entries named as the platform names them, last changed before the sweep began, and held by no process (a lock
dies with its process). Whatever else lives under scratch is left alone.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

UPLOADS, DOWNLOADS, WORK = "uploads", "downloads", "work"
OWNED = {UPLOADS: "upload-", DOWNLOADS: "download-", WORK: "work-"}
"""The folders under scratch the platform owns, and the prefix of every entry it makes in them."""


def owned_prefix(folder: str, tenant_id: str) -> str:
    """How scratch entries of a tenant are named, so erasing the tenant finds them: ``upload-<tenant id>-...``."""
    return f"{OWNED[folder]}{tenant_id}-" if tenant_id else OWNED[folder]


def erase_tenant_entries(scratch: Path, tenant_id: str) -> int:
    """Removes every entry of the tenant under the owned scratch folders, held or not (its data key is gone, so
    whatever was being done for it cannot finish anyway); how many."""
    removed = 0
    for folder in OWNED:
        directory = scratch / folder
        if directory.is_symlink() or not directory.is_dir():
            continue
        for entry in directory.glob(f"{glob.escape(owned_prefix(folder, tenant_id))}*"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed


def claim(path: Path) -> int:
    """Holds an exclusive lock on ``path`` (a file or a directory) until the returned descriptor is closed."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@contextmanager
def work_directory(scratch: Path, tenant_id: str = "") -> Iterator[Path]:
    """A fresh directory under ``scratch/work`` (named after the tenant it works for, when given), held while in
    use and removed afterwards."""
    base = scratch / WORK
    base.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=base, prefix=owned_prefix(WORK, tenant_id)))
    fd = claim(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def sweep(scratch: Path, before: float) -> list[Path]:
    """Removes what dead processes left: owned entries last changed before ``before`` (a time.time()) that no
    process holds. The removed paths."""
    removed: list[Path] = []
    for folder, prefix in OWNED.items():
        directory = scratch / folder
        if directory.is_symlink() or not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith(prefix) and not entry.is_symlink() and _remove_if_abandoned(entry, before):
                removed.append(entry)
    return removed


def _remove_if_abandoned(entry: Path, before: float) -> bool:
    try:
        if entry.lstat().st_mtime >= before:
            return False
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # gone meanwhile, or not ours to open
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # a live process holds it
        os.close(fd)
        return False
    try:
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return True
