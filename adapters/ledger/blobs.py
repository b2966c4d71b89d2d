"""The blobs an evidence check covers: event fields stored apart by content (contract documents).

A stored event that keeps fields apart lists them under "blobs" and carries each one's SHA-256 in its data; the
ledger's leaf hashes those bytes, so the hash is in the evidence. ``platform audit verify`` also checks that each
blob is still there and matches its hash, and an evidence bundle carries the blobs of its events as
``blobs/<sha256>.json``, checked offline the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from eventstore.blobs import BlobIntegrityError, BlobMissingError, BlobStore, owner_of
from eventstore.port import RawEvent

_MARK = b'"blobs":'


@dataclass(frozen=True)
class BlobRef:
    """One field an event keeps apart: whose it is, which field, and the SHA-256 of its content."""

    owner: str
    field: str
    sha256: str


def blob_refs(state: bytes) -> list[BlobRef]:
    """The blobs a stored event's JSON references (none for most events, which are never parsed here)."""
    if _MARK not in state:
        return []
    try:
        stored = json.loads(state)
        owner = owner_of(stored["meta"].get("tenant_id"))
        return [BlobRef(owner, name, str(stored["data"][name])) for name in stored.get("blobs") or []]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []  # a state that does not parse is the leaf comparison's finding, not this one's


def blob_problems(events: list[RawEvent], blobs: BlobStore | None) -> tuple[int, list[tuple[RawEvent, str]]]:
    """How many referenced blobs are whole, and (event, what is wrong) for each that is missing or altered."""
    whole, problems = 0, []
    for event in events:
        for ref in blob_refs(event[4]):
            if blobs is None:
                problems.append((event, f"keeps {ref.field} apart, but no blob store was given to check it"))
                continue
            try:
                blobs.get(ref.owner, ref.sha256)
            except (BlobMissingError, BlobIntegrityError) as error:
                problems.append((event, f"keeps {ref.field} apart as blob {ref.sha256}: {error}"))
                continue
            whole += 1
    return whole, problems


def bundled_blob_problems(state: bytes, files: dict[str, bytes]) -> list[str]:
    """What is wrong with the bundled blobs an event references (``blobs/<sha256>.json`` in the bundle)."""
    problems = []
    for ref in blob_refs(state):
        content = files.get(bundle_name(ref.sha256))
        if content is None:
            problems.append(f"its {ref.field} (blob {ref.sha256}) is missing from the bundle")
        elif hashlib.sha256(content).hexdigest() != ref.sha256:
            problems.append(f"its {ref.field} (blob {ref.sha256}) was altered")
    return problems


def bundle_name(sha256: str) -> str:
    return f"blobs/{sha256}.json"
