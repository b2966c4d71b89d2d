"""Verifying the ledger against the event log: what ``platform audit verify`` runs.

Every stored event is read raw, in log order, and its leaf hash recomputed; each is compared with the leaf the
ledger stored at that index (hash and position), the tree is rebuilt from the recomputed leaves, and its root at
every checkpoint's size is compared with the root the checkpoint's signed note names (each signature checked
with the verifier key first). The stored subtree hashes that proofs are answered from are compared at the end.
Every blob an event keeps apart (adapters/ledger/blobs.py) must still be there and match the hash the event
carries. Nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter

from adapters.ledger.blobs import blob_problems
from adapters.ledger.entries import identity_of, leaf_hashes
from adapters.ledger.notes import NoteError, NoteVerifier, open_checkpoint
from adapters.ledger.tables import NODE_LEVEL, LedgerTables
from domain.merkle import CompactRange, Node
from eventstore.port import EventStore, RawEvent

BATCH = 4_096
_first, _second = itemgetter(0), itemgetter(1)
MAX_FINDINGS = 20
"""Findings kept in detail; the rest are only counted."""


@dataclass(frozen=True)
class Finding:
    """One thing that does not match: where (leaf index, log position, event id when known) and what."""

    detail: str
    leaf_index: int | None = None
    position: int | None = None
    event_id: str | None = None


@dataclass
class Report:
    """What a verification read and found."""

    events: int = 0
    """Events read from the log."""
    ledger_size: int = 0
    checkpoints: int = 0
    checkpoints_verified: int = 0
    """Checkpoints whose signature verified and whose root the log's events give."""
    unledgered: int = 0
    """Events at the end of the log the ledger has not hashed yet (not a fault)."""
    diverging_leaves: int = 0
    blobs: int = 0
    """Blobs (event fields stored apart) found whole."""
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_divergence(self) -> Finding | None:
        """The earliest place in the log where the events and the ledger part ways."""
        placed = [f for f in self.findings if f.position is not None]
        return min(placed, key=lambda f: f.position or 0) if placed else None

    def add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)


Progress = Callable[[int, int], None]


def verify_ledger(
    store: EventStore,
    tables: LedgerTables,
    verifier: NoteVerifier,
    *,
    batch: int = BATCH,
    progress: Progress | None = None,
) -> Report:
    """Recomputes the ledger from the log and compares it with what is stored and signed."""
    started = time.perf_counter()
    report = Report(ledger_size=tables.state()[0])
    signed = _signed_roots(tables, verifier, report)
    targets = sorted(signed)
    tree, kept = CompactRange(), []
    if targets and targets[0] == 0:
        _check_root(targets.pop(0), tree.root(), signed[0], report)
    after = 0
    for events, stored in _batches(store, tables, batch):
        start = tree.size
        computed = leaf_hashes(events)
        _compare_leaves(tables, start, events, computed, stored, report)
        _check_blobs(start, events, store, report)
        done = 0
        while targets and targets[0] <= start + len(events):
            size = targets.pop(0)
            kept += tree.extend(computed[done : size - start], keep_level=NODE_LEVEL)
            done = size - start
            _check_root(size, tree.root(), signed[size], report)
        kept += tree.extend(computed[done:], keep_level=NODE_LEVEL)
        after = events[-1][0]
        if progress:
            progress(tree.size, after)
    report.events = tree.size
    _check_the_end(tables, targets, report)
    _compare_nodes(tables, kept, min(report.ledger_size, report.events), report)
    report.seconds = time.perf_counter() - started
    return report


def _batches(
    store: EventStore, tables: LedgerTables, batch: int
) -> Iterator[tuple[list[RawEvent], list[tuple[int, bytes]]]]:
    """The log in batches of raw events, each with the ledger's leaves for the same places."""
    after = start = 0
    while events := store.read_raw(after, batch):
        yield events, tables.leaf_range(start, start + len(events))
        after, start = events[-1][0], start + len(events)


