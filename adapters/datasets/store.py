"""The dataset store: write-once, content-addressed files per tenant and stage, over ``pyarrow.fs``.

Every key reads ``{tenant_id}/{stage}/...``. Files that arrive (uploads, compute output) land at
``{tenant_id}/{stage}/{sha[:2]}/{sha}{suffix}``, so the same bytes land once; ``put_bytes`` writes at an explicit
key. No method ever replaces a stored file, and ``verified`` hands out a file only after its SHA-256 matches the
one its event recorded.

Two backends share this class. Local disk (a directory path or ``file:///abs``): files are built in a staging
file under ``scratch``, fsynced, then hard-linked into place; a link, unlike a rename, fails when the name
exists, so a file is never replaced and never visible half-written. S3-compatible object stores
(``s3://bucket/prefix?endpoint_override=host:9000&scheme=http&region=...``, credentials from the usual AWS
environment or as ``s3://key:secret@bucket/...``; without ``region`` pyarrow asks the server for the bucket's
region when opening; ``allow_bucket_creation=true`` creates the bucket on opening when it is missing): the same
``pyarrow.fs`` calls stream the staging file into the object, which appears whole when the upload completes
(pyarrow uploads a file larger than its part size, 10 MiB, in parts). The tests run the store's suite against
both, S3 being a moto server (tests/integration/test_dataset_store_backends.py).

Write-once on S3 is a check before the write, not a conditional write: pyarrow's S3 output stream sends no
``If-None-Match`` (it drops that header given as metadata, silently) and the store keeps one client for the
multipart uploads it needs. So two writers racing on one key both write. For content-addressed keys they write
the same plaintext (a sealed file's bytes differ, its content and hash do not); the explicit keys of ``put_bytes``
are written by the one command that owns them (a published version's manifest under its run), never by two.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import pyarrow as pa
from pyarrow import fs as pafs

from adapters.datasets import sealing
from adapters.datasets.scratch import DOWNLOADS, UPLOADS, claim, erase_tenant_entries, owned_prefix

STAGES = ("raw", "gdp", "quarantine", "kpi", "published", "exports", "blobs")
SEALED_STAGES = ("raw", "gdp", "quarantine", "kpi", "published", "exports")
"""The stages whose files are sealed under their tenant's data key (adapters/datasets/sealing.py). Blobs (contract
documents, which replay and the ledger need after an erasure too) are stored as they are."""
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


class NoKeysError(DatasetError):
    """The store was opened without a key store, so it cannot seal or open dataset files."""


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

    def __init__(self, directory: Path, max_bytes: int, tenant_id: str = "") -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix=owned_prefix(UPLOADS, tenant_id), suffix=".part")
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


def owner_of_key(key: str) -> str:
    """Whose data key seals the file at ``key``: the tenant its key starts with."""
    return key.split("/", 1)[0]


def is_sealed_key(key: str) -> bool:
    """Whether the file at ``key`` is (or, not yet migrated, is to be) sealed."""
    return key.split("/")[1] in SEALED_STAGES


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
    """Write-once, content-addressed dataset files on local disk or an S3-compatible store; files of the sealed
    stages are sealed under their tenant's data key when written and opened (and hash-checked) when read."""

    def __init__(
        self,
        filesystem: pafs.FileSystem,
        base: str,
        scratch: Path,
        local_root: Path | None,
        keys: sealing.DataKeys | None = None,
    ) -> None:
        self._fs = filesystem
        self._base = base.rstrip("/")
        self._local_root = local_root
        self._scratch = scratch
        self._uploads = scratch / UPLOADS
        self._downloads = scratch / DOWNLOADS
        self._keys = keys

    @classmethod
    def open(cls, location: str, scratch: Path, keys: sealing.DataKeys | None = None) -> DatasetStore:
        """The store at a directory path, ``file:///abs`` or ``s3://bucket/prefix?...``; ``scratch`` is a local
        directory for staging files and downloads; ``keys`` the data keys files are sealed with."""
        if location.startswith("s3://"):
            filesystem, base = pafs.FileSystem.from_uri(location)
            if "allow_bucket_creation=true" in location:
                filesystem.create_dir(base.split("/", 1)[0])  # a no-op when the bucket is there
            return cls(filesystem, base, scratch, None, keys)
        if location.startswith("file://"):
            _, path = pafs.FileSystem.from_uri(location)
            location = path
        root = Path(location).resolve()
        return cls(pafs.LocalFileSystem(), str(root), scratch, root, keys)

    def receive(self, max_bytes: int, tenant_id: str = "") -> Upload:
        """A new staging file under scratch, to be written chunk by chunk and then landed."""
        self._uploads.mkdir(parents=True, exist_ok=True)
        return Upload(self._uploads, max_bytes, tenant_id)

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
        with self.receive(len(data), owner_of_key(key)) as upload:
            upload.write(data)
            upload.finish()
            if not self._install(upload.path, key):
                return self._same_or_refuse(key, sha256, len(data))
        return StoredFile(key, sha256, len(data), existed=False)

    @contextmanager
    def verified(self, key: str, sha256: str) -> Iterator[Path]:
        """A local path to the plaintext of the file at ``key``, whose content matched ``sha256``; IntegrityError
        otherwise (a sealed file that fails to open included).

        A plaintext file on the local store: the stored file itself, hashed first. A sealed file, or S3: opened
        (and hashed) into a held file under scratch, removed afterwards."""
        check_key(key)
        if self._local_root is not None and not self._sealed_at(key):
            self._check(key, sha256)
            yield self._local_root / key
            return
        self._downloads.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._downloads, prefix=owned_prefix(DOWNLOADS, owner_of_key(key)))
        download = Path(name)
        held = claim(download)
        try:
            with os.fdopen(fd, "wb") as sink:
                self._check(key, sha256, sink)
            yield download
        finally:
            download.unlink(missing_ok=True)
            os.close(held)

    @contextmanager
    def opened(self, key: str, sha256: str) -> Iterator[BinaryIO]:
        """The plaintext of the file at ``key`` as a seekable stream, once its content matched ``sha256``;
        IntegrityError otherwise. A sealed file is opened segment by segment as it is read, through the one handle
        that was hashed: no plaintext copy is written anywhere (for readers that seek, such as Parquet)."""
        check_key(key)
        size = self._stored_size(key)
        if size is None:
            raise IntegrityError(f"the stored file {key} is missing")
        try:
            stream = self._fs.open_input_file(self._fs_path(key))
        except FileNotFoundError as error:
            raise IntegrityError(f"the stored file {key} is missing") from error
        with stream:
            self._compare(key, self._hash_plaintext(key, stream, None), sha256)
            stream.seek(0)
            if not (is_sealed_key(key) and sealing.is_sealed(stream)):
                yield stream
                return
            try:
                reader = sealing.SealedReader(stream, size, self._need_keys(), owner_of_key(key))
            except sealing.SealedFileError as error:
                raise IntegrityError(f"the stored file {key} failed to open: {error}") from error
            yield io.BufferedReader(reader, CHUNK)

    def read_verified(self, key: str, sha256: str) -> bytes:
        """The content of a small file at ``key``, after checking it against ``sha256``."""
        with self.opened(key, sha256) as stream:
            return stream.read()

    def exists(self, key: str) -> bool:
        """Whether a file is stored at ``key``."""
        check_key(key)
        return self._stored_size(key) is not None

    def _fs_path(self, key: str) -> str:
        return f"{self._base}/{key}"

    def _stored_size(self, key: str) -> int | None:
        info = self._fs.get_file_info(self._fs_path(key))
        return info.size if info.type == pafs.FileType.File else None

    def _plain_size(self, key: str) -> int | None:
        """The size of the plaintext stored at ``key`` (a sealed file's follows from its header and size)."""
        size = self._stored_size(key)
        if size is None or not is_sealed_key(key):
            return size
        with self._fs.open_input_file(self._fs_path(key)) as stream:
            if not sealing.is_sealed(stream):
                return size
            try:
                return sealing.plaintext_size(sealing.read_header(stream), size)
            except sealing.SealedFileError as error:
                raise IntegrityError(f"the stored file {key} is not a sound sealed file: {error}") from error

    def _sealed_at(self, key: str) -> bool:
        """Whether the stored file at ``key`` is sealed (files written before sealing existed are not)."""
        if not is_sealed_key(key):
            return False
        try:
            with self._fs.open_input_file(self._fs_path(key)) as stream:
                return sealing.is_sealed(stream)
        except FileNotFoundError as error:
            raise IntegrityError(f"the stored file {key} is missing") from error

    def _check(self, key: str, sha256: str, sink: BinaryIO | None = None) -> None:
        """Hashes the stored file's plaintext (copying it into ``sink`` when given); IntegrityError if missing,
        different, or sealed and failing to open."""
        if self._stored_size(key) is None:
            raise IntegrityError(f"the stored file {key} is missing")
        try:
            with self._fs.open_input_file(self._fs_path(key)) as stream:
                actual = self._hash_plaintext(key, stream, sink)
        except FileNotFoundError as error:  # removed between the two calls
            raise IntegrityError(f"the stored file {key} is missing") from error
        self._compare(key, actual, sha256)

    @staticmethod
    def _compare(key: str, actual: str, sha256: str) -> None:
        if actual != sha256:
            raise IntegrityError(f"the stored file {key} has SHA-256 {actual}, not the recorded {sha256}")

    def _hash_plaintext(self, key: str, stream: BinaryIO, sink: BinaryIO | None) -> str:
        if not is_sealed_key(key) or not sealing.is_sealed(stream):
            return _hash_stream(stream, sink)[0]
        digest = hashlib.sha256()
        try:
            for chunk in sealing.unseal(stream, self._need_keys(), owner_of_key(key)):
                digest.update(chunk)
                if sink is not None:
                    sink.write(chunk)
        except sealing.SealedFileError as error:
            raise IntegrityError(f"the stored file {key} failed to open: {error}") from error
        return digest.hexdigest()

    def _need_keys(self) -> sealing.DataKeys:
        if self._keys is None:
            raise NoKeysError("this dataset store was opened without the key store, so it cannot seal or open files")
        return self._keys

    def _same_or_refuse(self, key: str, sha256: str, size: int) -> StoredFile:
        """``existed=True`` if the file at ``key`` holds exactly this content, else AlreadyStoredError."""
        try:
            self._check(key, sha256)
        except IntegrityError as error:
            raise AlreadyStoredError(f"other content is already stored at {key}") from error
        return StoredFile(key, sha256, size, existed=True)

    def _land_path(self, path: Path, sha256: str, size: int, tenant_id: str, stage: str, suffix: str) -> StoredFile:
        key = content_key(tenant_id, stage, sha256, suffix)
        stored = self._plain_size(key)
        if stored is None and self._install(path, key):
            return StoredFile(key, sha256, size, existed=False)
        stored = self._plain_size(key) if stored is None else stored
        if stored != size:
            raise IntegrityError(f"the stored file {key} has {stored} bytes, not {size}; it is never replaced")
        return StoredFile(key, sha256, size, existed=True)

    def _install(self, source: Path, key: str) -> bool:
        """Puts a copy of ``source`` (sealed, for a sealed stage) at ``key`` unless a file is there already (then
        False); never replaces."""
        if not is_sealed_key(key):
            return self._install_as_is(source, key)
        with self._sealed_copy(source, owner_of_key(key)) as sealed:
            return self._install_as_is(sealed, key)

    @contextmanager
    def _sealed_copy(self, source: Path, owner: str) -> Iterator[Path]:
        """``source`` sealed under the owner's data key, in a held staging file under scratch, fsynced."""
        key = self._need_keys().current(owner)
        self._uploads.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._uploads, prefix=owned_prefix(UPLOADS, owner), suffix=".part")
        staging = Path(name)
        held = claim(staging)
        try:
            with os.fdopen(fd, "wb") as sink, source.open("rb") as plain:
                sealing.seal(plain, sink, key)
                sink.flush()
                os.fsync(sink.fileno())
            yield staging
        finally:
            staging.unlink(missing_ok=True)
            os.close(held)

    def _install_as_is(self, source: Path, key: str) -> bool:
        if self._local_root is None:
            with source.open("rb") as stream, self._output(key) as sink:
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

    def _output(self, key: str) -> pa.NativeFile:
        """A stream writing the object at ``key`` as it is (no compression guessed from the key's suffix)."""
        return self._fs.open_output_stream(self._fs_path(key), compression=None)

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

    def keys_in(self, stages: tuple[str, ...] = SEALED_STAGES, tenant_id: str = "") -> Iterator[str]:
        """The keys of the files stored in ``stages`` (of one tenant, or of all), in a stable order; names the
        store itself uses for partial files (starting with a dot) are left out."""
        tenants = [tenant_id] if tenant_id else self._tenants()
        for tenant in tenants:
            for stage in stages:
                selector = pafs.FileSelector(self._fs_path(f"{tenant}/{stage}"), allow_not_found=True, recursive=True)
                found = self._fs.get_file_info(selector)
                names = (i.path[len(self._base) + 1 :] for i in found if i.type == pafs.FileType.File)
                yield from sorted(n for n in names if not n.rsplit("/", 1)[-1].startswith("."))

    def _tenants(self) -> list[str]:
        found = self._fs.get_file_info(pafs.FileSelector(self._base, allow_not_found=True))
        return sorted(i.base_name for i in found if i.type == pafs.FileType.Directory)

    def delete_tenant_files(self, tenant_id: str) -> int:
        """Deletes every file of the tenant in the sealed stages (blobs stay: replay needs them) and its entries
        in scratch (staging files, downloads, work directories); how many."""
        check_place(tenant_id, "raw", "")
        count = erase_tenant_entries(self._scratch, tenant_id)
        for stage in SEALED_STAGES:
            path = self._fs_path(f"{tenant_id}/{stage}")
            if self._fs.get_file_info(path).type != pafs.FileType.Directory:
                continue
            count += sum(1 for _ in self.keys_in((stage,), tenant_id))
            self._fs.delete_dir(path)
        return count

    def is_sealed(self, key: str) -> bool:
        """Whether the file at ``key`` is stored sealed (IntegrityError when it is missing)."""
        check_key(key)
        return self._sealed_at(key)

    def seal_in_place(self, key: str, sha256: str) -> None:
        """Replaces the plaintext file at ``key`` by its sealed form: checked against ``sha256`` before, written
        beside it, opened and checked again, then renamed over it (atomic on local disk). The one place a stored
        file is replaced, by the same content."""
        check_key(key)
        if not is_sealed_key(key):
            raise DatasetError(f"files of {key.split('/')[1]} are not sealed")
        folder, name = key.rsplit("/", 1)
        beside = f"{folder}/.{name}.sealing"  # keys_in leaves it out; a run cut short leaves it, the next replaces it
        if self._stored_size(beside) is not None:
            self._fs.delete_file(self._fs_path(beside))
        with self.verified(key, sha256) as plain, self._sealed_copy(plain, owner_of_key(key)) as sealed:
            with sealed.open("rb") as stream, self._output(beside) as sink:
                shutil.copyfileobj(stream, sink, CHUNK)
            if self._local_root is not None:
                with (self._local_root / beside).open("rb") as written:
                    os.fsync(written.fileno())
                os.chmod(self._local_root / beside, STORED_MODE)
            self._check(beside, sha256)
            self._fs.move(self._fs_path(beside), self._fs_path(key))
        if self._local_root is not None:
            _fsync_dir((self._local_root / key).parent)
