"""Small local secrets kept as files under PLATFORM_KEYS_DIR (mode 0600): created once, then read."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_BYTES = 32


def local_secret(keys_dir: Path, name: str) -> bytes:
    """The secret in ``keys_dir/name``, made (32 random bytes) the first time; safe when two processes race."""
    path = keys_dir / name
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(SECRET_BYTES))
                out.flush()
                os.fsync(out.fileno())
    data = path.read_bytes()
    if len(data) != SECRET_BYTES:
        raise ValueError(f"{path} does not hold a {SECRET_BYTES}-byte secret")
    return data
