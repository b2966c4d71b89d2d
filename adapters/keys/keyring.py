"""The key-encryption keyring (KEK): AES-256 keys with ids, one of them current, kept in a file only its owner reads.

Data keys are stored only wrapped by a KEK, and each wrapped key names the KEK that wrapped it, so rotation is
"add a new current KEK, re-wrap every data key, then retire the old KEK" with no moment where reads fail.
The file is re-read when it changes on disk, so every process sharing it sees a rotation.

File format (JSON, mode 0600, in a directory of mode 0700)::

    {"format": 1, "current": "kek-...", "keys": {"kek-...": {"key": "<base64>", "created_at": "<iso time>"}}}
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)
KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = 1
KEYRING_FILE = "kek.json"
"""The keyring's name in a keys directory."""


class KeyRingError(ValueError):
    """The keyring file is missing, malformed, or lacks the KEK a wrapped data key names."""


def new_kek_id() -> str:
    return f"kek-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _private_dir(path: Path) -> None:
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        path.chmod(0o700)


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """Writes the file atomically (temp file, fsync, rename), readable by its owner only."""
    _private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.chmod(0o600)
    temporary.replace(path)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialises changes to the keyring between processes (creation, rotation, retirement)."""
    _private_dir(path.parent)
    descriptor = os.open(path.with_name(f"{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def _new_entry() -> dict[str, str]:
    key = base64.b64encode(AESGCM.generate_key(bit_length=8 * KEY_BYTES)).decode()
    return {"key": key, "created_at": datetime.now(UTC).isoformat()}


def _parse(path: Path, raw: str) -> tuple[str, dict[str, bytes]]:
    try:
        document = json.loads(raw)
        keys = {kek_id: base64.b64decode(entry["key"], validate=True) for kek_id, entry in document["keys"].items()}
        current = document["current"]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        msg = f"the keyring {path} is not a keyring file"
        raise KeyRingError(msg) from None
    if current not in keys or any(len(key) != KEY_BYTES for key in keys.values()):
        msg = f"the keyring {path} names no usable current key"
        raise KeyRingError(msg)
    return current, keys


class KeyRing:
    """The KEKs of one keyring file; wraps data keys with the current KEK, unwraps with the one named."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._state: tuple[str, dict[str, bytes]] = ("", {})  # (current id, keys), swapped whole on reload
        self._refresh()

    @classmethod
    def open(cls, path: Path, *, create: bool) -> KeyRing:
        """Opens the keyring file; creates it with one KEK when ``create`` and it does not exist yet."""
        if not path.exists():
            if not create:
                msg = f"no keyring file at {path}"
                raise KeyRingError(msg)
            with _file_lock(path):
                if not path.exists():
                    kek_id = new_kek_id()
                    _write_private(path, {"format": FORMAT, "current": kek_id, "keys": {kek_id: _new_entry()}})
                    log.info("created the key-encryption keyring %s", path)
        return cls(path)

    def __repr__(self) -> str:
        current, keys = self._state
        return f"KeyRing({str(self.path)!r}, current={current!r}, ids={sorted(keys)!r})"

    @property
    def current_id(self) -> str:
        self._refresh()
        return self._state[0]

    def ids(self) -> list[str]:
        self._refresh()
        return sorted(self._state[1])

    def wrap(self, data_key: bytes, context: bytes) -> tuple[str, bytes]:
        """Seals a data key with the current KEK, bound to ``context``; returns (KEK id, nonce + sealed key)."""
        self._refresh()
        kek_id, keys = self._state
        kek = keys[kek_id]
        nonce = os.urandom(NONCE_BYTES)
        return kek_id, nonce + AESGCM(kek).encrypt(nonce, data_key, context)

    def unwrap(self, kek_id: str, wrapped: bytes, context: bytes) -> bytes:
        """Opens a data key wrapped by the KEK ``kek_id``."""
        self._refresh()
        kek = self._state[1].get(kek_id)
        if kek is None:
            msg = f"the keyring {self.path} has no key {kek_id!r} (was it retired too early?)"
            raise KeyRingError(msg)
        try:
            return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag:
            msg = f"a data key wrapped by {kek_id!r} failed to open: it was altered or belongs to another keyring"
            raise KeyRingError(msg) from None

    def add_current(self) -> str:
        """Adds a new KEK and makes it current (step one of a rotation); returns its id."""
        with _file_lock(self.path):
            document = self._document()
            kek_id = new_kek_id()
            document["keys"][kek_id] = _new_entry()
            document["current"] = kek_id
            _write_private(self.path, document)
        self._refresh()
        log.info("keyring %s: %s is the current key-encryption key", self.path, kek_id)
        return kek_id

    def remove(self, kek_id: str) -> None:
        """Removes a KEK that is not current (the last step of a rotation)."""
        with _file_lock(self.path):
            document = self._document()
            if document["current"] == kek_id:
                msg = f"{kek_id} is the current key-encryption key; rotate before retiring it"
                raise KeyRingError(msg)
            if document["keys"].pop(kek_id, None) is None:
                msg = f"the keyring has no key {kek_id!r}"
                raise KeyRingError(msg)
            _write_private(self.path, document)
        self._refresh()
        log.info("keyring %s: retired %s", self.path, kek_id)

    def _document(self) -> dict[str, Any]:
        raw = self.path.read_text()
        _parse(self.path, raw)
        document: dict[str, Any] = json.loads(raw)
        return document

    def _refresh(self) -> None:
        """Re-reads the file when it changed on disk (another process may have rotated)."""
        try:
            status = self.path.stat()
        except FileNotFoundError:
            msg = f"no keyring file at {self.path}"
            raise KeyRingError(msg) from None
        stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
        if stamp == self._stamp:
            return
        with self._lock:
            if status.st_mode & 0o077:
                log.warning(
                    "the keyring %s can be read by others (mode %o); chmod 600 it", self.path, status.st_mode & 0o777
                )
            self._state = _parse(self.path, self.path.read_text())
            self._stamp = stamp
