"""Input formats: what an upload is (by media type or file suffix), a cheap look at it, and a bounded-memory read.

Four formats are accepted: CSV, NDJSON (JSON Lines), Parquet and Arrow IPC (file or stream). ``inspect`` reads
only what it needs to tell the columns (and the row count when the format records it); ``read_batches`` streams
record batches with every value in its raw form, so the normalizer alone decides types and nulls. Any failure to
read a file as its format becomes FormatError, never a pyarrow exception.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
from pyarrow import ipc

from adapters.datasets.declared import declared_bytes, row_width

FORMATS = ("csv", "ndjson", "parquet", "arrow")
SUFFIX = {"csv": ".csv", "ndjson": ".ndjson", "parquet": ".parquet", "arrow": ".arrow"}
MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/vnd.apache.arrow.stream": "arrow",
    "application/vnd.apache.arrow.file": "arrow",
}
PATH_SUFFIXES = {
    ".csv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}
MAX_FIRST_LINE = 16 << 20
"""The longest first NDJSON line ``inspect`` reads."""
BLOCK_SIZE = 4 << 20
"""Bytes per block of the streaming CSV/NDJSON readers. pyarrow holds many blocks at once: with 16 MiB blocks,
ingesting a 2 GB CSV peaked over 1 GiB of memory; 4 MiB keeps it near 0.5 GiB at the same speed (ingest.memory)."""
BATCH_ROWS = 64 << 10
"""Rows per record batch read from Parquet, whatever size its row groups declare: memory stays bounded."""
MAX_ROW_TEXT = 200
"""Characters of a malformed CSV row kept in its quarantine reason."""


class UnsupportedFormatError(ValueError):
    """The upload is not in one of the accepted formats."""


class FormatError(ValueError):
    """The file cannot be read as its format, or it is empty."""


@dataclass(frozen=True)
class Inspection:
    """The columns of a file, its row count when the format records it (else None), and a lower bound of the
    bytes its values take once decoded, from what the format declares (else None)."""

    columns: list[str]
    rows: int | None
    decoded_bytes: int | None = None


@dataclass(frozen=True)
class MalformedRow:
    """A CSV row with another number of values than the header has columns; it is quarantined, not read."""

    expected: int
    actual: int
    text: str

    @property
    def reason(self) -> str:
        text = self.text if len(self.text) <= MAX_ROW_TEXT else self.text[:MAX_ROW_TEXT] + "..."
        return f"malformed row: {self.actual} values where the header has {self.expected} columns: {text!r}"


def format_for(content_type: str | None) -> str:
    """The format of an upload by its Content-Type (parameters such as ``charset`` ignored)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        accepted = ", ".join(MEDIA_TYPES)
        raise UnsupportedFormatError(f"unsupported media type {media_type or 'none'!r}; accepted: {accepted}")
    return MEDIA_TYPES[media_type]


def format_for_path(path: Path) -> str:
    """The format of a local file by its suffix."""
    suffix = path.suffix.lower()
    if suffix not in PATH_SUFFIXES:
        accepted = ", ".join(PATH_SUFFIXES)
        raise UnsupportedFormatError(f"unsupported file suffix {suffix or 'none'!r}; accepted: {accepted}")
    return PATH_SUFFIXES[suffix]


def inspect(path: Path, fmt: str) -> Inspection:
    """The columns (and cheap row count) of a file; FormatError if it is unreadable or empty."""
    _check_not_empty(path, fmt)
    with _readable(fmt):
        if fmt == "csv":
            return Inspection(_csv_header(path), None)
        if fmt == "ndjson":
            return Inspection(_ndjson_keys(path), None)
        if fmt == "parquet":
            return _inspect_parquet(path)
        return _inspect_arrow(path)


