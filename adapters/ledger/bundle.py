"""Evidence bundles: a tenant's events of a period with their inclusion proofs, the signed checkpoint they are
proven against, a signed statement of which leaves are the tenant's (so nothing can be left out unnoticed), the
lineage (OpenLineage) and the obligation results, in one zip file an auditor checks offline
(``adapters/ledger/bundle_check.py``).

Layout (all UTF-8):
- ``manifest.json``: format, tenant, period, the checkpoint's tree size, the leaf range and every leaf index the
  bundle holds, and the SHA-256 of every other file;
- ``checkpoint.json``: ``{tree_size, root_hash (hex), note (C2SP signed note), verifier_key}``;
- ``tenant-leaves.note``: the signed statement of the tenant's leaves (``adapters/ledger/completeness.py``);
- ``events.ndjson``: one line per event: ``{leaf_index, position, event_id, tenant_id, recorded_at, entry (base64 of
  the canonical entry bytes), leaf_hash (hex), path (hex list)}``;
- ``blobs/<sha256>.json``: the content of each field the events keep apart (contract documents), by its SHA-256;
- ``lineage.openlineage.json``, ``obligations.json``, ``README.md``.

The period becomes a range of leaves: from the first event at or after ``from`` to the last one at or before ``to``
(by log position, or by ``recorded_at`` for a time); every event of the tenant in that range is in the bundle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from adapters.ledger import Ledger
from adapters.ledger.blobs import blob_refs, bundle_name
from adapters.ledger.bundle_readme import README
from adapters.ledger.completeness import TenantLeaves
from adapters.ledger.entries import canonical_bytes, identity_of, parse_entry
from adapters.ledger.notes import Checkpoint
from adapters.ledger.tables import Leaf, StoredCheckpoint
from eventstore.port import RawEvent

FORMAT = "governed-data-platform/evidence-bundle/2"
STATEMENT = "tenant-leaves.note"
BATCH = 1000


class BundleError(ValueError):
    """The bundle cannot be read or written (not a zip, a file missing, malformed JSON, a log out of step)."""


@dataclass(frozen=True)
class Period:
    """From and to, each a log position (an integer) or an ISO 8601 time; None is open-ended."""

    start: str | None
    end: str | None

    def after_start(self, position: int, recorded_at: str) -> bool:
        return _compare(self.start, position, recorded_at) >= 0

    def before_end(self, position: int, recorded_at: str) -> bool:
        return _compare(self.end, position, recorded_at) <= 0


def _bound(value: str) -> int | datetime:
    return int(value) if value.isdigit() else datetime.fromisoformat(value)


def _compare(bound: str | None, position: int, recorded_at: str) -> int:
    """Where an event lies against a bound: -1 before it, 0 on it (or no bound), 1 after it."""
    if bound is None:
        return 0
    limit = _bound(bound)
    if isinstance(limit, int):
        return (position > limit) - (position < limit)
    if not recorded_at:  # an event without a time (not the platform's shape): kept on either side
        return 0
    moment = datetime.fromisoformat(recorded_at)
    return (moment > limit) - (moment < limit)


def check_period(period: Period) -> None:
    for value in (period.start, period.end):
        if value is not None:
            try:
                _bound(value)
            except ValueError:
                raise BundleError(f"{value!r} is neither a log position nor an ISO 8601 time") from None


class _Meta(msgspec.Struct):
    recorded_at: str = ""


class _Envelope(msgspec.Struct):
    meta: _Meta


_recorded_at = msgspec.json.Decoder(_Envelope).decode


@dataclass(frozen=True)
class _Member:
    """An event of the tenant: its leaf, when it was recorded, and its entry bytes."""

    leaf: Leaf
    recorded_at: str
    entry: bytes


def _leaves(ledger: Ledger, tree_size: int) -> Iterator[tuple[Leaf, RawEvent]]:
    """Every leaf of the tree with its stored event, checking that the ledger and the log are in step."""
    after = index = 0
    while index < tree_size and (events := ledger.store.read_raw(after, min(BATCH, tree_size - index))):
        for (position, leaf_hash), event in zip(
            ledger.tables.leaf_range(index, index + len(events)), events, strict=False
        ):
            if position != event[0]:
                msg = f"leaf {index} is position {position} in the ledger but {event[0]} in the log: run audit verify"
                raise BundleError(msg)
            identity = identity_of(event)
            yield Leaf(index, position, identity.event_id, identity.tenant_id, bytes(leaf_hash)), event
            index += 1
        after = events[-1][0]
    if index < tree_size:
        raise BundleError(f"the log holds fewer events than the ledger's {tree_size} leaves: run audit verify")


def _scan(ledger: Ledger, tenant_id: str, period: Period, tree_size: int) -> tuple[int, int, list[_Member]]:
    """The period's range of leaves (start, end) and the tenant's events in it."""
    start, end, members = tree_size, 0, []
    for leaf, event in _leaves(ledger, tree_size):
        try:
            recorded_at = _recorded_at(event[4]).meta.recorded_at
        except msgspec.DecodeError:
            recorded_at = ""
        if start == tree_size and period.after_start(leaf.position, recorded_at):
            start = leaf.leaf_index
        if start <= leaf.leaf_index and period.before_end(leaf.position, recorded_at):
            end = leaf.leaf_index + 1
        if start <= leaf.leaf_index and leaf.tenant_id == tenant_id:
            members.append(_Member(leaf, recorded_at, canonical_bytes(event[1], event[2], event[3], event[4])))
    end = max(start, end)
    return start, end, [m for m in members if m.leaf.leaf_index < end]


def _event_line(ledger: Ledger, member: _Member, tree_size: int) -> str:
    proof = ledger.inclusion(member.leaf, tree_size)
    event = {
        "leaf_index": member.leaf.leaf_index,
        "position": member.leaf.position,
        "event_id": member.leaf.event_id,
        "tenant_id": member.leaf.tenant_id,
        "recorded_at": member.recorded_at,
        "entry": base64.b64encode(member.entry).decode(),
        "leaf_hash": proof.leaf_hash.hex(),
        "path": [node.hex() for node in proof.path],
    }
    return json.dumps(event, sort_keys=True)


def _event_lines(
    ledger: Ledger, members: list[_Member], tree_size: int, progress: Callable[[int, int], None] | None
) -> bytes:
    lines: list[str] = []
    for member in members:
        lines.append(_event_line(ledger, member, tree_size) + "\n")
        if progress:
            progress(len(lines), member.leaf.position)
    return "".join(lines).encode()


def _checkpoint_json(ledger: Ledger, checkpoint: StoredCheckpoint) -> dict[str, Any]:
    return {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash.hex(),
        "note": checkpoint.note,
        "verifier_key": ledger.verifier.verifier_key,
    }


def write_bundle(
    ledger: Ledger,
    tenant_id: str,
    period: Period,
    out: Path,
    lineage: list[dict[str, Any]],
    obligations: list[dict[str, Any]],
    now: str,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Writes the bundle (a checkpoint is signed now, so every event so far is covered); returns its manifest."""
    check_period(period)
    checkpoint = ledger.sign_checkpoint()
    start, end, members = _scan(ledger, tenant_id, period, checkpoint.tree_size)
    signed = Checkpoint(ledger.verifier.name, checkpoint.tree_size, checkpoint.root_hash)
    statement = TenantLeaves(signed, tenant_id, start, end, tuple(m.leaf.leaf_index for m in members))
    files = {
        "checkpoint.json": _json(_checkpoint_json(ledger, checkpoint)),
        STATEMENT: ledger.sign_note(statement.body()).encode(),
        "events.ndjson": _event_lines(ledger, members, checkpoint.tree_size, progress),
        "lineage.openlineage.json": _json(lineage),
        "obligations.json": _json(obligations),
        "README.md": README.encode(),
        **_blobs_of(ledger, members),
    }
    manifest = _manifest(statement, period, now, files)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in {"manifest.json": _json(manifest), **files}.items():
            bundle.writestr(name, data)
    return manifest


def _blobs_of(ledger: Ledger, members: list[_Member]) -> dict[str, bytes]:
    """The bundle files of the blobs the events reference (read, and checked, from the blob store)."""
    refs = [ref for member in members for ref in blob_refs(parse_entry(member.entry).state)]
    if refs and ledger.store.blobs is None:
        raise BundleError("the events reference blobs but the event store has no blob store to read them from")
    blobs = ledger.store.blobs
    return {bundle_name(ref.sha256): blobs.get(ref.owner, ref.sha256) for ref in refs if blobs is not None}


def _manifest(statement: TenantLeaves, period: Period, now: str, files: dict[str, bytes]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "tenant_id": statement.tenant_id,
        "from": period.start,
        "to": period.end,
        "created_at": now,
        "tree_size": statement.checkpoint.tree_size,
        "leaf_range": [statement.start, statement.end],
        "events": len(statement.leaf_indexes),
        "leaf_indexes": list(statement.leaf_indexes),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()
