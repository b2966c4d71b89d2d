"""Evidence bundles: a tenant's events of a period with their inclusion proofs, the signed checkpoint they are
proven against, the lineage (OpenLineage) and the obligation results, in one zip file an auditor checks offline.

Layout (all UTF-8):
- ``manifest.json``: format, tenant, period, the checkpoint's tree size, every leaf index the bundle holds, and the
  SHA-256 of every other file;
- ``checkpoint.json``: ``{tree_size, root_hash (hex), note (C2SP signed note), verifier_key}``;
- ``events.ndjson``: one line per event: ``{leaf_index, position, event_id, tenant_id, recorded_at, entry (base64 of
  the canonical entry bytes), leaf_hash (hex), path (hex list)}``;
- ``lineage.openlineage.json``, ``obligations.json``, ``README.md``.

``check_bundle`` needs nothing but the file (and, ideally, the verifier key obtained out of band): it verifies the
note's signature, every entry's leaf hash and inclusion proof against the signed root, that every listed event is
there and unaltered, and that every event is the tenant's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.ledger import Ledger
from adapters.ledger.entries import canonical_bytes, identity_of, parse_entry
from adapters.ledger.notes import NoteError, NoteVerifier, open_checkpoint
from domain.merkle import leaf_hash, verify_inclusion

FORMAT = "governed-data-platform/evidence-bundle/1"
BATCH = 1000
README = """# Evidence bundle

This bundle holds the events of one tenant for a period, each with an RFC 9162 inclusion proof against the
signed checkpoint in `checkpoint.json` (a C2SP signed note, Ed25519).

To check it without the platform: `platform audit check <bundle> --key <verifier key>`, with the verifier key
obtained from the platform operator out of band (`GET /v1/ledger/key`). By hand:
1. Verify the note in `checkpoint.json` with the verifier key (C2SP signed-note).
2. For each line of `events.ndjson`: leaf hash = SHA-256(0x00 || base64-decoded `entry`); check it against
   `leaf_hash`, then walk `path` to the root (RFC 9162 section 2.1.3.2) and compare with the note's root hash.
3. `manifest.json` lists every leaf index the bundle should hold and the SHA-256 of each file.

