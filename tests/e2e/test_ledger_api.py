"""The evidence ledger over HTTP, checked the way an outside auditor would: with nothing but the responses.

The verifier here is written from RFC 9162 (sections 2.1.3.2 and 2.1.4.2) and C2SP signed-note; signatures are
checked with ``cryptography``. Nothing of the ledger's own code is imported.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar.testing import TestClient

from interfaces.bootstrap import Platform
from tests.rfc9162 import mth, sha, verify_consistency, verify_inclusion


def signed_root(checkpoint: dict[str, Any]) -> tuple[int, bytes]:
    """Checks the checkpoint's C2SP note with its verifier key; returns the signed (tree size, root hash)."""
    name, key_id, encoded = checkpoint["key"].split("+", 2)
    raw_key = base64.b64decode(encoded)
    assert raw_key[:1] == b"\x01"
    assert sha(name.encode() + b"\n" + raw_key)[:4].hex() == key_id
    text, _, signature_lines = checkpoint["note"].rpartition("\n\n")
    [line] = signature_lines.splitlines()
    dash, signer, blob = line.split(" ")
    assert (dash, signer) == ("\u2014", name)
    signature = base64.b64decode(blob)
    assert signature[:4].hex() == key_id
    Ed25519PublicKey.from_public_bytes(raw_key[1:]).verify(signature[4:], (text + "\n").encode())
    origin, size, root = text.split("\n")
    assert origin == name
    return int(size), base64.b64decode(root)


