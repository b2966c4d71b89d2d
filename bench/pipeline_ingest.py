"""Ingest figure: landing a CSV upload and normalizing it to golden data points, against a bare pyarrow CSV read
and Parquet write of the same file.

Setup writes the retail sample (``sample.retail``: sales lines of 12 stores, deterministic) as a CSV of 1,000,000
lines (quick: 20,000), four of them the sample's defects: an unreadable quantity, a missing amount, an unknown
country (three rejects) and a corrected re-send of an earlier line (one duplicate key). It is normalized against
the sample contract's schema object and its quality rules.

System, each round in a fresh dataset store: the CSV is streamed into the store (``receive``, ``write`` in 1 MiB
chunks, ``land``: hashed and copied), read back through ``verified`` (hashed again, as the pipeline reads a raw
file) and normalized: ``normalize(read_batches(path, "csv"), obj, rules, workdir)``, which writes the GDP and
quarantine files. Baseline: ``pyarrow.csv.read_csv`` (types inferred) and ``pyarrow.parquet.write_table`` of the
same file. Both count CSV lines.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from adapters.compute.normalize import Normalized, normalize
from adapters.contracts import read_odcs
from adapters.datasets.formats import read_batches
from adapters.datasets.store import CHUNK, DatasetStore
from bench.dataset_sealing import bench_keys
from bench.harness import Config, Pair, Sample, figure, timed
from domain.contracts import read_contract
from domain.contracts.model import ObjectSpec, QualityRule
from sample.retail import CONTRACT, write_csv

INGEST_AIM = 0.5
TENANT = "bench-tenant"
DEFECTS = 4
"""Lines the sample adds with ``defects``: three rejects and one corrected re-send."""


def retail_object() -> tuple[ObjectSpec, list[QualityRule]]:
    """The retail sample contract's schema object and its quality rules."""
    contract = read_contract(read_odcs(CONTRACT.read_bytes(), "application/yaml"))
    [obj] = contract.spec["objects"]
    return obj, [r for r in contract.spec["quality"] if r["object"] == obj["name"]]


def land_and_normalize(source: Path, folder: Path, obj: ObjectSpec, rules: list[QualityRule]) -> Normalized:
    """Lands the CSV in a new dataset store under ``folder`` and normalizes the landed file."""
    store = DatasetStore.open(str(folder / "datasets"), folder / "scratch", bench_keys(folder / "keys"))
    with source.open("rb") as stream, store.receive(source.stat().st_size) as upload:
        while chunk := stream.read(CHUNK):
            upload.write(chunk)
        raw = store.land(upload, TENANT, "raw", ".csv")
    with store.verified(raw.key, raw.sha256) as path:
        return normalize(read_batches(path, "csv"), obj, rules, folder / "work")


def read_and_write(source: Path, target: Path) -> int:
    """The baseline: the CSV read with pyarrow's own reader and written as Parquet; its row count."""
    table = pcsv.read_csv(source)
    pq.write_table(table, target)
    return int(table.num_rows)


def _check(result: Normalized, lines: int) -> None:
    counts = (result.rows_in, result.rows_out, result.rejected, result.duplicates, result.failures)
    if counts != (lines, lines - DEFECTS, DEFECTS - 1, 1, []):
        raise AssertionError(f"{lines} lines went in, normalize reported {counts}")


@figure(
    "ingest.csv",
    aim=INGEST_AIM,
    unit="rows/s",
    description="land + normalize a retail CSV to GDP vs pyarrow read_csv + write_table",
)
@contextmanager
def ingest_csv(config: Config) -> Iterator[Pair]:
    lines = config.size(1_000_000, 20_000)
    folder = config.workdir / "ingest-csv"
    folder.mkdir(parents=True, exist_ok=True)
    source = write_csv(folder / "sales.csv", lines - DEFECTS, defects=True)
    obj, rules = retail_object()
    rounds = itertools.count()

    def system() -> Sample:
        work = folder / f"round-{next(rounds)}"
        try:
            result: list[Normalized] = []
            sample = timed(lambda: _counted(result, land_and_normalize(source, work, obj, rules)))
            _check(result[0], lines)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return sample

    def baseline() -> Sample:
        target = folder / "baseline.parquet"
        try:
            return timed(lambda: read_and_write(source, target))
        finally:
            target.unlink(missing_ok=True)

    def warmup() -> None:
        system()
        baseline()

    try:
        yield Pair(
            system,
            baseline,
            note=f"{lines:,} retail lines ({source.stat().st_size / 1e6:.0f} MB), {DEFECTS} defective; "
            f"{len(rules)} quality rules; fresh store per round",
            warmup=warmup,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _counted(into: list[Normalized], result: Normalized) -> int:
    into.append(result)
    return result.rows_in
