"""Ingest memory figure: the peak memory of landing and normalizing a CSV larger than 2 GB, against a 1 GiB budget.

Setup writes a retail sample CSV of 2.25 GB (2.1 GiB; quick: 50 MB) in the workdir, fast and deterministic: a
block of 100,000 sample lines is made once and repeated, each copy with its order ids rewritten so the keys stay
unique. Each round a fresh process does what the platform does with an upload: it streams the file into a dataset
store (``receive``, ``write`` in 1 MiB chunks, ``land``), then runs the pipeline's normalize step
(``ComputeSteps.normalize``: the raw file verified by SHA-256, ``normalize`` over ``read_batches``, the golden data
points stored with ``put_file``) against the retail sample contract. Its peak resident set (``ru_maxrss`` from
``wait4``, so the whole life of the process, interpreter and imports included) is the figure.

The harness compares rates, so the memory figure is put in its terms: a trial's "count" is the bytes of CSV
ingested and its "seconds" the peak RSS in MiB (its "rate" is then CSV bytes per MiB of peak memory). The system
trial reports the measured peak, the baseline the budget, so the ratio (system / baseline) reads budget / peak:
1.0 or more means the peak stayed under 1 GiB, and the peak in MiB is 1024 / ratio.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapters.compute.steps import ComputeSteps
from adapters.contracts import read_odcs
from adapters.datasets.store import CHUNK, DatasetStore
from application.pipeline import Target
from bench.dataset_sealing import bench_keys
from bench.harness import Config, Pair, Sample, figure
from domain.contracts import read_contract
from domain.pipeline import manifest
from domain.values import TenantId
from sample.retail import COLUMNS, CONTRACT, lines

BUDGET_MIB = 1024
FULL_BYTES = 2_250_000_000
QUICK_BYTES = 50_000_000
BLOCK_LINES = 100_000
TENANT = TenantId("bench-tenant")
ROOT = Path(__file__).resolve().parents[1]


def write_sample(path: Path, at_least: int, seed: int = 7) -> tuple[int, int]:
    """Writes sample lines until the file holds ``at_least`` bytes; (bytes, lines). Order ids are rewritten per
    copy of the block (``O-`` becomes ``B0000-``, ``B0001-``, ...) so every (order_id, line) key is unique."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(lines(BLOCK_LINES, seed))
    block = ("\n" + text.getvalue().rstrip("\n")).encode()  # each line after a newline, so ids are found
    size, copies = 0, 0
    with path.open("wb") as out:
        size += out.write((",".join(COLUMNS)).encode())
        while size < at_least:
            size += out.write(block.replace(b"\nO-", b"\nB%04d-" % copies))
            copies += 1
        size += out.write(b"\n")
    return size, copies * BLOCK_LINES


def retail_target() -> Target:
    """The retail sample contract's one schema object and its quality rules, as a batch is ingested against."""
    contract = read_contract(read_odcs(CONTRACT.read_bytes(), "application/yaml"))
    [obj] = contract.spec["objects"]
    rules = [r for r in contract.spec["quality"] if r["object"] == obj["name"]]
    return Target(TENANT, contract.key, contract.version, obj, rules, [], "bench", None, None, False)


def ingest(source: Path, folder: Path) -> dict[str, Any]:
    """Lands ``source`` in a dataset store under ``folder`` and normalizes it: what the pipeline does to a batch."""
    store = DatasetStore.open(str(folder / "datasets"), folder / "scratch", bench_keys(folder / "keys"))
    with source.open("rb") as stream, store.receive(source.stat().st_size) as upload:
        while chunk := stream.read(CHUNK):
            upload.write(chunk)
        raw = store.land(upload, TENANT, "raw", ".csv")
    steps = ComputeSteps(store, folder / "scratch", lambda _: b"")
    result = steps.normalize(TENANT, manifest(raw.key, raw.sha256, raw.bytes, None, "csv"), retail_target())
    if result.gdp is None:
        raise RuntimeError(f"normalization stored no golden data points: {result.failures}")
    return result.counts | {"gdp_bytes": result.gdp["bytes"], "failures": result.failures}


def measure_ingest(source: Path, folder: Path) -> tuple[float, dict[str, Any]]:
    """Runs ``ingest`` in a fresh process; its peak RSS in MiB and what it reported."""
    report = folder / "report.json"
    command = [sys.executable, "-m", "bench.pipeline_memory", str(source), str(folder), str(report)]
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the ingesting process exited with {child.returncode}")
    return usage.ru_maxrss / 1024, json.loads(report.read_text())  # ru_maxrss is in KiB on Linux


@figure(
    "ingest.memory",
    aim=1.0,
    unit="MiB",
    description="peak RSS landing + normalizing a >2 GB CSV in its own process vs the 1 GiB budget (budget/peak)",
)
@contextmanager
def ingest_memory(config: Config) -> Iterator[Pair]:
    folder = config.workdir / "ingest-memory"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "sales.csv"
    try:
        size, rows = write_sample(source, config.size(FULL_BYTES, QUICK_BYTES))
        peaks: list[float] = []

        def system() -> Sample:
            work = folder / f"round-{len(peaks)}"
            try:
                peak, counts = measure_ingest(source, work)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if (counts["rows_out"], counts["rejected"], counts["failures"]) != (rows, 0, []):
                raise AssertionError(f"{rows} lines went in, the normalize step reported {counts}")
            peaks.append(peak)
            return Sample(size, peak)

        yield Pair(
            system,
            lambda: Sample(size, BUDGET_MIB),
            note=f"{size / 1e9:.2f} GB CSV, {rows:,} lines; rates are CSV bytes per MiB of peak RSS; "
            f"ratio = {BUDGET_MIB} MiB / peak RSS",
        )
        if peaks:
            print(f"ingest.memory: peak RSS per round (MiB) {[round(p) for p in peaks]}", file=sys.stderr)
    finally:
        source.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """``python -m bench.pipeline_memory CSV FOLDER REPORT``: the ingesting process of one round."""
    source, folder, report = (Path(a) for a in argv)
    counts = ingest(source, folder)
    counts["self_maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report.write_text(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
