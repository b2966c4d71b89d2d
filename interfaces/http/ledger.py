"""The evidence ledger over HTTP: signed checkpoints, inclusion and consistency proofs, and entries.

Checkpoints and consistency proofs carry hashes only, so every authenticated principal reads them (``read_ledger``).
Whatever names one leaf (an entry, an inclusion proof) is answered only to those Cedar lets read that event
(``read_ledger_entry`` on the event's tenant; platform events: platform admins): anyone else is told there is no
such event, in the very words used for an event that does not exist, so event ids derived from public names (a
slug, a subject) tell nothing about another tenant. Hashes are hex; the note is the C2SP signed note.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from application.authorization import Identity, Resource
from interfaces.bootstrap import Leaf, Ledger, StoredCheckpoint
from interfaces.http.auth import Resources
from interfaces.http.problems import BadRequestError

ENTRY_MEDIA_TYPE = "application/octet-stream"


class CheckpointView(msgspec.Struct, frozen=True):
    tree_size: int
    root_hash: str
    note: str
    key: str
    """The verifier key (``<name>+<key id>+<base64(0x01 || Ed25519 public key)>``) that signed the note."""


class KeyView(msgspec.Struct, frozen=True):
    name: str
    key_id: str
    algorithm: str
    public_key: str
    verifier_key: str


class InclusionView(msgspec.Struct, frozen=True):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    path: list[str]


class ConsistencyView(msgspec.Struct, frozen=True, rename={"first": "from"}):
    first: int
    to: int
    path: list[str]


def checkpoint_view(ledger: Ledger, checkpoint: StoredCheckpoint) -> CheckpointView:
    key = ledger.verifier.verifier_key
    return CheckpointView(checkpoint.tree_size, checkpoint.root_hash.hex(), checkpoint.note, key)


class LedgerController(Controller):
    """Reads of the Merkle log over every event, and signing a checkpoint on demand."""

    path = "/v1/ledger"
    tags = ["ledger"]

    @get("/checkpoint", sync_to_thread=True, opt={"action": "read_ledger"})
    def checkpoint(self, ledger: NamedDependency[Ledger]) -> CheckpointView:
        """The latest signed checkpoint: tree size, root hash and the signed note."""
        return checkpoint_view(ledger, ledger.latest_checkpoint())

    @post("/checkpoints", sync_to_thread=True, status_code=201, opt={"action": "sign_ledger_checkpoint"})
    def sign_checkpoint(self, ledger: NamedDependency[Ledger]) -> CheckpointView:
        """Hash every event recorded so far and sign a checkpoint of the tree now."""
        return checkpoint_view(ledger, ledger.sign_checkpoint())

    @get("/key", sync_to_thread=False, opt={"action": "read_ledger"})
    def key(self, ledger: NamedDependency[Ledger]) -> KeyView:
        """The public key that signs checkpoints, and its signed-note verifier key for offline checks."""
        verifier = ledger.verifier
        public = base64.b64encode(verifier.public_key).decode()
        return KeyView(verifier.name, verifier.key_id.hex(), "Ed25519", public, verifier.verifier_key)

    @get("/proofs/inclusion", sync_to_thread=True, opt={"action": "read_ledger"})
    def inclusion(
        self,
        request: Request[Any, Any, Any],
        ledger: NamedDependency[Ledger],
        resources: NamedDependency[Resources],
        event_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        position: Annotated[int | None, QueryParameter(ge=1)] = None,
        tree_size: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> InclusionView:
        """The audit path of one event (by ``event_id`` or ``position``) in the tree of ``tree_size`` leaves
        (default: the latest checkpoint's)."""
        if (event_id is None) == (position is None):
            raise BadRequestError("name the event by exactly one of event_id and position")
        size = ledger.latest_checkpoint().tree_size if tree_size is None else tree_size
        leaf = ledger.find_leaf(event_id=event_id, position=position, readable=_reader(request, resources))
        proof = ledger.inclusion(leaf, size)
        return InclusionView(proof.leaf_index, proof.tree_size, proof.leaf_hash.hex(), [h.hex() for h in proof.path])

    @get("/proofs/consistency", sync_to_thread=True, opt={"action": "read_ledger"})
    def consistency(
        self,
        ledger: NamedDependency[Ledger],
        first: Annotated[int, QueryParameter(name="from")],
        to: Annotated[int, QueryParameter()],
    ) -> ConsistencyView:
        """The consistency proof from the tree of ``from`` leaves to the tree of ``to`` leaves."""
        if first > to:
            raise BadRequestError(f"from ({first}) must not be greater than to ({to})")
        if first < 1:
            raise BadRequestError("from must be at least 1: every tree is consistent with the empty one")
        path = ledger.consistency(first, to)
        return ConsistencyView(first, to, [h.hex() for h in path])

    @get("/entries/{leaf_index:int}", sync_to_thread=True, media_type=ENTRY_MEDIA_TYPE, opt={"action": "read_ledger"})
    def entry(
        self,
        request: Request[Any, Any, Any],
        ledger: NamedDependency[Ledger],
        resources: NamedDependency[Resources],
        leaf_index: FromPath[int],
    ) -> Response[bytes]:
        """The canonical bytes of the event at this leaf: SHA-256(0x00 || body) is its leaf hash."""
        leaf = ledger.leaf(leaf_index, readable=_reader(request, resources))
        entry = ledger.entry(leaf)
        headers = {
            "X-Ledger-Leaf-Index": str(leaf.leaf_index),
            "X-Ledger-Position": str(leaf.position),
            "X-Ledger-Event-Id": leaf.event_id,
            "X-Ledger-Leaf-Hash": leaf.leaf_hash.hex(),
        }
        if leaf.tenant_id:
            headers["X-Ledger-Tenant-Id"] = leaf.tenant_id
        return Response(entry.body, media_type=ENTRY_MEDIA_TYPE, headers=headers)


def _reader(request: Request[Any, Any, Any], resources: Resources) -> Callable[[Leaf], bool]:
    """Whether the caller may read a leaf's event: Cedar's ``read_ledger_entry`` on the event's tenant (or the
    platform, for the platform's own events)."""
    identity: Identity = request.auth

    def may_read(leaf: Leaf) -> bool:
        resource = Resource.platform()
        if leaf.tenant_id:  # a tenant not (or no longer) in the directory: still that tenant's event
            found = resources.find({"tenant_id": leaf.tenant_id}, False)
            resource = found or Resource.tenant(leaf.tenant_id, "unknown", [])
        return resources.allows(identity, "read_ledger_entry", resource)

    return may_read
