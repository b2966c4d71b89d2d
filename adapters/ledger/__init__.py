"""The evidence ledger: an RFC 6962 / RFC 9162 Merkle log over every event of the event log, in log order.

Leaf i is the i-th stored event (``entries`` defines its bytes); the tree is derived from the log alone and kept
in the read-model database (``tables``) by a writer that follows the log (``writer``), which signs C2SP
checkpoints (``notes``) with a key from the key store. ``Ledger`` is what the edges use: proofs, entries,
checkpoints, and the audit (``audit``) that recomputes everything from the log and compares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from adapters.ledger.audit import Report, verify_ledger
from adapters.ledger.entries import canonical_bytes
from adapters.ledger.notes import NoteSigner, NoteVerifier, SecretSource, checkpoint_signer
from adapters.ledger.proofs import SubtreeReader, planned
from adapters.ledger.tables import Leaf, LedgerTables, StoredCheckpoint
from adapters.ledger.writer import LedgerWriter
from domain.errors import InvalidValueError, NotFoundError
from domain.merkle import EMPTY_ROOT, consistency_path, inclusion_path
from eventstore.port import EventStore

DEFAULT_ORIGIN = "governed-data-platform.local/ledger"
"""The log's origin line and key name unless the settings name another (no spaces, no '+')."""

__all__ = ["DEFAULT_ORIGIN", "Entry", "InclusionProof", "Leaf", "Ledger", "Report", "StoredCheckpoint", "open_ledger"]


Readable = Callable[[Leaf], bool]
"""Whether the caller may read a leaf's event; a leaf they may not is answered as one that does not exist."""


def _anyone(_leaf: Leaf) -> bool:
    return True


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]


@dataclass(frozen=True)
class Entry:
    """A leaf and its canonical bytes, read from the event store (so anyone can hash them again)."""

    leaf: Leaf
    body: bytes


