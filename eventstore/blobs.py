"""The blob-store port: event fields too large to travel inside an event, stored apart by content.

A domain event class names such fields in a plain class attribute, ``blob_fields = ("document",)``. With a blob
store, the codec writes each such value as canonical JSON (sorted keys, no spaces, UTF-8) under its SHA-256, and
the stored event carries the hash in its place and lists the field under "blobs":
{"meta": ..., "data": {"document": "<sha256>", ...}, "blobs": ["document"]}. Reading the event fetches the blob
and checks it against the hash, so the event (and the evidence ledger that hashes the stored event) pins the
content. Blobs are write-once; the same content is stored once. Events stored before a field went apart carry
the value inline and are read as they are.

The store behind the port is ``adapters/datasets`` (the write-once, content-addressed dataset store): the same for
every event store, so the events stay thin on EventStoreDB too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

NO_TENANT = "_platform"
"""The owner of blobs of events that belong to no tenant."""


class BlobMissingError(LookupError):
    """An event references a blob the blob store does not hold."""


class BlobIntegrityError(ValueError):
    """A stored blob does not match the SHA-256 its event carries: it was altered."""


class BlobStoreMissingError(ValueError):
    """A stored event references blobs but the event store was opened without the blob store."""


class BlobStore(Protocol):
    """Write-once, content-addressed bytes, kept per owner (the tenant id of the event, or NO_TENANT)."""

    def put(self, owner: str, sha256: str, content: bytes) -> None:
        """Stores ``content`` under its SHA-256 (a no-op when it is there already)."""
        ...

    def get(self, owner: str, sha256: str) -> bytes:
        """The content stored under ``sha256``; BlobMissingError, or BlobIntegrityError when it does not match."""
        ...


def blob_fields_of(cls: type) -> tuple[str, ...]:
    """The fields an event class stores apart (none when it declares nothing)."""
    return tuple(getattr(cls, "blob_fields", ()))


def owner_of(tenant_id: str | None) -> str:
    return tenant_id or NO_TENANT


def canonical(value: Any) -> bytes:
    """The bytes a value is stored (and hashed) as: the same value always gives the same bytes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode()


def sha256_of(value: Any) -> str:
    """The SHA-256 (hex) under which a field value is stored apart."""
    return hashlib.sha256(canonical(value)).hexdigest()


class InMemoryBlobs:
    """A BlobStore in a dict, for the in-memory event store of unit tests."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], bytes] = {}

    def put(self, owner: str, sha256: str, content: bytes) -> None:
        if hashlib.sha256(content).hexdigest() != sha256:
            raise BlobIntegrityError(f"content does not hash to {sha256}")
        self.blobs.setdefault((owner, sha256), content)

    def get(self, owner: str, sha256: str) -> bytes:
        content = self.blobs.get((owner, sha256))
        if content is None:
            raise BlobMissingError(f"no blob {sha256} of {owner}")
        if hashlib.sha256(content).hexdigest() != sha256:
            raise BlobIntegrityError(f"the blob {sha256} of {owner} was altered")
        return content
