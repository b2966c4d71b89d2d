"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A checkpoint note reads::

    <origin>
    <tree size, decimal>
    <root hash, standard base64>

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature of the three lines above)>

The key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || 32-byte public key); auditors configure
the verifier key ``<name>+<key id, 8 hex digits>+<base64(0x01 || public key)>`` and check notes offline.

The signing key comes from the key store (adapters/keys): its 32-byte Ed25519 seed is derived with HKDF-SHA256
from the data key the store keeps for the owner ``ledger-checkpoints``, which exists only wrapped by the
key-encryption keyring (re-wrapped when the KEK rotates, never on disk in clear).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"
"""The signed-note signature type of Ed25519."""
SIGNATURE_PREFIX = "\u2014 "
KEY_OWNER = "ledger-checkpoints"
"""The key store owner whose data key seeds the checkpoint signing key."""
_SEED_INFO = b"evidence-ledger|checkpoint-signing|ed25519|v1"


class NoteError(ValueError):
    """A signed note, checkpoint or verifier key that is malformed or whose signature does not verify."""


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        msg = f"a key name must be non-empty, without spaces or '+': {name!r}"
        raise NoteError(msg)
    return name


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 note key known by name and public key."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n" + ED25519 + self.public_key).digest()[:4]

    @property
    def verifier_key(self) -> str:
        """``<name>+<key id hex>+<base64(0x01 || public key)>``: what auditors configure."""
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(ED25519 + self.public_key).decode()}"

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Reads a verifier key string, checking its key id against its name and key."""
        parts = text.strip().split("+", 2)  # the base64 key may itself hold "+"
        if len(parts) != 3:
            msg = "a verifier key reads <name>+<key id hex>+<base64 key>"
            raise NoteError(msg)
        name, key_id, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError("the verifier key's key is not base64") from None
        if len(raw) != 33 or raw[:1] != ED25519:
            raise NoteError("the verifier key is not an Ed25519 key")
        verifier = cls(_check_name(name), raw[1:])
        if verifier.key_id.hex() != key_id.lower():
            raise NoteError("the verifier key's key id does not match its name and key")
        return verifier

    def open(self, note: str) -> str:
        """The text of a note this key signed; NoteError when it is malformed, unsigned by this key or altered."""
        text, signatures = _split(note)
        signed = False
        for name, blob in signatures:
            if name != self.name or blob[:4] != self.key_id:
                continue  # another key's signature (a witness, a rotated key): ignored, as the spec says
            try:
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(blob[4:], text.encode())
            except InvalidSignature:
                msg = f"the signature of {self.name} does not verify: the note was altered"
                raise NoteError(msg) from None
            signed = True
        if not signed:
            msg = f"the note carries no signature of {self.name}"
            raise NoteError(msg)
        return text


def _split(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """(text, [(key name, key id || signature)]) of a signed note."""
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a signed note is a text, a blank line and signature lines, each ending in a newline")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    signatures = []
    for line in lines:
        name, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        if not line.startswith(SIGNATURE_PREFIX) or not encoded:
            msg = f"not a signature line: {line!r}"
            raise NoteError(msg)
        try:
            signatures.append((name, base64.b64decode(encoded, validate=True)))
        except binascii.Error:
            raise NoteError(f"the signature of {name} is not base64") from None
    if not signatures:
        raise NoteError("a signed note needs at least one signature line")
    return text, signatures


class NoteSigner:
    """Signs note texts with one Ed25519 key under one key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(_check_name(name), public)

    def __repr__(self) -> str:
        return f"NoteSigner({self.verifier.verifier_key!r})"

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, text: str) -> str:
        """The signed note: the text, a blank line, and this key's signature line."""
        if not text.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in text):
            raise NoteError("a note text ends in a newline and holds no other control characters")
        signature = self._private_key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{SIGNATURE_PREFIX}{self.verifier.name} {blob}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its root hash."""

    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        """The note text of the C2SP tlog-checkpoint format."""
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
            raise NoteError("a checkpoint is origin, tree size and root hash, each on a non-empty line")
        origin, size, encoded = lines[:3]
        if not size.isdigit() or (size != "0" and size.startswith("0")):
            msg = f"the checkpoint's tree size is not a decimal number: {size!r}"
            raise NoteError(msg)
        try:
            root_hash = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise NoteError("the checkpoint's root hash is not base64") from None
        if len(root_hash) != 32:
            raise NoteError("the checkpoint's root hash is not 32 bytes")
        return cls(origin, int(size), root_hash)


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """The checkpoint a signed note holds, once its signature verified; NoteError otherwise."""
    return Checkpoint.parse(verifier.open(note))


class SecretSource(Protocol):
    """What the key store offers: the (wrapped at rest) data key of an owner, made on first use."""

    def current(self, owner: str) -> _Secret: ...


class _Secret(Protocol):
    @property
    def secret(self) -> bytes: ...


def checkpoint_signer(keys: SecretSource, origin: str) -> NoteSigner:
    """The platform's checkpoint signer: the key name is the origin, the seed comes from the key store."""
    material = keys.current(KEY_OWNER).secret
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEED_INFO).derive(material)
    return NoteSigner.from_seed(origin, seed)
