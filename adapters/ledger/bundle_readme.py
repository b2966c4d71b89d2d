"""The README.md inside every evidence bundle: how to check it by hand, without the platform."""

from __future__ import annotations

README = """# Evidence bundle

This bundle holds every event of one tenant in a range of the platform's evidence ledger, each with an RFC 9162
inclusion proof against the signed checkpoint in `checkpoint.json` (a C2SP signed note, Ed25519), and a statement,
signed with the same key, of exactly which leaves of that range are the tenant's (`tenant-leaves.note`).

To check it without the platform: `platform audit check <bundle> --key <verifier key>`, with the verifier key
obtained from the platform operator out of band (`GET /v1/ledger/key`). By hand:
1. Verify the note in `checkpoint.json` with the verifier key (C2SP signed note): its text is the origin, the tree
   size and the base64 root hash, one per line.
2. Verify `tenant-leaves.note` with the same key. Its text is `governed-data-platform/tenant-leaves/v1`, the three
   lines of the checkpoint's text byte for byte, the tenant id, the range's first leaf index, one past its last
   leaf index, the number of leaf indexes that follow, then one leaf index per line, ascending (all decimal, every
   line ending in a newline).
3. For each line of `events.ndjson`: leaf hash = SHA-256(0x00 || base64-decoded `entry`); check it against
   `leaf_hash`, then walk `path` to the root (RFC 9162 section 2.1.3.2) from `leaf_index` and compare with the
   note's root hash; the entry's stored JSON must name the tenant in `meta.tenant_id`.
4. The `leaf_index` values of `events.ndjson` must be exactly the statement's list, each once: a leaf listed with
   no event means an event was left out, an event not listed one that does not belong.

The entry bytes are: 0x01, the topic's length (u16 big-endian), the topic, the stream id (32 hex digits), the
stream version (u64 big-endian), then the stored event JSON ({"meta", "data", "enc", "blobs"}) byte for byte.
An event that lists fields under "blobs" carries each one's SHA-256 in their place; the content is the file
`blobs/<sha256>.json`, whose SHA-256 must be that hash.
`manifest.json` repeats the list (unsigned) and holds the SHA-256 of each other file.
`lineage.openlineage.json` holds the tenant's pipeline runs as OpenLineage RunEvents; `obligations.json` the
lineage obligations and their results.
"""
