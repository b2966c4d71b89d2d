"""Subtree hashes from the ledger's tables, for roots and proofs at any tree size the ledger holds.

A complete subtree of 2**NODE_LEVEL leaves or more is one stored row; a smaller one is hashed from its leaf
hashes, read a block of 2**NODE_LEVEL at a time; any other range splits as RFC 9162 splits a tree. A proof
therefore reads a few blocks and a few dozen nodes, whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.ledger.tables import NODE_LEVEL, LedgerTables
from domain.merkle import SubtreeHash, node_hash, perfect_root, split_point

BLOCK = 1 << NODE_LEVEL


class SubtreeReader:
    """MTH(D[start:end]) over the stored leaves and nodes, remembering what it read (use one per request)."""

    def __init__(self, tables: LedgerTables, size: int) -> None:
        self.tables = tables
        self.size = size
        self._blocks: dict[int, list[bytes]] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}

    def __call__(self, start: int, end: int) -> bytes:
        width = end - start
        if not 0 <= start < end <= self.size:
            msg = f"leaves {start}..{end - 1} are not all in the ledger of {self.size} leaves"
            raise ValueError(msg)
        if width & (width - 1) == 0 and start % width == 0:
            return self._complete(start, width)
        k = split_point(width)
        return node_hash(self(start, start + k), self(start + k, end))

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        """Reads, in one query, the stored nodes that hashing these ranges will need."""
        wanted: list[tuple[int, int]] = []
        for start, end in ranges:
            _stored_nodes(start, end, wanted)
        self._nodes.update(self.tables.nodes(wanted))

    def _complete(self, start: int, width: int) -> bytes:
        if width < BLOCK:
            block = start // BLOCK
            hashes = self._block(block)
            offset = start - block * BLOCK
            return perfect_root(hashes[offset : offset + width])
        level = width.bit_length() - 1
        key = (level, start >> level)
        found = self._nodes.get(key)
        if found is None:
            found = self.tables.nodes([key]).get(key)
        if found is None:  # not stored (a ledger written before the node was): hash its halves
            half = width // 2
            found = node_hash(self._complete(start, half), self._complete(start + half, half))
        self._nodes[key] = found
        return found

    def _block(self, block: int) -> list[bytes]:
        found = self._blocks.get(block)
        if found is None:
            start = block * BLOCK
            found = self._blocks[block] = self.tables.leaf_hashes(start, min(start + BLOCK, self.size))
        return found


def _stored_nodes(start: int, end: int, into: list[tuple[int, int]]) -> None:
    """The (level, index) of each stored complete subtree the range [start, end) is hashed from."""
    width = end - start
    if width & (width - 1) == 0 and start % width == 0:
        if width >= BLOCK:
            level = width.bit_length() - 1
            into.append((level, start >> level))
        return
    k = split_point(width)
    _stored_nodes(start, start + k, into)
    _stored_nodes(start + k, end, into)


def planned(compute: Callable[[SubtreeHash], object], reader: SubtreeReader) -> None:
    """Runs ``compute`` once with a subtree function that only notes the ranges asked for, and prefetches them."""
    asked: list[tuple[int, int]] = []

    def note(start: int, end: int) -> bytes:
        asked.append((start, end))
        return bytes(32)

    compute(note)
    reader.prefetch(asked)
