"""The dataset store: write-once, content-addressed files per tenant and stage, over ``pyarrow.fs``.

Every key reads ``{tenant_id}/{stage}/...``. Files that arrive (uploads, compute output) land at
``{tenant_id}/{stage}/{sha[:2]}/{sha}{suffix}``, so the same bytes land once; ``put_bytes`` writes at an explicit
key. No method ever replaces a stored file, and ``verified`` hands out a file only after its SHA-256 matches the
one its event recorded.

Two backends share this class. Local disk (a directory path or ``file:///abs``): files are built in a staging
file under ``scratch``, fsynced, then hard-linked into place; a link, unlike a rename, fails when the name
exists, so a file is never replaced and never visible half-written. S3-compatible object stores
(``s3://bucket/prefix?endpoint_override=host:9000&scheme=http&region=...``, credentials from the usual AWS
environment; without ``region`` pyarrow asks the server for the bucket's region when opening): the same
``pyarrow.fs`` calls stream the staging file into the object, which appears whole when the upload completes.
The S3 path is not exercised by the tests here (no S3 server): only its URL parsing is. On S3 the existence
check and the write are two requests, so two writers racing on one key both write; with content-addressed keys
they write the same bytes.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pyarrow import fs as pafs

from adapters.datasets.scratch import DOWNLOADS, OWNED, UPLOADS, claim

STAGES = ("raw", "gdp", "quarantine", "kpi", "published", "exports", "blobs")
STORED_MODE = 0o440
"""Stored local files are read-only, for the owner and group of the service."""
CHUNK = 1 << 20
"""Bytes read or copied at a time: files are hashed and moved in 1 MiB chunks, never read whole."""


class DatasetError(Exception):
    """The dataset store could not do what was asked."""


class IntegrityError(DatasetError):
    """A stored file is missing or does not match its recorded SHA-256 or size; it is never served."""


class AlreadyStoredError(DatasetError):
    """Different content is already stored at this key; stored files are never replaced."""


class TooLargeError(DatasetError):
    """The upload is larger than the limit it was received under."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload exceeds the limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredFile:
    """A file in the store: its key, SHA-256 (hex), size, and whether the same content was already there."""

    key: str
    sha256: str
    bytes: int
    existed: bool


