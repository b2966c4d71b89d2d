"""Sealed read-model values: personal fields kept in read-model rows encrypted under their tenant's data key.

A read-model column marked sealed (``projections.base.sealed_column``: an event field the event declares in
``encrypted_fields``) is written as ``r1.<owner>.<data key id>.<base64url(AES-SIV)>``. AES-SIV (RFC 5297) is an AEAD
whose associated data here is the row's identity (table, column, primary key) and the key's owner: a value copied
into another row, column or tenant does not open. It is deterministic, so replaying the log into a fresh database
gives byte-identical rows (``platform replay`` compares digests). Its key is derived (HKDF-SHA256) from the owner's
data key, so destroying that key (crypto-shredding) leaves the values unreadable for good: they read ``[erased]``.
None and ``[erased]`` itself hold nothing personal and are stored as they are.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.keys.datakeys import DataKey
from adapters.keys.envelope import EnvelopeCipher, owner_of
from eventstore.cipher import FieldDecryptionError, KeyErasedError
from eventstore.codec import ERASED

__all__ = ["ERASED", "RowSealer", "row_identity", "sealable"]

TOKEN_VERSION = "r1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _row_key(secret: bytes) -> AESSIV:
    """The AES-256-SIV key of read-model rows, derived from a data key (never the data key itself)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"read-model rows").derive(secret)
    return AESSIV(derived)


def row_identity(table: str, column: str, key: Mapping[str, Any]) -> bytes:
    """The associated data naming one cell: table, column and primary key (columns sorted by name)."""
    return json.dumps([table, column, sorted((k, str(v)) for k, v in key.items())], separators=(",", ":")).encode()


def sealable(value: Any) -> bool:
    """None and ``[erased]`` carry nothing personal; every other value is sealed."""
    return value is not None and value != ERASED


class RowSealer:
    """Seals and opens read-model cells with the data key of their owner (a tenant id, or None: the platform)."""

    def __init__(self, cipher: EnvelopeCipher) -> None:
        self.cipher = cipher

    def __repr__(self) -> str:
        return f"RowSealer({self.cipher!r})"

    def seal(self, owner: str | None, cell: bytes, value: Any) -> Any:
        """The sealed form of ``value`` for the cell ``cell`` (see ``row_identity``); ``[erased]`` once the owner's
        data key is destroyed, and None or ``[erased]`` as they are."""
        if not sealable(value):
            return value
        name = owner_of(owner)
        try:
            key = self.cipher.keys.current(name)
        except KeyErasedError:
            return ERASED
        sealed = _row_key(key.secret).encrypt(msgspec.json.encode(value), [cell, _bound(name, key)])
        return f"{TOKEN_VERSION}.{name}.{key.key_id}.{_b64(sealed)}"

    def open(self, cell: bytes, token: Any) -> Any:
        """The value a sealed cell holds; ``[erased]`` when its data key was destroyed. A value that is not sealed
        (None, ``[erased]``) is returned as it is; a sealed one that fails to open is a FieldDecryptionError."""
        if not isinstance(token, str) or not token.startswith(f"{TOKEN_VERSION}."):
            if sealable(token):
                raise FieldDecryptionError("a sealed read-model cell holds a value in clear: rebuild the read model")
            return token
        name, key_id, raw = _split(token)
        try:
            key = self.cipher.keys.by_id(name, key_id)
        except KeyErasedError:
            return ERASED
        try:
            plain = _row_key(key.secret).decrypt(raw, [cell, _bound(name, key)])
        except InvalidTag:
            msg = f"a sealed read-model cell of {name} failed to open: it was altered or moved from another row"
            raise FieldDecryptionError(msg) from None
        return msgspec.json.decode(plain)

    def fingerprint(self, text: str) -> str:
        """A keyed digest (under the platform's data key) to look rows up by a value kept sealed."""
        return self.cipher.fingerprint(None, text)


def _bound(owner: str, key: DataKey) -> bytes:
    return f"row|{owner}|{key.key_id}".encode()


def _split(token: str) -> tuple[str, str, bytes]:
    parts = token.split(".", 3)
    if len(parts) != 4:
        raise FieldDecryptionError("a sealed read-model cell is not a sealed value of this platform")
    try:
        return parts[1], parts[2], _unb64(parts[3])
    except (ValueError, binascii.Error):
        raise FieldDecryptionError("a sealed read-model cell is not valid base64") from None
