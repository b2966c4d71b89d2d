"""The event store's blob port over the dataset store: event fields stored apart (contract documents).

Blobs land at ``{tenant_id}/blobs/{sha[:2]}/{sha}.json`` (``_platform`` for events of no tenant), write-once like
every dataset file, and are handed out only after their SHA-256 matched. The dataset store was chosen over a table
in each event store because it is the same for every event store (SQLite, PostgreSQL, EventStoreDB, which has no
tables), already write-once and content-addressed, and local disk or S3 alike; the event keeps only the hash.
A blob is written before its event is appended: an append that then fails leaves an unreferenced blob, never an
event without its blob.
"""

from __future__ import annotations

import hashlib

from adapters.datasets.store import DatasetStore, IntegrityError, content_key
from eventstore.blobs import BlobIntegrityError, BlobMissingError

STAGE = "blobs"
SUFFIX = ".json"


class DatasetBlobs:
    """BlobStore (eventstore/blobs.py) over a DatasetStore."""

    def __init__(self, datasets: DatasetStore) -> None:
        self.datasets = datasets

    def put(self, owner: str, sha256: str, content: bytes) -> None:
        actual = hashlib.sha256(content).hexdigest()
        if actual != sha256:
            msg = f"blob content hashes to {actual}, not {sha256}"
            raise BlobIntegrityError(msg)
        self.datasets.put_bytes(content_key(owner, STAGE, sha256, SUFFIX), content)

    def get(self, owner: str, sha256: str) -> bytes:
        key = content_key(owner, STAGE, sha256, SUFFIX)
        if not self.datasets.exists(key):
            raise BlobMissingError(f"the blob {key} is missing")
        try:
            return self.datasets.read_verified(key, sha256)
        except IntegrityError as error:
            raise BlobIntegrityError(str(error)) from error
