"""Dataset files at rest: a streaming AES-256-GCM envelope under the owning tenant's data key.

A sealed file is a header followed by segments (the format an auditor needs, also in the README):

``header = MAGIC (6 bytes "PDSEAL") | version (1 byte, 1) | segment size (4 bytes, big-endian) |
owner length (1 byte) | owner (UTF-8, the tenant id) | data key id (16 bytes) | salt (32 random bytes)``

Each file has its own key, ``HKDF-SHA256(data key, salt, "dataset-file|v1|<owner>|<key id hex>")``. Plaintext is
cut into segments of the segment size (the last one shorter, possibly empty); segment ``i`` is sealed with
AES-256-GCM under the file key, nonce ``i`` as 11 big-endian bytes followed by 1 byte that is 1 on the last segment
and 0 elsewhere, and the whole header as associated data. So a segment moved, dropped, repeated or swapped, a file
cut short at a segment boundary, a header edited (owner, key id, size) all fail authentication: a tampered file
fails loudly, never reads as other content. The SHA-256 that events record stays the hash of the plaintext.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.keys.datakeys import DataKey
from eventstore.cipher import FieldDecryptionError

MAGIC = b"PDSEAL"
VERSION = 1
SEGMENT = 64 * 1024
"""Plaintext bytes per segment: memory stays at a few segments whatever the file size."""
TAG = 16
SALT = 32
KEY_ID = 16
_FIXED = struct.Struct(">6sBIB")


class SealedFileError(Exception):
    """A sealed dataset file failed to open: altered, cut short, moved to another owner, or not a sealed file."""


class Sink(Protocol):
    """Where sealed bytes go: a file, or a staging upload."""

    def write(self, data: bytes, /) -> object: ...


class DataKeys(Protocol):
    """Where data keys come from: the key store (adapters/keys/datakeys.py)."""

    def current(self, owner: str) -> DataKey: ...

    def by_id(self, owner: str, key_id: str) -> DataKey: ...


@dataclass(frozen=True)
class Header:
    """What a sealed file says about itself; ``raw`` is the exact header bytes (the associated data)."""

    owner: str
    key_id: str
    segment: int
    salt: bytes
    raw: bytes


def is_sealed(stream: BinaryIO) -> bool:
    """Whether the stream (at its start) begins like a sealed file; the position is left where it was."""
    start = stream.tell()
    magic = stream.read(len(MAGIC))
    stream.seek(start)
    return magic == MAGIC


def _file_key(key: DataKey, header: Header) -> AESGCM:
    info = f"dataset-file|v{VERSION}|{header.owner}|{header.key_id}".encode()
    secret = HKDF(algorithm=hashes.SHA256(), length=32, salt=header.salt, info=info).derive(key.secret)
    return AESGCM(secret)


def _nonce(index: int, final: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _new_header(key: DataKey) -> Header:
    owner = key.owner.encode()
    salt = os.urandom(SALT)
    raw = _FIXED.pack(MAGIC, VERSION, SEGMENT, len(owner)) + owner + bytes.fromhex(key.key_id) + salt
    return Header(key.owner, key.key_id, SEGMENT, salt, raw)


def read_header(stream: BinaryIO) -> Header:
    """The header at the stream's position; SealedFileError when it is not one this platform writes."""
    fixed = stream.read(_FIXED.size)
    if len(fixed) != _FIXED.size:
        raise SealedFileError("the file is too short to be a sealed dataset file")
    magic, version, segment, owner_length = _FIXED.unpack(fixed)
    if magic != MAGIC or version != VERSION or not 0 < segment <= 1 << 26:
        raise SealedFileError(f"not a sealed dataset file of format version {VERSION}")
    rest = stream.read(owner_length + KEY_ID + SALT)
    if len(rest) != owner_length + KEY_ID + SALT:
        raise SealedFileError("the header of the sealed file is cut short")
    try:
        owner = rest[:owner_length].decode()
    except UnicodeDecodeError:
        raise SealedFileError("the header of the sealed file names no valid owner") from None
    key_id = rest[owner_length : owner_length + KEY_ID].hex()
    return Header(owner, key_id, segment, rest[owner_length + KEY_ID :], fixed + rest)


