"""Builds the event store a setting names: memory, sqlite (the embedded default), postgres, eventstoredb.

Each adapter (one module each) is the shared RecorderEventStore plus its eventsourcing persistence module, a short
function that reads one stream with its positions, and the module's snapshot recorder; SQLite and PostgreSQL also
read the log with their own SELECT.
"""

from __future__ import annotations

from eventstore.adapters.eventstoredb import open_eventstoredb
from eventstore.adapters.memory import open_memory
from eventstore.adapters.postgres import open_postgres, postgres_env
from eventstore.adapters.shared import UnknownEventStoreError
from eventstore.adapters.sqlite import open_sqlite, sqlite_path
from eventstore.blobs import BlobStore
from eventstore.cipher import FieldCipher
from eventstore.recorder_store import RecorderEventStore

__all__ = ["KINDS", "UnknownEventStoreError", "open_event_store", "postgres_env", "sqlite_path"]

KINDS = ("memory", "sqlite", "postgres", "eventstoredb")


def open_event_store(
    kind: str,
    url: str = "",
    *,
    poll_interval: float = 0.05,
    cipher: FieldCipher | None = None,
    blobs: BlobStore | None = None,
) -> RecorderEventStore:
    """Opens (and creates where needed) the event store of the given kind at the given URL.

    With a field cipher, the fields events declare in ``encrypted_fields`` are stored encrypted; with a blob store,
    those they declare in ``blob_fields`` are stored apart, by content (the same way on every kind).
    """
    store = _open(kind, url, poll_interval, cipher)
    store.blobs = blobs
    return store


def _open(kind: str, url: str, poll_interval: float, cipher: FieldCipher | None) -> RecorderEventStore:
    if kind == "memory":
        return open_memory(cipher)
    if kind == "sqlite":
        return open_sqlite(url, poll_interval, cipher)
    if kind == "postgres":
        return open_postgres(url, cipher)
    if kind == "eventstoredb":
        return open_eventstoredb(url, cipher)
    msg = f"unknown event store {kind!r}; choose one of {', '.join(KINDS)}"
    raise UnknownEventStoreError(msg)
