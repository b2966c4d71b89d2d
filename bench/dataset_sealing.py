"""Dataset files at rest: the streaming envelope (adapters/datasets/sealing.py) against Parquet modular encryption
(``pyarrow.parquet.encryption``, the key store as its KMS), each beside the plaintext it replaces.

Equal guarantees: both use AES-256-GCM under a key derived from (envelope) or wrapped by (modular) the tenant's
data key, authenticate every byte they store (modular: ``AES_GCM_V1``, encrypted footer, every column), and fail
loudly on any alteration. The table is the KPI/GDP-like retail golden data (``sample.retail``), 1,000,000 rows
(quick: 20,000), zstd like the pipeline writes.

- ``sealing.parquet.write.envelope``: ``pq.write_table`` to a file, then the file sealed into the store's format
  (what ``put_file`` does), vs the plaintext ``pq.write_table`` alone.
- ``sealing.parquet.write.modular``: ``pq.write_table`` with modular encryption properties, vs the same plaintext.
- ``sealing.parquet.read.envelope``: the sealed file opened and hashed, then ``pq.read_table`` over the seeking
  reader of the same handle (what ``opened`` does), vs today's plaintext read: the file hashed, then ``read_table``.
- ``sealing.parquet.read.modular``: ``pq.read_table`` with decryption properties, vs the same plaintext read.
- ``sealing.raw``: a raw CSV (200 MB; quick 4 MB) landed and read back through a store that seals, vs one that
  keeps plaintext (``put_file`` then ``read`` through ``verified``). Counts bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.datasets import sealing
from adapters.datasets.store import CHUNK, DatasetStore
from adapters.keys.datakeys import DataKeyStore
from adapters.keys.keyring import KeyRing
from bench.harness import Config, Pair, Sample, figure, timed
from sample.retail import write_csv

SEALING_AIM = 0.7
TENANT = "bench-tenant"


def bench_keys(folder: Path) -> DataKeyStore:
    """A fresh key store under ``folder``: the data keys every bench that writes dataset files seals with."""
    return DataKeyStore(f"sqlite:///{folder / 'keys.db'}", KeyRing.open(folder / "kek.json", create=True))


class DataKeyKms(pe.KmsClient):  # type: ignore[misc]
    """Parquet modular encryption's KMS: wraps the file's keys with the tenant's data key (AES-256-GCM)."""

    def __init__(self, keys: DataKeyStore) -> None:
        super().__init__()
        self.keys = keys

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        key = self.keys.current(master_key_identifier)
        nonce = os.urandom(12)
        sealed = AESGCM(key.secret).encrypt(nonce, key_bytes, master_key_identifier.encode())
        return base64.b64encode(bytes.fromhex(key.key_id) + nonce + sealed).decode()

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        raw = base64.b64decode(wrapped_key)
        key = self.keys.by_id(master_key_identifier, raw[:16].hex())
        return AESGCM(key.secret).decrypt(raw[16:28], raw[28:], master_key_identifier.encode())


def _golden(rows: int, folder: Path) -> pa.Table:
    return pcsv.read_csv(write_csv(folder / "golden.csv", rows))


def _modular(keys: DataKeyStore, columns: list[str]) -> tuple[pe.CryptoFactory, pe.KmsConnectionConfig, object]:
    factory = pe.CryptoFactory(lambda _config: DataKeyKms(keys))
    config = pe.EncryptionConfiguration(
        footer_key=TENANT,
        column_keys={TENANT: columns},
        encryption_algorithm="AES_GCM_V1",
        plaintext_footer=False,
        double_wrapping=True,
    )
    return factory, pe.KmsConnectionConfig(), config


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _seal_file(source: Path, target: Path, keys: DataKeyStore) -> None:
    with source.open("rb") as plain, target.open("wb") as sink:
        sealing.seal(plain, sink, keys.current(TENANT))