def entries(client: TestClient, size: int) -> list[tuple[bytes, dict[str, str]]]:
    """Every entry's bytes and headers, leaf by leaf (as a platform admin)."""
    found = []
    for index in range(size):
        response = client.get(f"/v1/ledger/entries/{index}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        found.append((response.content, dict(response.headers)))
    return found


@pytest.fixture
def world(client: TestClient, token_for: Any, platform: Platform) -> dict[str, Any]:
    tenants = {}
    for slug in ("acme", "globex"):
        tenants[slug] = client.post("/v1/tenants", json={"slug": slug, "display_name": slug.title()}).json()
    tokens = {slug: token_for("analyst", tenant["tenant_id"]) for slug, tenant in tenants.items()}
    return {"tenants": tenants, "tokens": tokens}


def test_no_checkpoint_is_a_404_until_one_is_signed_and_only_admins_sign(
    client: TestClient, world: dict[str, Any]
) -> None:
    missing = client.get("/v1/ledger/checkpoint", headers=world["tokens"]["acme"])
    refused = client.post("/v1/ledger/checkpoints", headers=world["tokens"]["acme"])
    signed = client.post("/v1/ledger/checkpoints")

    assert (missing.status_code, missing.headers["content-type"]) == (404, "application/problem+json")
    assert "no signed checkpoint" in missing.json()["detail"]
    assert refused.status_code == 403
    assert signed.status_code == 201
    assert client.get("/v1/ledger/checkpoint", headers=world["tokens"]["acme"]).json() == signed.json()


def test_a_checkpoint_is_a_signed_note_over_the_leaves_anyone_can_rehash(
    client: TestClient, world: dict[str, Any], platform: Platform
) -> None:
    checkpoint = client.post("/v1/ledger/checkpoints").json()

    size, root = signed_root(checkpoint)
    leaves = [sha(b"\x00" + body) for body, _ in entries(client, size)]
    key = client.get("/v1/ledger/key", headers=world["tokens"]["globex"]).json()
    assert (checkpoint["tree_size"], checkpoint["root_hash"]) == (size, root.hex())
    assert size == len(platform.store.read_raw(0, 100_000))
    assert mth(leaves) == root
    assert key["verifier_key"] == checkpoint["key"]
    assert base64.b64decode(key["public_key"]) == base64.b64decode(checkpoint["key"].split("+", 2)[2])[1:]


def test_inclusion_proofs_by_event_id_and_position_verify_against_the_signed_root(
    client: TestClient, world: dict[str, Any]
) -> None:
    checkpoint = client.post("/v1/ledger/checkpoints").json()
    size, root = signed_root(checkpoint)
    analyst, acme = world["tokens"]["acme"], world["tenants"]["acme"]["tenant_id"]

    for index, (body, headers) in enumerate(entries(client, size)):
        by_id = client.get("/v1/ledger/proofs/inclusion", params={"event_id": headers["x-ledger-event-id"]})
        by_position = client.get(
            "/v1/ledger/proofs/inclusion", params={"position": headers["x-ledger-position"]}, headers=analyst
        )
        proof = by_id.json()
        if headers.get("x-ledger-tenant-id") == acme:  # an analyst proves their own tenant's events only
            assert by_position.json() == proof
        else:
            assert by_position.status_code == 404
        assert (proof["leaf_index"], proof["tree_size"]) == (index, size)
        assert proof["leaf_hash"] == sha(b"\x00" + body).hex() == headers["x-ledger-leaf-hash"]
        path = [bytes.fromhex(h) for h in proof["path"]]
        assert verify_inclusion(index, size, sha(b"\x00" + body), path, root)
        assert not verify_inclusion(index, size, sha(b"\x00" + body + b" "), path, root)


def test_a_consistency_proof_links_two_signed_checkpoints(client: TestClient, world: dict[str, Any]) -> None:
    first = client.post("/v1/ledger/checkpoints").json()
    client.post("/v1/tenants", json={"slug": "initech", "display_name": "Initech"})
    second = client.post("/v1/ledger/checkpoints").json()
    (m, first_root), (n, second_root) = signed_root(first), signed_root(second)

    response = client.get("/v1/ledger/proofs/consistency", params={"from": m, "to": n}, headers=world["tokens"]["acme"])

    assert m < n
    body = response.json()
    assert (body["from"], body["to"]) == (m, n)
    path = [bytes.fromhex(h) for h in body["path"]]
    assert verify_consistency(m, n, first_root, second_root, path)
    assert not verify_consistency(m, n, second_root, second_root, path)
    same = client.get("/v1/ledger/proofs/consistency", params={"from": n, "to": n}).json()
    assert same["path"] == []


def test_entries_are_read_by_their_own_tenant_and_platform_admins_only(
    client: TestClient, world: dict[str, Any]
) -> None:
    size, _ = signed_root(client.post("/v1/ledger/checkpoints").json())
    acme, globex = world["tenants"]["acme"]["tenant_id"], world["tenants"]["globex"]["tenant_id"]
    by_tenant: dict[str | None, int] = {}
    for index, (_, headers) in enumerate(entries(client, size)):
        by_tenant.setdefault(headers.get("x-ledger-tenant-id"), index)
    own, other, platform_event = by_tenant[acme], by_tenant[globex], by_tenant[None]
    analyst = world["tokens"]["acme"]

    mine = client.get(f"/v1/ledger/entries/{own}", headers=analyst)
    theirs = client.get(f"/v1/ledger/entries/{other}", headers=analyst)
    platforms = client.get(f"/v1/ledger/entries/{platform_event}", headers=analyst)

    assert mine.status_code == 200
    assert mine.headers["x-ledger-tenant-id"] == acme
    assert (theirs.status_code, platforms.status_code) == (404, 404)
    assert theirs.headers["content-type"] == "application/problem+json"
    assert client.get(f"/v1/ledger/entries/{other}", headers=world["tokens"]["globex"]).status_code == 200


def test_bad_questions_get_problem_details_that_say_what_is_wrong(client: TestClient, world: dict[str, Any]) -> None:
    size, _ = signed_root(client.post("/v1/ledger/checkpoints").json())
    inclusion, consistency = "/v1/ledger/proofs/inclusion", "/v1/ledger/proofs/consistency"
    cases = {
        "unknown event id": (client.get(inclusion, params={"event_id": "5c8d4c57-8a52-4a79-9a1e-4cf0c1b0a9e1"}), 404),
        "malformed event id": (client.get(inclusion, params={"event_id": "not-an-id"}), 404),
        "unknown position": (client.get(inclusion, params={"position": 10**12}), 404),
        "neither": (client.get(inclusion), 400),
        "both": (client.get(inclusion, params={"event_id": "x", "position": 1}), 400),
        "tree beyond the log": (client.get(inclusion, params={"position": 1, "tree_size": size + 10**6}), 422),
        "leaf outside the tree": (client.get(inclusion, params={"position": 1, "tree_size": 0}), 422),
        "from after to": (client.get(consistency, params={"from": size, "to": 1}), 400),
        "from zero": (client.get(consistency, params={"from": 0, "to": size}), 400),
        "to beyond the log": (client.get(consistency, params={"from": 1, "to": size + 5}), 422),
        "unknown leaf": (client.get(f"/v1/ledger/entries/{size + 10**6}"), 404),
    }
    for what, (response, status) in cases.items():
        assert response.status_code == status, (what, response.text)
        assert response.headers["content-type"] == "application/problem+json", what
    assert "beyond the log" in cases["tree beyond the log"][0].json()["detail"]
    assert "not in the tree of size 0" in cases["leaf outside the tree"][0].json()["detail"]
    assert "must not be greater" in cases["from after to"][0].json()["detail"]
