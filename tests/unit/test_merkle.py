"""The Merkle math of domain/merkle.py, checked against a second implementation written here from RFC 9162.

The reference below shares no code with the module: MTH, PATH and PROOF are the recursive definitions of
RFC 9162 section 2.1.1, 2.1.3.1 and 2.1.4.1, and the two verifiers follow sections 2.1.3.2 and 2.1.4.2 step by
step. The published Certificate Transparency vectors pin both to the real thing.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from domain import merkle

# --- the reference, from the RFC text ------------------------------------------------------------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf *data* (RFC 9162 2.1.1)."""
    if not leaves:
        return sha(b"")
    if len(leaves) == 1:
        return sha(b"\x00" + leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def largest_power_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def path_of(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 2.1.3.1)."""
    if len(leaves) == 1:
        return []
    k = largest_power_below(len(leaves))
    if m < k:
        return [*path_of(m, leaves[:k]), mth(leaves[k:])]
    return [*path_of(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 9162 2.1.4.1)."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = largest_power_below(len(leaves))
    if m <= k:
        return [*subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def rfc_verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = sha(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def rfc_verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2, step by step (first < second)."""
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = sha(b"\x01" + c + fr)
            sr = sha(b"\x01" + c + sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            sr = sha(b"\x01" + sr + c)
        fn //= 2
        sn //= 2
    return fr == first_hash and sr == second_hash and sn == 0


# --- fixtures ---------------------------------------------------------------------------------------------

CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")]
CT_LEAVES.append(bytes.fromhex("606162636465666768696a6b6c6d6e6f"))
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
DATA = [f"event {i}".encode() for i in range(70)]


def subtree_over(data: list[bytes]) -> merkle.SubtreeHash:
    """The module's subtree function, answered by the reference MTH (so proofs are the module's own logic)."""
    return lambda start, end: mth(data[start:end])


# --- tests ------------------------------------------------------------------------------------------------


def test_roots_match_the_certificate_transparency_vectors_and_the_rfc_definition() -> None:
    hashes = [merkle.leaf_hash(leaf) for leaf in CT_LEAVES]
    assert [merkle.root(hashes[:n]).hex() for n in range(9)] == CT_ROOTS
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]
    for n in range(len(DATA) + 1):
        assert merkle.root([merkle.leaf_hash(d) for d in DATA[:n]]) == mth(DATA[:n]), n


def test_the_published_inclusion_paths_come_out_and_verify() -> None:
    subtree = subtree_over(CT_LEAVES)
    expected = {
        (0, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                 "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
        (5, 8): ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    }  # fmt: skip
    for (index, size), path in expected.items():
        assert [h.hex() for h in merkle.inclusion_path(index, size, subtree)] == path


@pytest.mark.parametrize("size", range(1, 41))
def test_every_inclusion_path_is_the_rfcs_and_verifies_both_ways(size: int) -> None:
    subtree, root = subtree_over(DATA), mth(DATA[:size])
    for index in range(size):
        path = merkle.inclusion_path(index, size, subtree)
        leaf = merkle.leaf_hash(DATA[index])
        assert path == path_of(index, DATA[:size])
        assert rfc_verify_inclusion(index, size, leaf, path, root)
        assert merkle.verify_inclusion(index, size, leaf, path, root)
        assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"forged"), path, root)
        if path:
            bent = [path[0][:-1] + bytes([path[0][-1] ^ 1]), *path[1:]]
            assert not rfc_verify_inclusion(index, size, leaf, bent, root)
            assert not merkle.verify_inclusion(index, size, leaf, bent, root)
            assert not merkle.verify_inclusion((index + 1) % size, size, leaf, path, root) or size == 1


@pytest.mark.parametrize("second", range(1, 41))
def test_every_consistency_proof_is_the_rfcs_and_verifies_both_ways(second: int) -> None:
    subtree, second_root = subtree_over(DATA), mth(DATA[:second])
    for first in range(1, second + 1):
        proof = merkle.consistency_path(first, second, subtree)
        first_root = mth(DATA[:first])
        assert proof == subproof(first, DATA[:second], True)
        assert merkle.verify_consistency(first, second, first_root, second_root, proof)
        if first == second:
            assert proof == []
            continue
        assert rfc_verify_consistency(first, second, first_root, second_root, proof)
        assert not merkle.verify_consistency(first, second, mth(DATA[1 : first + 1]), second_root, proof)
        assert not merkle.verify_consistency(first, second, first_root, mth(DATA[1 : second + 1]), proof)
        assert not rfc_verify_consistency(first, second, first_root, second_root, proof[:-1])
        assert not merkle.verify_consistency(first, second, first_root, second_root, proof[:-1])


def test_proofs_for_impossible_sizes_are_refused() -> None:
    subtree = subtree_over(DATA)
    with pytest.raises(merkle.ProofRequestError):
        merkle.inclusion_path(5, 5, subtree)
    with pytest.raises(merkle.ProofRequestError):
        merkle.consistency_path(6, 5, subtree)
    with pytest.raises(merkle.ProofRequestError):
        merkle.consistency_path(0, 5, subtree)
    assert not merkle.verify_inclusion(3, 3, merkle.leaf_hash(DATA[0]), [], mth(DATA[:3]))


def test_a_compact_range_grown_in_odd_chunks_gives_every_root_and_the_complete_subtrees() -> None:
    rng = random.Random(7)
    hashes = [merkle.leaf_hash(d) for d in DATA]
    tree, kept, done = merkle.CompactRange(), [], 0
    while done < len(hashes):
        step = rng.randint(1, 9)
        kept += tree.extend(hashes[done : done + step], keep_level=2)
        done = min(done + step, len(hashes))
        assert tree.root() == mth(DATA[:done])
    assert tree.size == len(DATA)
    expected = {(level, index) for level in range(2, 7) for index in range(len(DATA) >> level)}
    assert {(level, index) for level, index, _ in kept} == expected
    for level, index, node in kept:
        assert node == mth(DATA[index << level : (index + 1) << level])
    resumed = merkle.CompactRange(tree.size, list(tree.peaks))
    resumed.extend(hashes[:3])
    assert resumed.root() == merkle.root(hashes + hashes[:3])
