"""The signed statement of a tenant's leaves: its text, the rules its numbers obey, and its signature."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from adapters.ledger.completeness import TenantLeaves, open_tenant_leaves
from adapters.ledger.notes import Checkpoint, NoteError, NoteSigner

ORIGIN = "example.test/ledger"
CHECKPOINT = Checkpoint(ORIGIN, 10, hashlib.sha256(b"root").digest())
TENANT = "cfd59cce-e20f-50a6-8f69-5bf58ce763bf"
SIGNER = NoteSigner.from_seed(ORIGIN, b"\x01" * 32)


def test_the_text_is_the_header_the_checkpoint_the_tenant_the_range_and_the_leaves() -> None:
    statement = TenantLeaves(CHECKPOINT, TENANT, 2, 9, (2, 5, 8))

    text = statement.body()

    assert text.split("\n") == [
        "governed-data-platform/tenant-leaves/v1",
        *CHECKPOINT.body().split("\n")[:3],
        TENANT,
        "2",
        "9",
        "3",
        "2",
        "5",
        "8",
        "",
    ]
    assert TenantLeaves.parse(text) == statement
    assert open_tenant_leaves(SIGNER.sign(text), SIGNER.verifier) == statement


def test_an_empty_list_is_a_statement_too() -> None:
    statement = TenantLeaves(CHECKPOINT, TENANT, 10, 10, ())

    assert TenantLeaves.parse(statement.body()) == statement


@pytest.mark.parametrize(
    ("start", "end", "leaves", "why"),
    [
        (0, 11, (), "does not fit its tree"),
        (5, 4, (), "does not fit its tree"),
        (0, 10, (3, 3), "out of order"),
        (0, 10, (4, 3), "out of order"),
        (2, 10, (1,), "outside the range"),
        (0, 5, (5,), "outside the range"),
    ],
)
def test_numbers_that_break_the_rules_are_refused(start: int, end: int, leaves: tuple[int, ...], why: str) -> None:
    text = TenantLeaves(CHECKPOINT, TENANT, start, end, leaves).body()

    with pytest.raises(NoteError, match=why):
        TenantLeaves.parse(text)


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda lines: ["another/header/v1", *lines[1:]], "starts with"),
        (lambda lines: [*lines[:7], "4", *lines[8:]], "says 4 leaves but lists 3"),
        (lambda lines: [*lines[:8], "02", *lines[9:]], "not a decimal number"),
        (lambda lines: [*lines[:8], "-2", *lines[9:]], "not a decimal number"),
        (lambda lines: [*lines[:4], "", *lines[5:]], "does not fit its tree"),
    ],
)
def test_malformed_texts_are_refused(edit: Callable[[list[str]], list[str]], why: str) -> None:
    lines = TenantLeaves(CHECKPOINT, TENANT, 0, 10, (2, 5, 8)).body().split("\n")

    with pytest.raises(NoteError, match=why):
        TenantLeaves.parse("\n".join(edit(lines)))


def test_an_edited_statement_or_one_signed_by_another_key_does_not_open() -> None:
    text = TenantLeaves(CHECKPOINT, TENANT, 0, 10, (2, 5, 8)).body()
    signed = SIGNER.sign(text)
    stranger = NoteSigner.from_seed(ORIGIN, b"\x02" * 32)

    with pytest.raises(NoteError, match="does not verify"):
        open_tenant_leaves(signed.replace("\n5\n", "\n6\n"), SIGNER.verifier)
    with pytest.raises(NoteError, match="carries no signature"):
        open_tenant_leaves(stranger.sign(text), SIGNER.verifier)
    with pytest.raises(NoteError, match="starts with"):
        open_tenant_leaves(SIGNER.sign(CHECKPOINT.body()), SIGNER.verifier)  # a checkpoint is not a statement
