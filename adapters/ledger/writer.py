"""The ledger writer: follows the event log, hashes every stored event into the tree, signs checkpoints.

It reads the log raw (``EventStore.read_raw``), hashes a batch of leaves at once, and stores the leaves, the
finished subtrees and the new size in one transaction guarded by the size it started from, so two writers
(``platform serve`` and ``platform projections``) never both extend the tree: the loser reloads and carries on.
A checkpoint is signed once ``checkpoint_every`` events arrived since the last one, once ``checkpoint_interval``
seconds passed with new events, and on demand. A checkpoint is never signed over a tree whose stored leaves no
longer give the last checkpoint's root (the log must stay append-only).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.ledger.entries import identity_of, leaf_hashes
from adapters.ledger.notes import Checkpoint, NoteSigner
from adapters.ledger.proofs import SubtreeReader
from adapters.ledger.tables import NODE_LEVEL, LeafRow, LedgerMovedError, LedgerTables, StoredCheckpoint
from domain.merkle import CompactRange
from eventstore.port import EventStore, RawEvent

log = logging.getLogger(__name__)
BATCH = 2_000


class LedgerIntegrityError(Exception):
    """The stored ledger no longer matches a checkpoint it signed; nothing more is signed until an audit."""


class LedgerWriter:
    """Extends the ledger from the log and signs its checkpoints (in a thread of its own, or when asked)."""

    def __init__(
        self,
        store: EventStore,
        tables: LedgerTables,
        signer: NoteSigner,
        *,
        checkpoint_every: int = 1_000,
        checkpoint_interval: float = 60.0,
        poll_interval: float = 0.2,
        batch: int = BATCH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.tables, self.signer = store, tables, signer
        self.checkpoint_every, self.checkpoint_interval = checkpoint_every, checkpoint_interval
        self.poll_interval, self.batch, self.clock = poll_interval, batch, clock
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tree = CompactRange()
        self._position = 0
        self._signed_size = -1
        self._signed_at = clock()
        self._reload()

    @property
    def size(self) -> int:
        return self._tree.size

    def catch_up(self, until: int | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Hashes every event recorded so far (up to position ``until``); returns how many it added."""
        added = 0
        while not self._stop.is_set():  # a long backlog must not hold up shutting down
            with self._lock:
                events = self.store.read_raw(self._position, self._next_batch(), until=until)
                if not events:
                    return added
                try:
                    self._append(events)
                except LedgerMovedError:
                    self._reload()
                    continue
                added += len(events)
                self._maybe_sign()
            if progress:
                progress(self.size, self._position)
        return added

    def sign_checkpoint(self) -> StoredCheckpoint:
        """Signs a checkpoint of the tree as it is now (the stored one when that size is signed already)."""
        with self._lock:
            self._reload()
            existing = self.tables.checkpoint(self.size)
            if existing is not None:
                return existing
            self._check_append_only()
            root_hash = self._tree.root()
            note = self.signer.sign(Checkpoint(self.signer.verifier.name, self.size, root_hash).body())
            stored = self.tables.add_checkpoint(StoredCheckpoint(self.size, root_hash, note, _now()))
            self._signed_size, self._signed_at = self.size, self.clock()
            log.info("ledger checkpoint signed at tree size %d", self.size)
            return stored

    def run(self) -> None:
        """Follows the log until stop() is called, polling every ``poll_interval`` seconds once caught up."""
        while not self._stop.is_set():
            self.catch_up()
            self._maybe_sign()
            self._stop.wait(self.poll_interval)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_logged, daemon=True, name="ledger")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run_logged(self) -> None:
        failed = False
        while not self._stop.is_set():
            try:
                if failed:  # reloading may fail too while the database is away: it is retried with the rest
                    with self._lock:
                        self._reload()
                    failed = False
                self.run()
            except LedgerIntegrityError:
                log.exception("the ledger no longer matches its checkpoints; run `platform audit verify`")
                return
            except Exception:
                log.exception("ledger writer failed; restarting from its stored state")
                failed = True
                self._stop.wait(1.0)

    def _append(self, events: list[RawEvent]) -> None:
        hashes = leaf_hashes(events)
        start = self.size
        rows: list[LeafRow] = []
        for offset, (event, leaf_hash) in enumerate(zip(events, hashes, strict=True)):
            identity = identity_of(event)
            rows.append(
                {
                    "leaf_index": start + offset,
                    "position": event[0],
                    "event_id": identity.event_id,
                    "tenant_id": identity.tenant_id,
                    "leaf_hash": leaf_hash,
                }
            )
        grown = CompactRange(self._tree.size, list(self._tree.peaks))
        finished = grown.extend(hashes, keep_level=NODE_LEVEL)
        self.tables.append(start, rows, finished)
        self._tree, self._position = grown, events[-1][0]

    def _next_batch(self) -> int:
        """A batch that ends where the next checkpoint is due, so checkpoints fall every N events exactly."""
        if self.checkpoint_every <= 0:
            return self.batch
        return max(1, min(self.batch, self.checkpoint_every - (self.size - max(self._signed_size, 0))))

    def _maybe_sign(self) -> None:
        due_by_count = 0 < self.checkpoint_every <= self.size - max(self._signed_size, 0)
        due_by_time = self.checkpoint_interval > 0 and self.clock() - self._signed_at >= self.checkpoint_interval
        if self.size > max(self._signed_size, 0) and (due_by_count or due_by_time):
            self.sign_checkpoint()

    def _reload(self) -> None:
        """Rebuilds the in-memory right edge of the tree from the stored leaves and nodes."""
        size, position = self.tables.state()
        if size != self._tree.size or position != self._position:
            reader = SubtreeReader(self.tables, size)
            peaks, start = [], 0
            for level in reversed(range(size.bit_length())):
                if size >> level & 1:
                    peaks.append(reader(start, start + (1 << level)))
                    start += 1 << level
            self._tree, self._position = CompactRange(size, peaks), position
        latest = self.tables.latest_checkpoint()
        if latest is not None and latest.tree_size > self._signed_size:
            self._signed_size = latest.tree_size

    def _check_append_only(self) -> None:
        latest = self.tables.latest_checkpoint()
        if latest is None or latest.tree_size == 0 or latest.tree_size > self.size:
            return
        if SubtreeReader(self.tables, self.size)(0, latest.tree_size) != latest.root_hash:
            msg = f"the stored leaves no longer give the root signed at tree size {latest.tree_size}"
            raise LedgerIntegrityError(msg)


def _now() -> str:
    return datetime.now(UTC).isoformat()