def plaintext_size(header: Header, sealed_size: int) -> int:
    """The plaintext size a sealed file of ``sealed_size`` bytes holds (it is fully determined by the layout)."""
    body = sealed_size - len(header.raw)
    whole = header.segment + TAG
    segments = max(1, -(-body // whole))
    size = body - segments * TAG
    if body < TAG or size < 0 or body - (segments - 1) * whole < TAG:
        raise SealedFileError("the sealed file is cut short")
    return size


class SealingWriter:
    """Writes plaintext as a sealed file into ``sink``: whole segments as they fill, the last on ``close``."""

    def __init__(self, sink: Sink, key: DataKey) -> None:
        self._sink = sink
        self._header = _new_header(key)
        self._aead = _file_key(key, self._header)
        self._buffer = bytearray()
        self._index = 0
        sink.write(self._header.raw)

    def write(self, data: bytes) -> int:
        self._buffer += data
        # A segment goes out only when more bytes follow it: the last one must carry the final flag.
        while len(self._buffer) > SEGMENT:
            self._emit(bytes(self._buffer[:SEGMENT]), final=False)
            del self._buffer[:SEGMENT]
        return len(data)

    def close(self) -> None:
        """Seals the last segment (possibly empty); the sink stays open."""
        self._emit(bytes(self._buffer), final=True)
        self._buffer.clear()

    def _emit(self, plain: bytes, final: bool) -> None:
        self._sink.write(self._aead.encrypt(_nonce(self._index, final), plain, self._header.raw))
        self._index += 1


def seal(source: BinaryIO, sink: Sink, key: DataKey) -> None:
    """Copies ``source`` (plaintext, read in segments) into ``sink`` as a sealed file."""
    writer = SealingWriter(sink, key)
    while chunk := source.read(SEGMENT):
        writer.write(chunk)
    writer.close()


def unseal(stream: BinaryIO, keys: DataKeys, owner: str) -> Iterator[bytes]:
    """The plaintext of a sealed file, segment by segment, each checked before it is handed out.

    SealedFileError when the file belongs to another owner than ``owner``, or any segment fails to open; the key
    store's KeyErasedError when the owner's data key was destroyed."""
    header = read_header(stream)
    if header.owner != owner:
        raise SealedFileError(f"the sealed file belongs to {header.owner!r}, not {owner!r}")
    try:
        aead = _file_key(keys.by_id(owner, header.key_id), header)
    except FieldDecryptionError as error:  # a key id the owner never had: the header was edited
        raise SealedFileError(str(error)) from None
    whole, index = header.segment + TAG, 0
    pending = stream.read(whole)
    while True:
        following = stream.read(whole) if len(pending) == whole else b""
        final = not following
        try:
            yield aead.decrypt(_nonce(index, final), pending, header.raw)
        except InvalidTag:
            msg = f"segment {index} of the sealed file failed authentication: the file was altered or cut short"
            raise SealedFileError(msg) from None
        if final:
            return
        pending, index = following, index + 1


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed file, readable at any offset: only the segments a read touches are opened (and
    authenticated). For formats read by seeking (Parquet), so no plaintext copy is written anywhere."""

    def __init__(self, stream: BinaryIO, sealed_size: int, keys: DataKeys, owner: str) -> None:
        stream.seek(0)
        self._stream = stream
        self._header = read_header(stream)
        if self._header.owner != owner:
            raise SealedFileError(f"the sealed file belongs to {self._header.owner!r}, not {owner!r}")
        try:
            self._aead = _file_key(keys.by_id(owner, self._header.key_id), self._header)
        except FieldDecryptionError as error:
            raise SealedFileError(str(error)) from None
        self.size = plaintext_size(self._header, sealed_size)
        self._last = max(0, -(-self.size // self._header.segment) - 1) if self.size else 0
        self._position = 0
        self._cached: tuple[int, bytes] = (-1, b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._position < self.size:
            index, offset = divmod(self._position, self._header.segment)
            plain = self._segment(index)
            piece = plain[offset : offset + len(view) - done]
            view[done : done + len(piece)] = piece
            done += len(piece)
            self._position += len(piece)
        return done

    def _segment(self, index: int) -> bytes:
        if self._cached[0] == index:
            return self._cached[1]
        whole = self._header.segment + TAG
        self._stream.seek(len(self._header.raw) + index * whole)
        sealed = self._stream.read(whole)
        try:
            plain = self._aead.decrypt(_nonce(index, index == self._last), sealed, self._header.raw)
        except InvalidTag:
            msg = f"segment {index} of the sealed file failed authentication: the file was altered or cut short"
            raise SealedFileError(msg) from None
        self._cached = (index, plain)
        return plain