@contextmanager
def _parquet_setup(config: Config, name: str) -> Iterator[tuple[Path, pa.Table, DataKeyStore]]:
    folder = config.workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder, _golden(config.size(1_000_000, 20_000), folder), bench_keys(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_plain(table: pa.Table, path: Path) -> int:
    pq.write_table(table, path, compression="zstd")
    return int(table.num_rows)


@figure("sealing.parquet.write.envelope", aim=SEALING_AIM, unit="rows/s", description="Parquet write + seal vs write")
@contextmanager
def write_envelope(config: Config) -> Iterator[Pair]:
    with _parquet_setup(config, "sealing-write-envelope") as (folder, table, keys):

        def system() -> Sample:
            def run() -> int:
                rows = _write_plain(table, folder / "plain.parquet")
                _seal_file(folder / "plain.parquet", folder / "sealed.parquet", keys)
                return rows

            return timed(run)

        yield Pair(system, lambda: timed(lambda: _write_plain(table, folder / "base.parquet")), _note(table))


@figure("sealing.parquet.write.modular", aim=SEALING_AIM, unit="rows/s", description="Parquet modular write vs write")
@contextmanager
def write_modular(config: Config) -> Iterator[Pair]:
    with _parquet_setup(config, "sealing-write-modular") as (folder, table, keys):
        factory, connection, encryption = _modular(keys, table.column_names)

        def system() -> Sample:
            def run() -> int:
                properties = factory.file_encryption_properties(connection, encryption)
                pq.write_table(table, folder / "modular.parquet", compression="zstd", encryption_properties=properties)
                return int(table.num_rows)

            return timed(run)

        yield Pair(system, lambda: timed(lambda: _write_plain(table, folder / "base.parquet")), _note(table))


def _read_plain(path: Path) -> int:
    _hash(path)
    return int(pq.read_table(path).num_rows)


@figure(
    "sealing.parquet.read.envelope", aim=SEALING_AIM, unit="rows/s", description="open + hash + read vs hash + read"
)
@contextmanager
def read_envelope(config: Config) -> Iterator[Pair]:
    with _parquet_setup(config, "sealing-read-envelope") as (folder, table, keys):
        _write_plain(table, folder / "plain.parquet")
        _seal_file(folder / "plain.parquet", folder / "sealed.parquet", keys)

        def system() -> Sample:
            def run() -> int:
                sealed = folder / "sealed.parquet"
                with sealed.open("rb") as stream:
                    for _ in sealing.unseal(stream, keys, TENANT):  # the hash pass, as ``opened`` does
                        pass
                    reader = sealing.SealedReader(stream, sealed.stat().st_size, keys, TENANT)
                    return int(pq.read_table(io.BufferedReader(reader, CHUNK)).num_rows)

            return timed(run)

        yield Pair(system, lambda: timed(lambda: _read_plain(folder / "plain.parquet")), _note(table))


@figure("sealing.parquet.read.modular", aim=SEALING_AIM, unit="rows/s", description="modular read vs hash + read")
@contextmanager
def read_modular(config: Config) -> Iterator[Pair]:
    with _parquet_setup(config, "sealing-read-modular") as (folder, table, keys):
        factory, connection, encryption = _modular(keys, table.column_names)
        properties = factory.file_encryption_properties(connection, encryption)
        pq.write_table(table, folder / "modular.parquet", compression="zstd", encryption_properties=properties)
        _write_plain(table, folder / "plain.parquet")

        def system() -> Sample:
            def run() -> int:
                decryption = factory.file_decryption_properties(connection, pe.DecryptionConfiguration())
                return int(pq.read_table(folder / "modular.parquet", decryption_properties=decryption).num_rows)

            return timed(run)

        yield Pair(system, lambda: timed(lambda: _read_plain(folder / "plain.parquet")), _note(table))


@figure("sealing.raw", aim=SEALING_AIM, unit="bytes/s", description="raw CSV put + verified read, sealed vs plain")
@contextmanager
def raw_round_trip(config: Config) -> Iterator[Pair]:
    folder = config.workdir / "sealing-raw"
    folder.mkdir(parents=True, exist_ok=True)
    source = write_csv(folder / "raw.csv", config.size(2_000_000, 40_000))
    keys = bench_keys(folder)
    rounds = itertools.count()

    def trial(sealed: bool) -> Sample:
        work = folder / f"round-{next(rounds)}"
        store = DatasetStore.open(str(work / "datasets"), work / "scratch", keys if sealed else None)
        stage = "raw" if sealed else "blobs"  # blobs are the one stage kept as it is: the plaintext path

        def run() -> int:
            work.mkdir(parents=True, exist_ok=True)
            copy = work / "in.csv"
            shutil.copyfile(source, copy)
            stored = store.put_file(copy, TENANT, stage, ".csv")
            with store.verified(stored.key, stored.sha256) as path:
                return path.stat().st_size

        try:
            return timed(run)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    try:
        note = f"{source.stat().st_size / 1e6:.0f} MB CSV; copy, put_file, verified"
        yield Pair(lambda: trial(True), lambda: trial(False), note)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _note(table: pa.Table) -> str:
    return f"{table.num_rows:,} golden rows x {table.num_columns} columns, zstd"