def read_batches(
    path: Path,
    fmt: str,
    columns: list[str] | None = None,
    block_size: int = BLOCK_SIZE,
    malformed: Callable[[MalformedRow], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Streams a file as record batches in bounded memory, each value in its raw form.

    CSV: every column a non-null string ("" stays ""); a row with the wrong number of values goes to
    ``malformed`` and is skipped (FormatError when no ``malformed`` is given). NDJSON: the JSON types pyarrow
    infers from the first ``block_size`` bytes (a value changing type, or a field first appearing, after that block
    is FormatError). Parquet and Arrow: their own types. ``columns`` selects a subset (FormatError if one is
    missing); ``block_size`` (bytes) bounds the CSV and NDJSON blocks; Parquet is read ``BATCH_ROWS`` rows at a
    time, Arrow IPC one of its own record batches at a time.
    """
    _check_not_empty(path, fmt)
    with _readable(fmt):
        if fmt == "csv":
            yield from _csv_batches(path, columns, block_size, malformed)
        elif fmt == "ndjson":
            yield from _ndjson_batches(path, columns, block_size)
        elif fmt == "parquet":
            yield from _parquet_batches(path, columns)
        else:
            yield from _arrow_batches(path, columns)


def _check_not_empty(path: Path, fmt: str) -> None:
    if fmt not in FORMATS:
        raise UnsupportedFormatError(f"unsupported format {fmt!r}; accepted: {', '.join(FORMATS)}")
    if path.stat().st_size == 0:
        raise FormatError("the file is empty")


@contextmanager
def _readable(fmt: str) -> Iterator[None]:
    """Turns the ways a reader fails on a malformed file into FormatError naming the format."""
    try:
        yield
    except (pa.ArrowException, csv.Error, UnicodeDecodeError) as error:
        raise FormatError(f"the file cannot be read as {fmt}: {error}") from error
    except OSError as error:
        if error.errno is not None:  # the system could not read the file: not about its content
            raise
        # pyarrow reports a truncated or corrupt Arrow IPC message as an OSError without an errno
        raise FormatError(f"the file cannot be read as {fmt}: {error}") from error


def _check_columns(available: list[str], columns: list[str] | None) -> None:
    missing = [name for name in columns or [] if name not in available]
    if missing:
        raise FormatError(f"the file has no column {', '.join(missing)}")


def _csv_header(path: Path) -> list[str]:
    """The header row; FormatError unless a data row follows it (blank lines skipped, as pyarrow does)."""
    with path.open(newline="", encoding="utf-8-sig") as text:
        rows = (row for row in csv.reader(text) if row)
        header = next(rows, None)
        if header is None or next(rows, None) is None:
            raise FormatError("the file is empty")
    if len(set(header)) != len(header):
        raise FormatError(f"the CSV header repeats a column name: {header}")
    return header


def _csv_batches(
    path: Path, columns: list[str] | None, block_size: int, malformed: Callable[[MalformedRow], None] | None
) -> Iterator[pa.RecordBatch]:
    header = _csv_header(path)
    _check_columns(header, columns)
    read = pcsv.ReadOptions(block_size=block_size)
    parse = pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=_skipping(malformed))
    convert = pcsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        include_columns=columns,
    )
    # An OSFile, not the path: pyarrow would decompress by file name, and a raw file is read as it is.
    with pa.OSFile(str(path)) as source, pcsv.open_csv(source, read, parse, convert) as reader:
        if not all(pa.types.is_string(field.type) for field in reader.schema):
            raise FormatError(f"the CSV header could not be read consistently: {reader.schema.names}")
        yield from reader


def _skipping(malformed: Callable[[MalformedRow], None] | None) -> Callable[[pcsv.InvalidRow], str] | None:
    """pyarrow's handler of rows with the wrong number of values: hand each to ``malformed`` and skip it."""
    if malformed is None:
        return None

    def skip(row: pcsv.InvalidRow) -> str:
        malformed(MalformedRow(row.expected_columns, row.actual_columns, row.text))
        return "skip"

    return skip


def _ndjson_keys(path: Path) -> list[str]:
    """The keys of the first non-blank line, which must be a JSON object."""
    with path.open("rb") as raw:
        number = 0
        while line := raw.readline(MAX_FIRST_LINE):
            number += 1
            if not line.endswith(b"\n") and len(line) == MAX_FIRST_LINE:
                raise FormatError(f"line {number} is longer than {MAX_FIRST_LINE} bytes")
            if line.strip():
                return _object_keys(line, number)
    raise FormatError("the file is empty")


def _object_keys(line: bytes, number: int) -> list[str]:
    try:
        value = json.loads(line)
    except ValueError as error:
        raise FormatError(f"line {number} is not valid JSON: {error}") from error
    except RecursionError:
        raise FormatError(f"line {number} is JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise FormatError(f"line {number} is not a JSON object")
    if not value:
        raise FormatError(f"line {number} is an empty JSON object")
    return list(value)


def _ndjson_batches(path: Path, columns: list[str] | None, block_size: int) -> Iterator[pa.RecordBatch]:
    _ndjson_keys(path)
    read = pjson.ReadOptions(block_size=block_size)
    with pa.OSFile(str(path)) as source, pjson.open_json(source, read_options=read) as reader:
        _check_columns(reader.schema.names, columns)
        for batch in reader:
            yield batch.select(columns) if columns else batch


def _inspect_parquet(path: Path) -> Inspection:
    with pq.ParquetFile(path) as parquet:
        rows = parquet.metadata.num_rows
        if rows == 0:
            raise FormatError("the file is empty")
        return Inspection(parquet.schema_arrow.names, rows, declared_bytes(parquet.metadata))


def _parquet_batches(path: Path, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    with pq.ParquetFile(path) as parquet:
        _check_columns(parquet.schema_arrow.names, columns)
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)


def _inspect_arrow(path: Path) -> Inspection:
    with pa.memory_map(str(path)) as source:
        try:
            with ipc.open_file(source) as reader:
                rows: int | None = reader.count_rows()
                names = reader.schema.names
                schema = reader.schema
        except pa.ArrowInvalid:
            source.seek(0)
            with ipc.open_stream(source) as stream:
                rows, names, schema = None, stream.schema.names, stream.schema
                if not any(batch.num_rows for batch in stream):
                    rows = 0
    if rows == 0:
        raise FormatError("the file is empty")
    return Inspection(names, rows, None if rows is None else rows * row_width(schema))


def _arrow_batches(path: Path, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    # Memory-mapped: batches are views of the file, paged in as they are used.
    with pa.memory_map(str(path)) as source:
        try:
            reader = ipc.open_file(source)
            batches = (reader.get_batch(index) for index in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            source.seek(0)
            reader = ipc.open_stream(source)
            batches = iter(reader)
        _check_columns(reader.schema.names, columns)
        for batch in batches:
            yield batch.select(columns) if columns else batch
