"""Keys: envelope encryption of event fields, crypto-shredding and KEK rotation.

A keyring file holds the key-encryption keys (KEKs); a SQL table of its own holds one data key (DEK) per tenant
and one for the platform, each only wrapped by a KEK. ``open_envelope_cipher`` builds the FieldCipher the event
store takes, from the keys directory (mode 0700), an optional keyring file, and an optional key-database URL.
"""

from __future__ import annotations

from pathlib import Path

from adapters.keys.datakeys import CACHE_SECONDS, DataKeyStore
from adapters.keys.envelope import EnvelopeCipher
from adapters.keys.keyring import KEYRING_FILE, KeyRing, KeyRingError
from adapters.keys.rotation import Rotation, retire_kek, rotate_kek

KEYS_DATABASE = "keys.db"

__all__ = [
    "DataKeyStore",
    "EnvelopeCipher",
    "KeyRing",
    "KeyRingError",
    "Rotation",
    "keyring_path",
    "keys_url",
    "open_envelope_cipher",
    "retire_kek",
    "rotate_kek",
]


def keyring_path(keys_dir: str, kek_file: str = "") -> Path:
    """The keyring file: ``kek_file`` when given, else ``<keys_dir>/kek.json``."""
    return Path(kek_file) if kek_file else Path(keys_dir) / KEYRING_FILE


def keys_url(keys_dir: str, url: str = "") -> str:
    """The key database: ``url`` when given (sqlite:/// or postgresql://), else ``sqlite:///<keys_dir>/keys.db``."""
    return url or f"sqlite:///{Path(keys_dir) / KEYS_DATABASE}"


def open_envelope_cipher(
    keys_dir: str, kek_file: str = "", url: str = "", *, cache_seconds: float = CACHE_SECONDS
) -> EnvelopeCipher:
    """Opens the keyring (created on first start under ``keys_dir`` unless ``kek_file`` names one) and the
    data-key table, and returns the cipher the event store seals fields with."""
    keyring = KeyRing.open(keyring_path(keys_dir, kek_file), create=not kek_file)
    return EnvelopeCipher(DataKeyStore(keys_url(keys_dir, url), keyring, cache_seconds))