The entry bytes are: 0x01, the topic's length (u16 big-endian), the topic, the stream id (32 hex digits), the
stream version (u64 big-endian), then the stored event JSON ({"meta", "data", "enc"}) byte for byte.
`lineage.openlineage.json` holds the tenant's pipeline runs as OpenLineage RunEvents; `obligations.json` the
lineage obligations and their results.
"""


class BundleError(ValueError):
    """The bundle cannot be read at all (not a zip, a file missing, malformed JSON)."""


@dataclass(frozen=True)
class Period:
    """From and to, each a log position (an integer) or an ISO 8601 time; None is open-ended."""

    start: str | None
    end: str | None

    def holds(self, position: int, recorded_at: str) -> bool:
        return _after(self.start, position, recorded_at) and _before(self.end, position, recorded_at)


def _bound(value: str) -> int | datetime:
    return int(value) if value.isdigit() else datetime.fromisoformat(value)


def _after(start: str | None, position: int, recorded_at: str) -> bool:
    if start is None:
        return True
    bound = _bound(start)
    return position >= bound if isinstance(bound, int) else datetime.fromisoformat(recorded_at) >= bound


def _before(end: str | None, position: int, recorded_at: str) -> bool:
    if end is None:
        return True
    bound = _bound(end)
    return position <= bound if isinstance(bound, int) else datetime.fromisoformat(recorded_at) <= bound


def check_period(period: Period) -> None:
    for value in (period.start, period.end):
        if value is not None:
            try:
                _bound(value)
            except ValueError:
                raise BundleError(f"{value!r} is neither a log position nor an ISO 8601 time") from None


def _tenant_events(ledger: Ledger, tenant_id: str, period: Period, tree_size: int) -> Iterator[dict[str, Any]]:
    position = 0
    while True:
        rows = ledger.store.read_raw(position, BATCH)
        for row in rows:
            position = row[0]
            identity = identity_of(row)
            if identity.tenant_id != tenant_id:
                continue
            recorded_at = json.loads(row[4])["meta"]["recorded_at"]
            if not period.holds(row[0], recorded_at):
                continue
            leaf = ledger.find_leaf(position=row[0])
            if leaf.leaf_index >= tree_size:
                return
            proof = ledger.inclusion(leaf, tree_size)
            entry = canonical_bytes(row[1], row[2], row[3], row[4])
            yield {
                "leaf_index": leaf.leaf_index,
                "position": row[0],
                "event_id": identity.event_id,
                "tenant_id": tenant_id,
                "recorded_at": recorded_at,
                "entry": base64.b64encode(entry).decode(),
                "leaf_hash": proof.leaf_hash.hex(),
                "path": [node.hex() for node in proof.path],
            }
        if len(rows) < BATCH:
            return


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
    ledger.catch_up(until=ledger.store.last_position())
    checkpoint = ledger.sign_checkpoint()
    events: list[str] = []
    indexes: list[int] = []
    for event in _tenant_events(ledger, tenant_id, period, checkpoint.tree_size):
        events.append(json.dumps(event, sort_keys=True))
        indexes.append(event["leaf_index"])
        if progress:
            progress(len(events), event["position"])
    files = {
        "checkpoint.json": _json(
            {
                "tree_size": checkpoint.tree_size,
                "root_hash": checkpoint.root_hash.hex(),
                "note": checkpoint.note,
                "verifier_key": ledger.verifier.verifier_key,
            }
        ),
        "events.ndjson": "".join(line + "\n" for line in events).encode(),
        "lineage.openlineage.json": _json(lineage),
        "obligations.json": _json(obligations),
        "README.md": README.encode(),
    }
    manifest = {
        "format": FORMAT,
        "tenant_id": tenant_id,
        "from": period.start,
        "to": period.end,
        "created_at": now,
        "tree_size": checkpoint.tree_size,
        "events": len(events),
        "leaf_indexes": indexes,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in {"manifest.json": _json(manifest), **files}.items():
            bundle.writestr(name, data)
    return manifest


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


@dataclass
class CheckReport:
    """What a bundle check found: how much verified, and every failure (empty when the bundle is sound)."""

    tenant_id: str = ""
    tree_size: int = 0
    events: int = 0
    verified: int = 0
    key_from_bundle: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.verified == self.events


def check_bundle(path: Path, verifier_key: str | None = None) -> CheckReport:
    """Checks a bundle offline; BundleError when it cannot be read, else a report listing every failure."""
    files = _read(path)
    manifest = _load(files, "manifest.json")
    checkpoint = _load(files, "checkpoint.json")
    report = CheckReport(tenant_id=str(manifest.get("tenant_id")), key_from_bundle=verifier_key is None)
    for name, digest in dict(manifest.get("files") or {}).items():
        if name not in files:
            report.failures.append(f"{name} is listed in the manifest but missing from the bundle")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            report.failures.append(f"{name} was altered: its SHA-256 is not the manifest's")
    try:
        verifier = NoteVerifier.parse(verifier_key or str(checkpoint.get("verifier_key", "")))
        signed = open_checkpoint(str(checkpoint.get("note", "")), verifier)
    except NoteError as error:
        report.failures.append(f"the checkpoint does not verify: {error}")
        return report
    report.tree_size = signed.tree_size
    if signed.tree_size != manifest.get("tree_size") or signed.root_hash.hex() != checkpoint.get("root_hash"):
        report.failures.append("checkpoint.json's tree size or root hash is not the signed note's")
    seen = _check_events(files.get("events.ndjson", b""), signed.tree_size, signed.root_hash, report)
    for index in sorted(set(manifest.get("leaf_indexes") or []) - seen):
        report.failures.append(f"event of leaf {index} is missing from events.ndjson")
    report.events = max(report.events, len(manifest.get("leaf_indexes") or []))
    return report


def _check_events(data: bytes, tree_size: int, root: bytes, report: CheckReport) -> set[int]:
    seen: set[int] = set()
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        report.events += 1
        try:
            event = json.loads(line)
            index, entry = int(event["leaf_index"]), base64.b64decode(event["entry"], validate=True)
            path = [bytes.fromhex(node) for node in event["path"]]
        except (ValueError, KeyError, TypeError, binascii.Error):
            report.failures.append(f"events.ndjson line {number} is malformed")
            continue
        seen.add(index)
        where = f"event {event.get('event_id')} (leaf {index}, position {event.get('position')})"
        hashed = leaf_hash(entry)
        if hashed.hex() != event.get("leaf_hash"):
            report.failures.append(f"{where} was altered: its bytes do not hash to its leaf hash")
            continue
        if index >= tree_size or not verify_inclusion(index, tree_size, hashed, path, root):
            report.failures.append(f"{where} is not in the signed tree: its inclusion proof fails")
            continue
        tenant = _entry_tenant(entry)
        if tenant != report.tenant_id:
            report.failures.append(f"{where} belongs to tenant {tenant}, not {report.tenant_id}")
            continue
        report.verified += 1
    return seen


def _entry_tenant(entry: bytes) -> str | None:
    try:
        tenant = json.loads(parse_entry(entry).state)["meta"].get("tenant_id")
    except (ValueError, KeyError, TypeError):
        return None
    return str(tenant) if tenant is not None else None


def _read(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as bundle:
            return {name: bundle.read(name) for name in bundle.namelist()}
    except (OSError, zipfile.BadZipFile) as error:
        raise BundleError(f"{path} is not a readable bundle: {error}") from None


def _load(files: dict[str, bytes], name: str) -> dict[str, Any]:
    if name not in files:
        raise BundleError(f"the bundle has no {name}")
    try:
        loaded = json.loads(files[name])
    except ValueError:
        raise BundleError(f"{name} is not JSON") from None
    if not isinstance(loaded, dict):
        raise BundleError(f"{name} is not a JSON object")
    return loaded
