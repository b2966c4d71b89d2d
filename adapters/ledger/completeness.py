"""Signed statements of completeness: exactly which leaves of a signed tree are one tenant's, in a range of leaves.

An inclusion proof shows that an event is in the log; it cannot show that none is missing. So an evidence bundle
also carries this statement, signed with the checkpoint key as a C2SP signed note. Its text (UTF-8, every line
ending in a newline, no other control characters)::

    governed-data-platform/tenant-leaves/v1
    <origin>                 \
    <tree size, decimal>      > the three lines of the checkpoint's body, byte for byte
    <root hash, base64>      /
    <tenant id>
    <start: the first leaf index of the range, decimal>
    <end: one past the last leaf index of the range, decimal>
    <count of the leaf indexes that follow, decimal>
    <leaf index, decimal>    one line per leaf, ascending, each in start..end-1

It says: in the tree of that size and root, the leaves from start to end-1 whose event's metadata names this
tenant (``meta.tenant_id`` of the entry's stored JSON) are exactly these. Whether a leaf is the tenant's is fixed
by its entry bytes, and the entries by the root, so for one root there is one true list: two different lists for
the same checkpoint contradict each other under the platform's signature, and any leaf on which a list is wrong
refutes it with that leaf's entry and inclusion proof.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.ledger.notes import Checkpoint, NoteError, NoteVerifier

HEADER = "governed-data-platform/tenant-leaves/v1"


@dataclass(frozen=True)
class TenantLeaves:
    """The statement: this checkpoint's leaves start..end-1 that are the tenant's are exactly ``leaf_indexes``."""

    checkpoint: Checkpoint
    tenant_id: str
    start: int
    end: int
    leaf_indexes: tuple[int, ...]

    def body(self) -> str:
        """The note text (see the module's docstring)."""
        counts = [self.start, self.end, len(self.leaf_indexes), *self.leaf_indexes]
        return f"{HEADER}\n{self.checkpoint.body()}{self.tenant_id}\n" + "".join(f"{n}\n" for n in counts)

    @classmethod
    def parse(cls, text: str) -> TenantLeaves:
        """Reads a statement's text, checking its shape; NoteError when it is not one."""
        lines = text.split("\n")
        if len(lines) < 9 or lines[0] != HEADER or lines[-1] != "":
            raise NoteError(f"a statement of a tenant's leaves starts with {HEADER!r} and has at least 8 lines")
        checkpoint = Checkpoint.parse("\n".join(lines[1:4]) + "\n")
        tenant_id = lines[4]
        start, end, count, *indexes = (_decimal(line) for line in lines[5:-1])
        statement = cls(checkpoint, tenant_id, start, end, tuple(indexes))
        statement.check(count)
        return statement

    def check(self, count: int) -> None:
        """The rules a statement's numbers obey; NoteError naming the first one broken."""
        if not self.tenant_id or not 0 <= self.start <= self.end <= self.checkpoint.tree_size:
            raise NoteError("the statement's range or tenant does not fit its tree")
        if count != len(self.leaf_indexes):
            raise NoteError(f"the statement says {count} leaves but lists {len(self.leaf_indexes)}")
        previous = self.start - 1
        for index in self.leaf_indexes:
            if not previous < index < self.end:
                raise NoteError(f"leaf {index} is out of order or outside the range {self.start}..{self.end - 1}")
            previous = index


def _decimal(line: str) -> int:
    if not line.isascii() or not line.isdigit() or (line != "0" and line.startswith("0")):
        raise NoteError(f"not a decimal number in the statement: {line!r}")
    return int(line)


def open_tenant_leaves(note: str, verifier: NoteVerifier) -> TenantLeaves:
    """The statement a signed note holds, once its signature verified; NoteError otherwise."""
    return TenantLeaves.parse(verifier.open(note))
