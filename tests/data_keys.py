"""A key store for tests that touch sealed dataset files: a fresh keyring and data-key database under a folder."""

from __future__ import annotations

from pathlib import Path

from adapters.keys.datakeys import DataKeyStore
from adapters.keys.keyring import KeyRing


def data_keys(folder: Path, url: str = "") -> DataKeyStore:
    """The data keys of a test, in ``folder`` (SQLite) or at ``url`` (PostgreSQL), wrapped by a new keyring."""
    ring = KeyRing.open(folder / "kek.json", create=True)
    return DataKeyStore(url or f"sqlite:///{folder / 'keys.db'}", ring)
