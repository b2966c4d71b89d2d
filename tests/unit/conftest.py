"""The unit suite does no I/O (docs STYLE.md): a unit test that writes a file, opens SQLite or connects a socket
fails, saying what it touched. Reading files (the source a rule test walks, installed data) stays allowed.

Tests that need a disk, a database or a server belong in tests/integration.
"""

from __future__ import annotations

import builtins
import io
import os
import socket
import sqlite3
from typing import Any, NoReturn

import pytest

TEMPORARY_FOLDERS = frozenset({"tmp_path", "tmp_path_factory", "tmpdir", "tmpdir_factory"})
WRITING_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND


def _refuse(what: str) -> NoReturn:
    pytest.fail(f"a unit test does no I/O, but this one {what}: make it pure or move it to tests/integration")


def _guarded_open(real: Any) -> Any:
    def open_for_reading(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+"):
            _refuse(f"opened {file!r} for writing")
        return real(file, mode, *args, **kwargs)

    return open_for_reading


def _guarded_os_open(real: Any) -> Any:
    def os_open_for_reading(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
        if flags & WRITING_FLAGS:
            _refuse(f"opened {path!r} for writing")
        return real(path, flags, *args, **kwargs)

    return os_open_for_reading


@pytest.fixture(autouse=True)
def no_io(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuses temporary folders, writing files, making folders, SQLite and socket connections."""
    if TEMPORARY_FOLDERS & set(request.fixturenames):
        _refuse("asks for a temporary folder")
    monkeypatch.setattr(builtins, "open", _guarded_open(builtins.open))
    monkeypatch.setattr(io, "open", _guarded_open(io.open))
    monkeypatch.setattr(os, "open", _guarded_os_open(os.open))
    monkeypatch.setattr(os, "mkdir", lambda path, *_, **__: _refuse(f"made the folder {path!r}"))
    monkeypatch.setattr(sqlite3, "connect", lambda *args, **_: _refuse(f"opened SQLite {args[:1]!r}"))
    monkeypatch.setattr(socket.socket, "connect", lambda _, address: _refuse(f"connected to {address!r}"))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda _, address: _refuse(f"connected to {address!r}"))