class Upload:
    """A local staging file being received; it hashes and counts what it writes, and is held (locked) until
    discarded, so a sweep at another process's start leaves it alone.

    Used as a context manager it discards the staging file on exit unless the store has landed it.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix=OWNED[UPLOADS], suffix=".part")
        self.path = Path(name)
        self._claim: int | None = claim(self.path)
        self.max_bytes = max_bytes
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._bytes = 0
        self._discarded = False
        self.landed = False

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of what has been written so far."""
        return self._hash.hexdigest()

    @property
    def bytes(self) -> int:
        """The number of bytes written so far."""
        return self._bytes

    def write(self, chunk: builtins.bytes) -> None:
        """Appends ``chunk``; past ``max_bytes`` the staging file is discarded and TooLargeError raised."""
        if self._file is None:
            raise DatasetError("this upload is finished or discarded")
        if self._bytes + len(chunk) > self.max_bytes:
            self.discard()
            raise TooLargeError(self.max_bytes)
        self._file.write(chunk)
        self._hash.update(chunk)
        self._bytes += len(chunk)

    def finish(self) -> None:
        """Flushes the staging file to disk and closes it; no more writes. DatasetError once discarded."""
        if self._discarded:
            raise DatasetError("this upload was discarded")
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def discard(self) -> None:
        """Closes and removes the staging file (safe to call twice)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._discarded = True
        self.path.unlink(missing_ok=True)
        if self._claim is not None:
            os.close(self._claim)
            self._claim = None

    def __enter__(self) -> Upload:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.landed:
            self.discard()


def check_key(key: str) -> None:
    """ValueError unless ``key`` is relative, free of ``..``, and starts with a tenant id and a known stage."""
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"not a valid dataset key: {key!r}")
    if len(parts) < 3 or parts[1] not in STAGES:
        raise ValueError(f"a dataset key reads tenant/stage/name with a stage among {', '.join(STAGES)}: {key!r}")


def check_place(tenant_id: str, stage: str, suffix: str) -> None:
    """ValueError unless a file may land for this tenant id, stage and suffix (such as ``.parquet``)."""
    if not tenant_id or "/" in tenant_id or "\\" in tenant_id or tenant_id in (".", ".."):
        raise ValueError(f"not a valid tenant id: {tenant_id!r}")
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")
    if suffix and (not suffix.startswith(".") or "/" in suffix or "\\" in suffix or suffix in (".", "..")):
        raise ValueError(f"a suffix starts with a dot and holds no slash: {suffix!r}")


def content_key(tenant_id: str, stage: str, sha256: str, suffix: str) -> str:
    """The content-addressed key of a file: ``{tenant_id}/{stage}/{sha[:2]}/{sha}{suffix}``."""
    check_place(tenant_id, stage, suffix)
    return f"{tenant_id}/{stage}/{sha256[:2]}/{sha256}{suffix}"


def _hash_stream(stream: BinaryIO, sink: BinaryIO | None = None) -> tuple[str, int]:
    """The hex SHA-256 and size of what ``stream`` holds, read in chunks (copied into ``sink`` when given)."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest(), size


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link(source: Path, target: Path) -> bool:
    """Gives ``source`` the name ``target`` unless that name exists (then False), and makes it read-only.

    A hard link, unlike a rename, refuses to replace an existing file, which is what write-once needs."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    os.chmod(target, STORED_MODE)
    _fsync_dir(target.parent)
    return True


class DatasetStore:
    """Write-once, content-addressed dataset files on local disk or an S3-compatible store."""

    def __init__(self, filesystem: pafs.FileSystem, base: str, scratch: Path, local_root: Path | None) -> None:
        self._fs = filesystem
        self._base = base.rstrip("/")
        self._local_root = local_root
        self._uploads = scratch / UPLOADS
        self._downloads = scratch / DOWNLOADS

    @classmethod
    def open(cls, location: str, scratch: Path) -> DatasetStore:
        """The store at a directory path, ``file:///abs`` or ``s3://bucket/prefix?...``; ``scratch`` is a local
        directory for staging files and downloads."""
        if location.startswith("s3://"):
            filesystem, base = pafs.FileSystem.from_uri(location)
            return cls(filesystem, base, scratch, None)
        if location.startswith("file://"):
            _, path = pafs.FileSystem.from_uri(location)
            location = path
        root = Path(location).resolve()
        return cls(pafs.LocalFileSystem(), str(root), scratch, root)

    def receive(self, max_bytes: int) -> Upload:
        """A new staging file under scratch, to be written chunk by chunk and then landed."""
        self._uploads.mkdir(parents=True, exist_ok=True)
        return Upload(self._uploads, max_bytes)

    def land(self, upload: Upload, tenant_id: str, stage: str, suffix: str) -> StoredFile:
        """Moves an upload to its content-addressed key; when the same content is there, nothing is written.

        IntegrityError when a file of another size already sits at that key (it is never replaced). The staging
        file is gone afterwards, whatever happened."""
        upload.finish()
        try:
            stored = self._land_path(upload.path, upload.sha256, upload.bytes, tenant_id, stage, suffix)
        finally:
            upload.landed = True
            upload.discard()
        return stored

    def put_file(self, path: Path, tenant_id: str, stage: str, suffix: str) -> StoredFile:
        """Lands a locally produced file (compute output) like ``land``. The source file is consumed: once
        stored (moved in, or the same content found there) it is gone; on an error it is left in place."""
        check_place(tenant_id, stage, suffix)
        with path.open("rb") as source:
            sha256, size = _hash_stream(source)
            os.fsync(source.fileno())  # it becomes the stored file: on disk before its name appears
        stored = self._land_path(path, sha256, size, tenant_id, stage, suffix)
        path.unlink(missing_ok=True)
        return stored

    def put_bytes(self, key: str, data: bytes) -> StoredFile:
        """Writes small content at an explicit key, once: AlreadyStoredError if other content is there,
        ``existed=True`` if the same content is."""
        check_key(key)
        sha256 = hashlib.sha256(data).hexdigest()
        if self._stored_size(key) is not None:
            return self._same_or_refuse(key, sha256, len(data))
        with self.receive(len(data)) as upload:
            upload.write(data)
            upload.finish()
            if not self._install(upload.path, key):
                return self._same_or_refuse(key, sha256, len(data))
        return StoredFile(key, sha256, len(data), existed=False)

    @contextmanager
    def verified(self, key: str, sha256: str) -> Iterator[Path]:
        """A local path to the file at ``key`` whose content matched ``sha256``; IntegrityError otherwise.

        Local store: the stored file itself, hashed first. S3: a download into scratch, removed afterwards."""
        check_key(key)
        if self._local_root is not None:
            self._check(key, sha256)
            yield self._local_root / key
            return
        self._downloads.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._downloads, prefix=OWNED[DOWNLOADS])
        download = Path(name)
        held = claim(download)
        try:
            with os.fdopen(fd, "wb") as sink:
                self._check(key, sha256, sink)
            yield download
        finally:
            download.unlink(missing_ok=True)
            os.close(held)

    def read_verified(self, key: str, sha256: str) -> bytes:
        """The content of a small file at ``key``, after checking it against ``sha256``."""
        with self.verified(key, sha256) as path:
            return path.read_bytes()

    def exists(self, key: str) -> bool:
        """Whether a file is stored at ``key``."""
        check_key(key)
        return self._stored_size(key) is not None

    def _fs_path(self, key: str) -> str:
        return f"{self._base}/{key}"

    def _stored_size(self, key: str) -> int | None:
        info = self._fs.get_file_info(self._fs_path(key))
        return info.size if info.type == pafs.FileType.File else None

    def _check(self, key: str, sha256: str, sink: BinaryIO | None = None) -> None:
        """Hashes the stored file (copying it into ``sink`` when given); IntegrityError if missing or different."""
        if self._stored_size(key) is None:
            raise IntegrityError(f"the stored file {key} is missing")
        try:
            with self._fs.open_input_stream(self._fs_path(key)) as stream:
                actual, _ = _hash_stream(stream, sink)
        except FileNotFoundError as error:  # removed between the two calls
            raise IntegrityError(f"the stored file {key} is missing") from error
        if actual != sha256:
            raise IntegrityError(f"the stored file {key} has SHA-256 {actual}, not the recorded {sha256}")

    def _same_or_refuse(self, key: str, sha256: str, size: int) -> StoredFile:
        """``existed=True`` if the file at ``key`` holds exactly this content, else AlreadyStoredError."""
        try:
            self._check(key, sha256)
        except IntegrityError as error:
            raise AlreadyStoredError(f"other content is already stored at {key}") from error
        return StoredFile(key, sha256, size, existed=True)

    def _land_path(self, path: Path, sha256: str, size: int, tenant_id: str, stage: str, suffix: str) -> StoredFile:
        key = content_key(tenant_id, stage, sha256, suffix)
        stored = self._stored_size(key)
        if stored is None and self._install(path, key):
            return StoredFile(key, sha256, size, existed=False)
        stored = self._stored_size(key) if stored is None else stored
        if stored != size:
            raise IntegrityError(f"the stored file {key} has {stored} bytes, not {size}; it is never replaced")
        return StoredFile(key, sha256, size, existed=True)

    def _install(self, source: Path, key: str) -> bool:
        """Puts a copy of ``source`` at ``key`` unless a file is there already (then False); never replaces."""
        if self._local_root is None:
            with source.open("rb") as stream, self._fs.open_output_stream(self._fs_path(key)) as sink:
                shutil.copyfileobj(stream, sink, CHUNK)
            return True
        target = self._local_root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            return _link(source, target)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
        return self._copy_across(source, target)

    def _copy_across(self, source: Path, target: Path) -> bool:
        """Scratch on another device: copy beside the target, fsync, then link, so the name appears whole."""
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        partial = Path(name)
        try:
            with os.fdopen(fd, "wb") as sink, source.open("rb") as stream:
                shutil.copyfileobj(stream, sink, CHUNK)
                sink.flush()
                os.fsync(sink.fileno())
            return _link(partial, target)
        finally:
            partial.unlink(missing_ok=True)
