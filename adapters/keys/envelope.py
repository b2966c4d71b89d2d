"""Envelope encryption of event fields: AES-256-GCM under the owner's data key, which a KEK wraps.

A sealed value is the text ``v1.<data key id>.<base64url(nonce + ciphertext + tag)>``; the authenticated data
binds it to its owner and key, so a token copied into another tenant's event does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.keys.datakeys import DataKey, DataKeyStore
from eventstore.cipher import PLATFORM_OWNER, FieldDecryptionError

TOKEN_VERSION = "v1"
NONCE_BYTES = 12
FINGERPRINT_SCHEME = "hmac-sha256"


def owner_of(tenant_id: str | None) -> str:
    return tenant_id or PLATFORM_OWNER


def _context(owner: str, key_id: str) -> bytes:
    return f"field|{owner}|{key_id}".encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class EnvelopeCipher:
    """The FieldCipher the event store uses, plus secret fingerprints and crypto-shredding."""

    def __init__(self, keys: DataKeyStore) -> None:
        self.keys = keys

    def __repr__(self) -> str:
        return f"EnvelopeCipher({self.keys!r})"

    def encrypt(self, tenant_id: str | None, value: Any) -> str:
        """Seals a JSON-native value with the owner's data key (KeyErasedError once it is destroyed)."""
        owner = owner_of(tenant_id)
        key = self.keys.current(owner)
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key.secret).encrypt(nonce, msgspec.json.encode(value), _context(owner, key.key_id))
        return f"{TOKEN_VERSION}.{key.key_id}.{_b64(nonce + sealed)}"

    def decrypt(self, tenant_id: str | None, token: str) -> Any:
        """Opens a sealed value: KeyErasedError when its key was destroyed, FieldDecryptionError when it is bad."""
        owner = owner_of(tenant_id)
        key_id, raw = _split(token)
        key = self.keys.by_id(owner, key_id)
        try:
            plain = AESGCM(key.secret).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _context(owner, key_id))
        except InvalidTag:
            msg = f"a sealed value of {owner} failed to open under data key {key_id}: it was altered or moved"
            raise FieldDecryptionError(msg) from None
        return msgspec.json.decode(plain)

    def fingerprint(self, tenant_id: str | None, value: str) -> str:
        """An HMAC of the value under a key derived from the owner's data key: it tells values apart without
        revealing them, and means nothing once the data key is destroyed."""
        key = self.keys.current(owner_of(tenant_id))
        digest = hmac.new(_fingerprint_key(key), value.encode(), hashlib.sha256).hexdigest()
        return f"{FINGERPRINT_SCHEME}:{digest[:32]}"

    def destroy_data_key(self, tenant_id: str) -> None:
        """Crypto-shreds a tenant: its data key is erased for good, so its sealed fields read as erased."""
        self.keys.destroy(owner_of(tenant_id))

    def data_key_destroyed(self, tenant_id: str) -> bool:
        """Whether the tenant was crypto-shredded: its data key destroyed, so its data can never be read again."""
        return self.keys.destroyed(owner_of(tenant_id))

    def close(self) -> None:
        self.keys.close()


def _split(token: Any) -> tuple[str, bytes]:
    parts = token.split(".", 2) if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        msg = "a sealed field is not a sealed value of this platform"
        raise FieldDecryptionError(msg)
    try:
        return parts[1], _unb64(parts[2])
    except (ValueError, binascii.Error):
        msg = "a sealed field is not valid base64"
        raise FieldDecryptionError(msg) from None


def _fingerprint_key(key: DataKey) -> bytes:
    info = f"secret-fingerprint|{key.owner}|{key.key_id}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key.secret)
