"""Sealing the dataset files written before files were sealed at rest (``platform keys encrypt-datasets``).

Each plaintext file of a sealed stage is hashed against the SHA-256 its content-addressed name carries, sealed
into a file beside it, opened and hashed again, and only then renamed over the plaintext (one atomic rename on
local disk). Sealed files are skipped, so a run that was stopped, or failed, is simply run again; a partial file
left beside by a run cut short is replaced by the next one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from adapters.datasets.store import DatasetError, DatasetStore

_CONTENT_NAME = re.compile(r"^([0-9a-f]{64})(\.[A-Za-z0-9.]+)?$")


@dataclass
class Migration:
    """What a run did: files sealed now, files found sealed already."""

    sealed: int = 0
    already: int = 0

    @property
    def summary(self) -> str:
        return f"{self.sealed} dataset files sealed, {self.already} already sealed"


def recorded_sha256(key: str) -> str:
    """The SHA-256 a content-addressed key names; DatasetError for a key that names none (it cannot be checked)."""
    found = _CONTENT_NAME.match(key.rsplit("/", 1)[-1])
    if found is None:
        raise DatasetError(f"{key} is not named by its SHA-256, so its content cannot be checked before sealing")
    return found.group(1)


def encrypt_datasets(store: DatasetStore, progress: Callable[[str], None]) -> Migration:
    """Seals every plaintext file of the sealed stages, checked before and after; stops at the first failure
    (IntegrityError or DatasetError naming the file), leaving every file either plaintext or sealed, never half."""
    done = Migration()
    for key in store.keys_in():
        if store.is_sealed(key):
            done.already += 1
            continue
        store.seal_in_place(key, recorded_sha256(key))
        done.sealed += 1
        progress(f"sealed {key} ({done.sealed} sealed, {done.already} already sealed)")
    return done
