"""Checking an evidence bundle offline: what ``platform audit check`` runs.

It needs nothing but the file (and, ideally, the verifier key obtained out of band). It verifies the checkpoint's
note and the signed statement of the tenant's leaves (bound to that checkpoint), every entry's leaf hash and
inclusion proof against the signed root, that every event is the tenant's, and that the events are exactly the
leaves the statement lists: a leaf left out, added, or given twice is named.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.ledger.blobs import bundled_blob_problems
from adapters.ledger.bundle import STATEMENT, BundleError
from adapters.ledger.completeness import TenantLeaves, open_tenant_leaves
from adapters.ledger.entries import parse_entry
from adapters.ledger.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from domain.merkle import leaf_hash, verify_inclusion


@dataclass
class CheckReport:
    """What a bundle check found: how much verified, and every failure (empty when the bundle is sound)."""

    tenant_id: str = ""
    tree_size: int = 0
    events: int = 0
    """Events the bundle should hold: the signed statement's leaves (or, without one, its lines)."""
    verified: int = 0
    statement: TenantLeaves | None = None
    key_from_bundle: bool = False
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.verified == self.events


def check_bundle(path: Path, verifier_key: str | None = None) -> CheckReport:
    """Checks a bundle offline; BundleError when it cannot be read, else a report listing every failure."""
    files = _read(path)
    manifest = _load(files, "manifest.json")
    report = CheckReport(tenant_id=str(manifest.get("tenant_id")), key_from_bundle=verifier_key is None)
    _check_file_hashes(files, manifest, report)
    checkpoint_json = _load(files, "checkpoint.json")
    try:
        verifier = NoteVerifier.parse(verifier_key or str(checkpoint_json.get("verifier_key", "")))
        signed = open_checkpoint(str(checkpoint_json.get("note", "")), verifier)
    except NoteError as error:
        report.failures.append(f"the checkpoint does not verify: {error}")
        return report
    report.tree_size = signed.tree_size
    if (signed.origin, signed.tree_size) != (verifier.name, manifest.get("tree_size")):
        report.failures.append("the signed checkpoint's origin or tree size is not the key's or the manifest's")
    if signed.root_hash.hex() != checkpoint_json.get("root_hash"):
        report.failures.append("checkpoint.json's root hash is not the signed note's")
    report.statement = _statement(files, verifier, signed, report)
    seen = _check_events(files, signed, report)
    _check_complete(seen, manifest, report)
    return report


def _check_file_hashes(files: dict[str, bytes], manifest: dict[str, Any], report: CheckReport) -> None:
    for name, digest in dict(manifest.get("files") or {}).items():
        if name not in files:
            report.failures.append(f"{name} is listed in the manifest but missing from the bundle")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            report.failures.append(f"{name} was altered: its SHA-256 is not the manifest's")


def _statement(
    files: dict[str, bytes], verifier: NoteVerifier, signed: Checkpoint, report: CheckReport
) -> TenantLeaves | None:
    """The signed statement of the tenant's leaves, when it verifies and is about this checkpoint and tenant."""
    if STATEMENT not in files:
        report.failures.append(f"the bundle has no {STATEMENT}: nothing signed says which events it must hold")
        return None
    try:
        statement = open_tenant_leaves(files[STATEMENT].decode(errors="replace"), verifier)
    except NoteError as error:
        report.failures.append(f"the signed statement of the tenant's leaves does not verify: {error}")
        return None
    if statement.checkpoint != signed:
        report.failures.append("the signed statement of the tenant's leaves is about another checkpoint")
        return None
    if statement.tenant_id != report.tenant_id:
        report.failures.append(f"the signed statement is about tenant {statement.tenant_id}, not {report.tenant_id}")
        return None
    return statement


def _check_events(files: dict[str, bytes], signed: Checkpoint, report: CheckReport) -> set[int]:
    """Checks every line of events.ndjson; returns the leaf indexes seen."""
    listed = set(report.statement.leaf_indexes) if report.statement else None
    seen: set[int] = set()
    data = files.get("events.ndjson", b"")
    for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
        try:
            event = json.loads(line)
            index, entry = int(event["leaf_index"]), base64.b64decode(event["entry"], validate=True)
            path = [bytes.fromhex(node) for node in event["path"]]
        except (ValueError, KeyError, TypeError, binascii.Error):
            report.failures.append(f"events.ndjson line {number} is malformed")
            continue
        where = f"event {event.get('event_id')} (leaf {index}, position {event.get('position')})"
        failure = _event_failure(index, entry, path, event.get("leaf_hash"), signed, report.tenant_id)
        if failure is None and index in seen:
            failure = "appears twice in events.ndjson"
        if failure is None and listed is not None and index not in listed:
            failure = "is not among the leaves the signed statement lists for the tenant"
        if failure is None:
            failure = "; ".join(bundled_blob_problems(parse_entry(entry).state, files)) or None
        seen.add(index)
        if failure is not None:
            report.failures.append(f"{where} {failure}")
            continue
        report.verified += 1
    return seen


def _event_failure(
    index: int, entry: bytes, path: list[bytes], claimed: object, signed: Checkpoint, tenant_id: str
) -> str | None:
    """What is wrong with one event (its bytes, its proof, its tenant), or None."""
    hashed = leaf_hash(entry)
    if hashed.hex() != claimed:
        return "was altered: its bytes do not hash to its leaf hash"
    if index >= signed.tree_size or not verify_inclusion(index, signed.tree_size, hashed, path, signed.root_hash):
        return "is not in the signed tree: its inclusion proof fails"
    tenant = _entry_tenant(entry)
    if tenant != tenant_id:
        return f"belongs to tenant {tenant}, not {tenant_id}"
    return None


def _check_complete(seen: set[int], manifest: dict[str, Any], report: CheckReport) -> None:
    """Every leaf the signed statement lists must have its event; without a statement, the manifest's list."""
    statement = report.statement
    expected = list(statement.leaf_indexes) if statement else list(manifest.get("leaf_indexes") or [])
    for index in expected:
        if index not in seen:
            report.failures.append(f"event of leaf {index} is missing from events.ndjson")
    if statement and (manifest.get("leaf_indexes"), manifest.get("leaf_range")) != (
        expected,
        [statement.start, statement.end],
    ):
        report.failures.append("manifest.json's leaf indexes or leaf range are not the signed statement's")
    report.events = len(expected) if statement else max(len(seen), len(expected))


def _entry_tenant(entry: bytes) -> str | None:
    try:
        tenant = json.loads(parse_entry(entry).state)["meta"].get("tenant_id")
    except (ValueError, KeyError, TypeError, AttributeError):
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
