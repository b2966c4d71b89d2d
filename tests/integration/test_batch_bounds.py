"""Bounded work per upload: what a file declares is checked before anything is decoded, and a file is read
batch by batch in bounded memory whatever its row groups or record batches declare.

The files are generated here under tmp_path: one row repeated about two million times, a few tens of kilobytes
as Parquet (dictionary encoding and compression) and over 200 MB once decoded. Memory is measured with pyarrow's
own allocation counter, never with a clock.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import ipc

from adapters.datasets.bounds import BoundExceededError, Bounds
from adapters.datasets.formats import FormatError, MalformedRow, inspect, read_batches

ROW = pa.table({"order_id": ["O-1" * 10], "store": ["berlin-mitte" * 5], "amount": ["12.50"], "quantity": [7]})
BLOCK = 1 << 16
BLOCKS = 31
ROWS = BLOCK * BLOCKS
MiB = 1 << 20


def repeated() -> pa.Table:
    """ROWS copies of ROW, held as BLOCKS views of one 64Ki-row block (a few MB, not hundreds)."""
    block = pa.concat_tables([ROW] * BLOCK).combine_chunks()
    return pa.concat_tables([block] * BLOCKS)


@pytest.fixture(scope="module")
def one_row_group(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Parquet file whose single row group declares every row."""
    path = tmp_path_factory.mktemp("bounds") / "repeated.parquet"
    table = repeated()
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        writer.write_table(table, row_group_size=ROWS)
    return path


@pytest.fixture(scope="module")
def compressed_arrow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bounds") / "repeated.arrow"
    table = repeated()
    with ipc.new_file(path, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return path


def peak_while_reading(path: Path, fmt: str) -> tuple[int, int]:
    """(most bytes pyarrow held at once while the batches were read one by one, bytes of all batches decoded)."""
    before = pa.total_allocated_bytes()
    peak = decoded = 0
    for batch in read_batches(path, fmt):
        peak = max(peak, pa.total_allocated_bytes() - before)
        decoded += batch.nbytes
    return peak, decoded


def test_the_parquet_footer_declares_the_rows_and_a_lower_bound_of_the_decoded_bytes(one_row_group: Path) -> None:
    found = inspect(one_row_group, "parquet")
    assert found.rows == ROWS
    # three strings (a 4-byte offset each at least) and an int64 per row
    assert found.decoded_bytes == ROWS * (3 * 4 + 8)
    assert one_row_group.stat().st_size < MiB


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_a_file_is_read_batch_by_batch_in_bounded_memory(fmt: str, one_row_group: Path, compressed_arrow: Path) -> None:
    path = one_row_group if fmt == "parquet" else compressed_arrow
    peak, decoded = peak_while_reading(path, fmt)
    assert decoded > 200 * MiB
    assert peak < 32 * MiB, f"{peak / MiB:.0f} MiB held at once while reading {decoded / MiB:.0f} MiB"


def test_what_a_file_declares_is_refused_before_it_is_decoded(one_row_group: Path) -> None:
    found = inspect(one_row_group, "parquet")
    size = one_row_group.stat().st_size
    with pytest.raises(BoundExceededError) as rows:
        Bounds(max_rows=1000).check_declared(found, size)
    assert (rows.value.bound, rows.value.value, rows.value.limit) == ("max_batch_rows", ROWS, 1000)
    assert f"{ROWS:,} rows" in str(rows.value)
    with pytest.raises(BoundExceededError) as expansion:
        Bounds(max_expansion=100).check_declared(found, size)
    assert expansion.value.bound == "max_expansion"
    assert expansion.value.value == round(ROWS * 20 / size, 1)
    Bounds(max_rows=ROWS, max_expansion=ROWS * 20 / size + 1).check_declared(found, size)


def test_watching_the_batches_stops_at_the_first_one_past_a_bound(one_row_group: Path) -> None:
    seen: list[int] = []
    bounds = Bounds(max_rows=3 * BLOCK - 1, max_expansion=1e9)
    batches = bounds.watch(read_batches(one_row_group, "parquet"), one_row_group.stat().st_size)
    with pytest.raises(BoundExceededError) as error:
        seen.extend(batch.num_rows for batch in batches)
    assert sum(seen) == 2 * BLOCK
    assert error.value.value == 3 * BLOCK
    assert isinstance(error.value, FormatError)


def test_decoded_bytes_past_the_expansion_bound_stop_the_read(one_row_group: Path) -> None:
    size = one_row_group.stat().st_size
    with pytest.raises(BoundExceededError, match="max_expansion"):
        for _ in Bounds(max_expansion=1000).watch(read_batches(one_row_group, "parquet"), size):
            pass


def test_csv_rows_with_the_wrong_number_of_values_are_handed_over_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
    malformed: list[MalformedRow] = []
    table = pa.Table.from_batches(list(read_batches(path, "csv", malformed=malformed.append)))
    assert table.column("a").to_pylist() == ["1", "10"]
    assert [(m.expected, m.actual, m.text) for m in malformed] == [(3, 2, "4,5"), (3, 4, "6,7,8,9")]
    assert malformed[0].reason == "malformed row: 2 values where the header has 3 columns: '4,5'"


def test_a_long_malformed_row_is_cut_in_its_reason() -> None:
    reason = MalformedRow(2, 3, "x" * 1000).reason
    assert len(reason) < 300
    assert reason.endswith("...'")