class Ledger:
    """Proofs, entries and checkpoints of the evidence ledger, and the writer that keeps it up to date."""

    def __init__(
        self,
        store: EventStore,
        engine: Engine,
        signer: NoteSigner,
        *,
        checkpoint_every: int = 1_000,
        checkpoint_interval: float = 60.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.store = store
        self.tables = LedgerTables(engine)
        self.writer = LedgerWriter(
            store,
            self.tables,
            signer,
            checkpoint_every=checkpoint_every,
            checkpoint_interval=checkpoint_interval,
            poll_interval=poll_interval,
        )

    @property
    def verifier(self) -> NoteVerifier:
        """The checkpoint key: what auditors need to check notes offline."""
        return self.writer.signer.verifier

    @property
    def size(self) -> int:
        """Leaves stored (by any writer)."""
        return self.tables.state()[0]

    def start(self) -> None:
        self.writer.start()

    def stop(self) -> None:
        self.writer.stop()

    def catch_up(self, until: int | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        return self.writer.catch_up(until, progress)

    def sign_checkpoint(self) -> StoredCheckpoint:
        """Hashes what the log holds now and signs a checkpoint of it."""
        self.catch_up(until=self.store.last_position())
        return self.writer.sign_checkpoint()

    def sign_note(self, text: str) -> str:
        """A C2SP signed note of ``text`` under the checkpoint key (statements checked with the same verifier key)."""
        return self.writer.signer.sign(text)

    def scheduled_checkpoint(self, _call: object) -> dict[str, object]:
        """A scheduled ``ledger_checkpoint`` job: signs a checkpoint now; its size and root are what the run records."""
        checkpoint = self.sign_checkpoint()
        return {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash.hex()}

    def latest_checkpoint(self) -> StoredCheckpoint:
        found = self.tables.latest_checkpoint()
        if found is None:
            raise NotFoundError("the ledger has no signed checkpoint yet")
        return found

    def find_leaf(
        self, *, event_id: str | None = None, position: int | None = None, readable: Readable = _anyone
    ) -> Leaf:
        """The leaf of an event, by its id or its log position (hashing the newest events first if needed).

        A leaf the reader may not read is not found, in the same words as a leaf that does not exist.
        """
        found = None
        for attempt in range(2):
            found = self.tables.leaf_of_event(event_id) if event_id else self.tables.leaf_at_position(position or 0)
            if found is not None or attempt == 1:
                break
            self.catch_up(until=self.store.last_position())
        if found is not None and readable(found):
            return found
        what = f"event {event_id}" if event_id else f"event at position {position}"
        raise NotFoundError(f"no {what} in the ledger")

    def inclusion(self, leaf: Leaf, tree_size: int) -> InclusionProof:
        """The audit path of a leaf in the tree of ``tree_size`` leaves."""
        self._require(tree_size)
        if leaf.leaf_index >= tree_size:
            msg = (
                f"leaf {leaf.leaf_index} (position {leaf.position}) is not in the tree of size {tree_size}: "
                f"ask for a tree_size above {leaf.leaf_index}"
            )
            raise InvalidValueError(msg)
        reader = SubtreeReader(self.tables, tree_size)
        planned(lambda subtree: inclusion_path(leaf.leaf_index, tree_size, subtree), reader)
        path = inclusion_path(leaf.leaf_index, tree_size, reader)
        return InclusionProof(leaf.leaf_index, tree_size, leaf.leaf_hash, path)

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The consistency proof from the tree of ``first`` leaves to the tree of ``second`` (0 < first <= second)."""
        self._require(second)
        reader = SubtreeReader(self.tables, second)
        planned(lambda subtree: consistency_path(first, second, subtree), reader)
        return consistency_path(first, second, reader)

    def root(self, tree_size: int) -> bytes:
        """The root hash of the tree of ``tree_size`` leaves (1 or more), from the stored leaves and nodes."""
        self._require(tree_size)
        return SubtreeReader(self.tables, tree_size)(0, tree_size) if tree_size else EMPTY_ROOT

    def leaf(self, leaf_index: int, readable: Readable = _anyone) -> Leaf:
        """The leaf at an index; one the reader may not read is not found, as if it were not there."""
        found = self.tables.leaf(leaf_index)
        if found is None or not readable(found):
            raise NotFoundError(f"no leaf {leaf_index} in the ledger")
        return found

    def entry(self, leaf: Leaf) -> Entry:
        """The leaf with the canonical bytes of its event, as the event store holds them now."""
        found = self.store.read_raw(leaf.position - 1, 1, until=leaf.position)
        if not found:
            raise NotFoundError(f"the event store no longer holds position {leaf.position} (leaf {leaf.leaf_index})")
        _, stream_id, version, topic, state = found[0]
        return Entry(leaf, canonical_bytes(stream_id, version, topic, state))

    def verify(
        self, verifier: NoteVerifier | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Report:
        """Recomputes the ledger from the log and compares (see ``adapters.ledger.audit``)."""
        return verify_ledger(self.store, self.tables, verifier or self.verifier, progress=progress)

    def _require(self, tree_size: int) -> None:
        if tree_size > self.size:
            self.catch_up(until=self.store.last_position())
        size = self.size
        if tree_size > size:
            msg = f"tree size {tree_size} is beyond the log: the ledger holds {size} events"
            raise InvalidValueError(msg)


def open_ledger(
    store: EventStore,
    engine: Engine,
    keys: SecretSource,
    origin: str = DEFAULT_ORIGIN,
    *,
    checkpoint_every: int = 1_000,
    checkpoint_interval: float = 60.0,
    poll_interval: float = 0.2,
) -> Ledger:
    """The ledger in the read-model database ``engine``, signing with the key store's checkpoint key."""
    return Ledger(
        store,
        engine,
        checkpoint_signer(keys, origin or DEFAULT_ORIGIN),
        checkpoint_every=checkpoint_every,
        checkpoint_interval=checkpoint_interval,
        poll_interval=poll_interval,
    )
