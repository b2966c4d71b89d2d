"""Merkle tree math of RFC 6962 / RFC 9162 (section 2.1): hashes, roots, inclusion and consistency proofs.

Pure functions over leaf hashes: no I/O, no clock. A leaf's hash is SHA-256(0x00 || leaf bytes) and an interior
node's SHA-256(0x01 || left || right); a tree of n leaves splits at k, the largest power of two below n, so its
left subtree is always complete. Proofs are produced from ``subtree(start, end)``, any function answering the
hash of leaves [start, end) (MTH(D[start:end]) in the RFC's words), so the caller decides what it stores and
what it recomputes. Paths are ordered from the leaf (or the smaller tree) upwards, as RFC 9162 sends them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from domain.errors import InvalidValueError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree: the hash of the empty string."""

SubtreeHash = Callable[[int, int], bytes]
"""(start, end) -> the Merkle tree hash of leaves start..end-1 (end > start)."""

_sha256 = hashlib.sha256


class ProofRequestError(InvalidValueError):
    """A proof was asked for indices or sizes that do not describe a leaf or two trees of the log."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(NODE_PREFIX + left + right).digest()


def split_point(size: int) -> int:
    """k of RFC 9162: the largest power of two smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def perfect_root(level: Sequence[bytes]) -> bytes:
    """The hash of a complete subtree whose leaf hashes (a power-of-two count of them) are given."""
    hashes = list(level)
    while len(hashes) > 1:
        pairs = iter(hashes)
        hashes = [_sha256(NODE_PREFIX + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]
    return hashes[0]


Node = tuple[int, int, bytes]
"""A complete subtree: (level, index, hash); it covers leaves index * 2**level .. (index + 1) * 2**level - 1."""


@dataclass
class CompactRange:
    """The right edge of a growing tree: one hash per complete subtree the size's binary digits name.

    Appending leaf hashes in bulk hashes aligned runs level by level, and hands back the complete subtrees of at
    least ``keep_level`` that the appends finished (a store keeps those to answer proofs without every leaf).
    """

    size: int = 0
    peaks: list[bytes] = field(default_factory=list)
    """Hashes of the complete subtrees, largest (leftmost) first: one per set bit of ``size``."""

    def extend(self, leaves: Sequence[bytes], keep_level: int | None = None) -> list[Node]:
        """Appends leaf hashes; returns the finished subtrees of level >= ``keep_level`` (none when None)."""
        kept: list[Node] = []
        done = 0
        while done < len(leaves):
            height = _run_height(self.size, len(leaves) - done)
            run = leaves[done : done + (1 << height)]
            self._push(height, _run_root(run, self.size, keep_level, kept), keep_level, kept)
            done += len(run)
        return kept

    def root(self) -> bytes:
        """The tree hash of everything appended so far."""
        if not self.peaks:
            return EMPTY_ROOT
        result = self.peaks[-1]
        for peak in reversed(self.peaks[:-1]):
            result = node_hash(peak, result)
        return result

    def _push(self, height: int, node: bytes, keep_level: int | None, kept: list[Node]) -> None:
        """Adds a complete subtree of 2**height leaves at the end, merging equal-sized neighbours."""
        end = self.size + (1 << height)
        level, carry = height, self.size >> height
        while carry & 1:
            node = node_hash(self.peaks.pop(), node)
            level, carry = level + 1, carry >> 1
            if keep_level is not None and level >= keep_level:
                kept.append((level, (end >> level) - 1, node))
        self.peaks.append(node)
        self.size = end


def _run_height(size: int, available: int) -> int:
    """The height of the largest complete subtree that can start at ``size`` with ``available`` leaves left."""
    height = available.bit_length() - 1
    if size:
        height = min(height, (size & -size).bit_length() - 1)
    return height


def _run_root(run: Sequence[bytes], start: int, keep_level: int | None, kept: list[Node]) -> bytes:
    """The hash of an aligned complete run of leaves starting at ``start``, keeping its nodes from keep_level."""
    hashes = list(run)
    level = 0
    while len(hashes) > 1:
        pairs = iter(hashes)
        hashes = [_sha256(NODE_PREFIX + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]
        level += 1
        if keep_level is not None and level >= keep_level:
            first = start >> level
            kept.extend((level, first + offset, node) for offset, node in enumerate(hashes))
    return hashes[0]


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]): the tree hash of the given leaf hashes (EMPTY_ROOT for none)."""
    tree = CompactRange()
    tree.extend(leaves)
    return tree.root()


def inclusion_path(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1: the sibling hashes from the leaf up to the root."""
    if not 0 <= index < size:
        msg = f"leaf {index} is not in a tree of size {size}"
        raise ProofRequestError(msg)
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + split_point(end - start)
        if index < middle:
            path.append(subtree(middle, end))
            end = middle
        else:
            path.append(subtree(start, middle))
            start = middle
    return path[::-1]


def consistency_path(first: int, second: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 section 2.1.4.1: shows the tree of ``first`` leaves is a prefix."""
    if not 0 < first <= second:
        msg = f"no consistency proof from tree size {first} to {second}: it needs 0 < from <= to"
        raise ProofRequestError(msg)
    path: list[bytes] = []
    start, end, known, whole = 0, second, first, True
    while known != end - start:
        k = split_point(end - start)
        if known <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, known, whole = start + k, known - k, False
    if not whole:
        path.append(subtree(start, end))
    return path[::-1]


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``path`` prove leaf ``index`` of a tree of ``size`` has hash ``leaf``?"""
    if not 0 <= index < size:
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and result == root_hash


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: does ``path`` prove the tree of ``first`` leaves is a prefix of ``second``'s?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    nodes = [first_root, *path] if (first & (first - 1)) == 0 else list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for node in nodes[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(node, fr), node_hash(node, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root
