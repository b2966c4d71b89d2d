"""Keys over every accepted row in bounded memory: which rows lose to a later row with the same key, and how many
distinct values some columns hold.

The rows are read back piece by piece (the sink's buffer, or the row groups of the file written so far). When
their key columns would not fit the budget, they are first spread over 2^k partition files by a hash of the key
(equal keys always land in the same partition) and each partition is grouped on its own, so a 2 GB batch of
unique keys is grouped in slices instead of all at once. The hash only spreads rows: grouping compares the keys
themselves, so a collision costs balance, never correctness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from adapters.compute.casting import positions, to_text

BUDGET = 128 << 20
"""Bytes a partition's keys may take while grouped (about three times their size in Arrow)."""
OVERHEAD = 3
MAX_BITS = 8
"""At most 256 partitions."""
INDEX = "_idx"
MIX = pa.scalar(0x9E3779B97F4A7C15, pa.uint64())
ZEROS = pa.scalar(b"\0" * 8, pa.binary())
SIGNED = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}
MAX_WORDS = 8
"""Eight-byte words of a string that feed its hash (longer strings only spread less well)."""
FACTORS = [(0x9E3779B97F4A7C15 * (2 * place + 3)) % (1 << 64) for place in range(MAX_WORDS)]

Pieces = Callable[[list[str]], Iterator[pa.Table]]
"""The named columns of every accepted row, in row order, piece by piece (each call starts over)."""


def losers(pieces: Pieces, names: list[str], rows: int, scratch: Path) -> pa.Array:
    """Positions (ascending, int64) of the rows whose key comes again in a later row."""
    found = [_losers(part, names) for part in _partitions(pieces, names, rows, scratch, indexed=True)]
    merged = pa.chunked_array(found, pa.int64()).combine_chunks()
    return merged.take(pc.array_sort_indices(merged))


def distinct(pieces: Pieces, names: list[str], rows: int, scratch: Path) -> tuple[int, int]:
    """How many rows have every named column present, and how many distinct combinations they hold."""
    present = groups = 0
    for part in _partitions(pieces, names, rows, scratch, indexed=False):
        present += part.num_rows
        groups += part.group_by(names, use_threads=False).aggregate([]).num_rows
    return present, groups


def _losers(table: pa.Table, names: list[str]) -> pa.Array:
    # Single-threaded grouping: the writer thread has the other core, and the output order is then fixed.
    grouped = table.group_by(names, use_threads=False).aggregate([(INDEX, "max"), (INDEX, "count"), (INDEX, "list")])
    repeated = grouped.filter(pc.greater(grouped.column(f"{INDEX}_count"), 1))
    if repeated.num_rows == 0:
        return pa.array([], pa.int64())
    members = repeated.column(f"{INDEX}_list").combine_chunks()
    flat = pc.list_flatten(members)
    latest = repeated.column(f"{INDEX}_max").combine_chunks().take(pc.list_parent_indices(members))
    return flat.filter(pc.not_equal(flat, latest))


def _partitions(pieces: Pieces, names: list[str], rows: int, scratch: Path, indexed: bool) -> Iterator[pa.Table]:
    """The rows' named columns (and their positions, when ``indexed``) in partitions that fit the budget."""
    tables = _indexed(pieces(names)) if indexed else (table.drop_null() for table in pieces(names))
    first = next(tables, None)
    if first is None:
        return
    width = first.nbytes / max(first.num_rows, 1) * OVERHEAD
    bits = min(MAX_BITS, math.ceil(math.log2(max(rows * width / BUDGET, 1))))
    if bits == 0:
        yield pa.concat_tables([first, *tables])
        return
    files = _spill(_chain(first, tables), names, bits, scratch)
    try:
        for path in files:
            with pa.memory_map(str(path)) as source:
                yield pa.ipc.open_file(source).read_all()
    finally:
        for path in files:
            path.unlink(missing_ok=True)


def _chain(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


def _indexed(tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
    start = 0
    for table in tables:
        yield table.append_column(INDEX, positions(table.num_rows, start))
        start += table.num_rows


def _spill(tables: Iterator[pa.Table], names: list[str], bits: int, scratch: Path) -> list[Path]:
    """Writes the rows into up to 2**bits Arrow files by the top bits of their key's hash."""
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    try:
        for table in tables:
            part = pc.shift_right(pc.fill_null(_hash(table.select(names)), 0), pa.scalar(64 - bits, pa.uint64()))
            order = pc.array_sort_indices(part)
            runs = pc.run_end_encode(part.take(order))
            ordered, start = table.take(order), 0
            for end, which in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                if which not in writers:
                    writers[which] = pa.ipc.new_file(str(_spilled(scratch, which)), table.schema)
                writers[which].write_table(ordered.slice(start, end - start))
                start = end
    finally:
        for writer in writers.values():
            writer.close()
    return [_spilled(scratch, which) for which in sorted(writers)]


def _spilled(scratch: Path, which: int) -> Path:
    return scratch / f"keys-{which}.arrow"


def _hash(table: pa.Table) -> pa.Array:
    """A 64-bit hash of each row's values: the same values give the same hash, whatever else is in the piece."""
    mixed = pa.repeat(pa.scalar(0, pa.uint64()), table.num_rows)
    for column in table.columns:
        mixed = pc.add(pc.multiply(mixed, MIX), _column_hash(column.combine_chunks()))
    return pc.multiply(mixed, MIX)  # uint64 arithmetic wraps around; the top bits end up well mixed


def _column_hash(column: pa.Array) -> pa.Array:
    """Fixed-width values as their bits; text as its length plus each 8-byte word times a factor of its place, so
    the zero words past a value's end add nothing (the words taken depend on the piece's longest value)."""
    kind = column.type
    if pa.types.is_boolean(kind):
        return pc.cast(column, pa.uint64())
    if _primitive(kind):
        return pc.cast(column.view(SIGNED[kind.bit_width]), pa.int64()).view(pa.uint64())
    data = (column if pa.types.is_string(kind) or pa.types.is_binary(kind) else to_text(column)).cast(pa.binary())
    lengths = pc.binary_length(data)
    total = pc.cast(lengths, pa.uint64())
    for place, start in enumerate(range(0, min(pc.max(lengths).as_py() or 0, 8 * MAX_WORDS), 8)):
        piece = pc.binary_join_element_wise(pc.binary_slice(data, start, start + 8), ZEROS, b"")
        word = pc.binary_slice(piece, 0, 8).cast(pa.binary(8)).view(pa.uint64())
        total = pc.add(total, pc.multiply(word, pa.scalar(FACTORS[place], pa.uint64())))
    return total


def _primitive(kind: pa.DataType) -> bool:
    """Numbers, dates, times and timestamps: values held as 8 to 64 bits."""
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_temporal(kind)
    return numeric and not pa.types.is_interval(kind) and kind.bit_width in SIGNED
