"""`platform audit ...`: what the audit subcommands do, printing progress to stderr and a summary at the end.

``bundle`` writes a tenant's evidence bundle (adapters/ledger/bundle.py); ``check`` verifies one offline
(adapters/ledger/bundle_check.py), completeness included (adapters/ledger/completeness.py).

``verify`` recomputes every leaf of the evidence ledger from the event store's stored bytes and compares them
with the ledger's leaves and with the root of every signed checkpoint (whose signatures it checks first, with the
platform's checkpoint key or the verifier key the auditor passes). Exit status 0: everything matches;
1: something does not, and the first diverging position (with its event id) is named.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from uuid import UUID

from adapters.ledger import Ledger, Report
from adapters.ledger.bundle import Period, write_bundle
from adapters.ledger.bundle_check import check_bundle
from adapters.ledger.notes import NoteVerifier
from domain.lineage import ObligationStatus

if TYPE_CHECKING:
    from domain.lineage import Result
    from interfaces.bootstrap import Platform


CHECKED = "OK: exactly the leaves the signed statement lists, each included in the signed tree, unaltered"


def progress_to(err: TextIO, label: str, every: float = 0.5) -> Callable[[int, int], None]:
    """Prints ``<label>: N events, at position P`` to ``err`` at most every ``every`` seconds."""
    last = [0.0]

    def show(count: int, position: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            print(f"{label}: {count} events, at position {position}", file=err, flush=True)

    return show


def verify(ledger: Ledger, verifier_key: str = "", *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Verifies the ledger against the event log; 0 when everything matches, 1 when anything does not."""
    out, err = out or sys.stdout, err or sys.stderr
    verifier = NoteVerifier.parse(verifier_key) if verifier_key else ledger.verifier
    print(f"verifying the evidence ledger with key {verifier.verifier_key}", file=err, flush=True)
    report = ledger.verify(verifier, progress=progress_to(err, "verified"))
    for line in summary(report):
        print(line, file=out)
    return 0 if report.ok else 1


def summary(report: Report) -> list[str]:
    """The lines an auditor reads: what was compared, and the first divergence when there is one."""
    rate = report.events / report.seconds if report.seconds else 0.0
    lines = [
        f"events in the log: {report.events} ({report.seconds:.2f} s, {rate:,.0f} events/s)",
        f"leaves in the ledger: {report.ledger_size}",
        f"signed checkpoints: {report.checkpoints}, of which {report.checkpoints_verified} verified",
        f"blobs (contract documents kept apart) matching their events' SHA-256: {report.blobs}",
    ]
    if report.unledgered:
        lines.append(f"not yet in the ledger: the last {report.unledgered} events (not a fault)")
    if report.checkpoints == 0:
        lines.append("warning: no signed checkpoint, so nothing signed vouches for the leaves compared")
    first = report.first_divergence
    if first is not None:
        lines.append(f"FIRST DIVERGENCE at position {first.position} (leaf {first.leaf_index}, event {first.event_id})")
    if report.diverging_leaves:
        lines.append(f"diverging leaves: {report.diverging_leaves}")
    lines += [f"MISMATCH: {finding.detail}" for finding in report.findings]
    lines.append("OK: the ledger matches the event log" if report.ok else "FAILED: the ledger and the log disagree")
    return lines


def bundle(platform: Platform, tenant: str, start: str | None, end: str | None, out_path: Path, *, err: TextIO) -> int:
    """Writes an evidence bundle of a tenant's events in a period; prints a summary; 0 when written."""
    from adapters.lineage.obligations import results
    from adapters.lineage.openlineage import tenant_events

    tenant_id = str(UUID(tenant))
    platform.worker.catch_up()
    with platform.read_models.engine.connect() as connection:
        lineage = tenant_events(connection, tenant_id)
        obligations = [result_json(r) for r in results(connection, tenant_id, platform.datasets)]
    manifest = write_bundle(
        platform.ledger,
        tenant_id,
        Period(start, end),
        out_path,
        lineage,
        obligations,
        datetime.now(UTC).isoformat(),
        progress=progress_to(err, "bundled"),
    )
    violated = sum(1 for o in obligations if o.get("status") == ObligationStatus.VIOLATED)
    first, after = manifest["leaf_range"]
    print(f"wrote {out_path}: {manifest['events']} events of tenant {tenant_id} with inclusion proofs")
    print(
        f"checkpoint: tree size {manifest['tree_size']}; the tenant's leaves signed for leaf range [{first}, {after})"
    )
    print(f"lineage: {len(lineage)} RunEvents")
    print(f"obligations: {len(obligations)} results, {violated} violated")
    return 0


def check(path: Path, verifier_key: str | None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Checks a bundle offline; 0 when everything verifies, 1 when anything does not."""
    out, err = out or sys.stdout, err or sys.stderr
    report = check_bundle(path, verifier_key)
    if report.key_from_bundle:
        print(
            "note: checking against the bundle's own verifier key; pass --key with one obtained out of band", file=err
        )
    print(f"bundle of tenant {report.tenant_id}: checkpoint tree size {report.tree_size}", file=out)
    statement = report.statement
    if statement is not None:
        count, start, end = len(statement.leaf_indexes), statement.start, statement.end
        print(f"signed statement: {count} leaves of the tenant in leaf range [{start}, {end})", file=out)
    print(f"events verified: {report.verified} of {report.events}", file=out)
    for failure in report.failures:
        print(f"FAILED: {failure}", file=out)
    print(CHECKED if report.ok else "NOT OK", file=out)
    return 0 if report.ok else 1


def result_json(result: Result) -> dict[str, Any]:
    """An obligation result as plain JSON."""
    found: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(result), default=str))
    return found