def _signed_roots(tables: LedgerTables, verifier: NoteVerifier, report: Report) -> dict[int, bytes]:
    """tree size -> root, for every checkpoint whose note verifies (the note, not the row, is the truth)."""
    roots: dict[int, bytes] = {}
    stored = tables.checkpoints()
    report.checkpoints = len(stored)
    for row in stored:
        try:
            checkpoint = open_checkpoint(row.note, verifier)
        except NoteError as error:
            report.add(Finding(f"checkpoint at tree size {row.tree_size}: {error}"))
            continue
        if (checkpoint.tree_size, checkpoint.root_hash) != (row.tree_size, row.root_hash):
            report.add(Finding(f"checkpoint at tree size {row.tree_size}: its row differs from its signed note"))
        if checkpoint.origin != verifier.name:
            report.add(Finding(f"checkpoint at tree size {row.tree_size} names origin {checkpoint.origin!r}"))
        roots[checkpoint.tree_size] = checkpoint.root_hash
    return roots


def _compare_leaves(
    tables: LedgerTables,
    start: int,
    events: list[RawEvent],
    computed: list[bytes],
    stored: list[tuple[int, bytes]],
    report: Report,
) -> None:
    """Compares a batch's recomputed leaves with the stored ones (whole lists first: the usual case is equal)."""
    held = len(stored)
    report.unledgered += len(events) - held
    same_hashes = list(map(_second, stored)) == (computed if held == len(computed) else computed[:held])
    if same_hashes and list(map(_first, stored)) == list(map(_first, events[:held])):
        return
    for offset, ((position, stored_hash), event, leaf_hash) in enumerate(zip(stored, events, computed, strict=False)):
        if position == event[0] and stored_hash == leaf_hash:
            continue
        report.diverging_leaves += 1
        if len(report.findings) < MAX_FINDINGS:  # naming a leaf may read the ledger: only for those kept
            report.add(_leaf_finding(tables, start + offset, position, event))


def _leaf_finding(tables: LedgerTables, leaf_index: int, ledger_position: int, event: RawEvent) -> Finding:
    """A leaf that differs, named by the position that is on one side only (or altered on both)."""
    position = event[0]
    if ledger_position < position:  # the ledger's event is gone: the log moved on to a later one
        leaf = tables.leaf(leaf_index)
        detail = (
            f"the event at position {ledger_position} (leaf {leaf_index}) is missing from the log, "
            f"which holds position {position} there"
        )
        return Finding(detail, leaf_index, ledger_position, leaf.event_id if leaf else None)
    if ledger_position > position:  # the log holds an event the ledger never hashed here
        detail = (
            f"the event at position {position} is not in the ledger: leaf {leaf_index} is position {ledger_position}"
        )
    else:
        detail = f"the event at position {position} does not hash to the ledger's leaf {leaf_index}"
    return Finding(detail, leaf_index, position, identity_of(event).event_id)


def _check_blobs(start: int, events: list[RawEvent], store: EventStore, report: Report) -> None:
    whole, problems = blob_problems(events, store.blobs)
    report.blobs += whole
    for event, detail in problems:
        leaf = start + events.index(event)
        report.add(Finding(f"the event at position {event[0]} {detail}", leaf, event[0], identity_of(event).event_id))


def _check_root(size: int, root_hash: bytes, signed_root: bytes, report: Report) -> None:
    if root_hash == signed_root:
        report.checkpoints_verified += 1
        return
    report.add(Finding(f"the log's first {size} events do not give the root signed at tree size {size}"))


def _check_the_end(tables: LedgerTables, beyond: list[int], report: Report) -> None:
    """Leaves and checkpoints the log has no events for: events were removed from the log."""
    if report.ledger_size > report.events:
        missing = tables.leaf(report.events)
        report.add(
            Finding(
                f"the ledger holds {report.ledger_size} leaves but the log only {report.events} events",
                report.events,
                missing.position if missing else None,
                missing.event_id if missing else None,
            )
        )
    for size in beyond:
        report.add(Finding(f"checkpoint at tree size {size} is beyond the log of {report.events} events"))


def _compare_nodes(tables: LedgerTables, kept: list[Node], within: int, report: Report) -> None:
    """The stored subtree hashes (what proofs are built from) against the recomputed ones."""
    recomputed = {(level, index): h for level, index, h in kept if (index + 1) << level <= within}
    stored = tables.all_nodes(within)
    wrong = sorted(key for key in recomputed.keys() | stored.keys() if recomputed.get(key) != stored.get(key))
    if wrong:
        level, index = wrong[0]
        detail = f"{len(wrong)} stored subtree hashes differ from the log's (first: level {level}, index {index})"
        report.add(Finding(detail))
