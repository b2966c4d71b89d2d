"""Small secrets kept as files (mode 0600): 32 random bytes, made once under PLATFORM_KEYS_DIR, or made beforehand
by the operator and named by a setting."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_BYTES = 32


def new_file(path: Path, content: bytes) -> bool:
    """Writes ``content`` to a new file only its owner can read; False when the file exists already (two processes
    may race: one writes it, both then read it)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    return True


def random_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def read_secret(path: Path) -> bytes:
    """The secret in a file; ValueError when it does not hold exactly 32 bytes (OSError when it cannot be read)."""
    data = path.read_bytes()
    if len(data) != SECRET_BYTES:
        raise ValueError(f"does not hold a {SECRET_BYTES}-byte secret")
    return data


def local_secret(keys_dir: Path, name: str) -> bytes:
    """The secret in ``keys_dir/name``, made the first time; safe when two processes race."""
    path = keys_dir / name
    if not path.exists():
        new_file(path, random_secret())
    try:
        return read_secret(path)
    except ValueError as error:
        raise ValueError(f"{path} {error}") from None
