"""Overlapping the stages of a streaming job on a few cores: reading ahead of an iterator in a thread, and a
Parquet file whose row groups are encoded by a background thread while the caller works on the next rows.

Arrow releases the GIL in its readers, compute kernels and Parquet writer, so a reader, the caller and a writer
each keep a core busy. Order is kept (one reader thread, one writer thread), so the output does not depend on
timing; queues are bounded, so memory is too. Errors in either thread surface in the caller.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

T = TypeVar("T")
WAIT = 0.1
"""Seconds between checks, while waiting on a full queue, of whether the consumer has gone."""


def read_ahead(items: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """The items of ``items`` in order, pulled by a thread that stays up to ``depth`` items ahead."""
    slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    reader = threading.Thread(target=_pull, args=(iter(items), slots, stop), name="read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "item":
                yield value  # type: ignore[misc]
            elif kind == "error":
                raise value  # type: ignore[misc]
            else:
                return
    finally:
        stop.set()
        reader.join()


def _pull(items: Iterator[T], slots: queue.Queue[tuple[str, object]], stop: threading.Event) -> None:
    try:
        for item in items:
            if not _offer(slots, ("item", item), stop):
                return
        _offer(slots, ("end", None), stop)
    except BaseException as error:  # handed to the consumer, which raises it
        _offer(slots, ("error", error), stop)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _offer(slots: queue.Queue[tuple[str, object]], entry: tuple[str, object], stop: threading.Event) -> bool:
    """Puts ``entry`` unless the consumer stops first (then False)."""
    while not stop.is_set():
        try:
            slots.put(entry, timeout=WAIT)
            return True
        except queue.Full:
            continue
    return False


class ParquetSink:
    """A Parquet file written in row groups of ``row_group`` rows (the last may be smaller) by a background
    thread; it is created on the first write, or empty with the schema on ``close`` when nothing came."""

    def __init__(
        self, path: Path, schema: pa.Schema, row_group: int, compression: str, max_bytes: int = 128 << 20
    ) -> None:
        self.path, self.schema, self.row_group, self.compression = path, schema, row_group, compression
        self.max_bytes = max_bytes
        """Bytes kept in memory before the first row group is written (a batch this small is held to the end,
        so its rows can still be dropped without rewriting the file); after that a quarter of it, since a full
        buffer and the one being written are in memory at once."""
        self.rows = 0
        """Rows handed to the sink so far."""
        self._writer: pq.ParquetWriter | None = None
        self._buffer: list[pa.Table] = []
        self._buffered = (0, 0)  # rows, bytes
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-sink")
        self._pending: Future[None] | None = None

    def write(self, table: pa.Table) -> None:
        """Adds rows; a full row group goes to the writer thread (after the previous one is written)."""
        self._buffer.append(table)
        self._buffered = (self._buffered[0] + table.num_rows, self._buffered[1] + table.nbytes)
        self.rows += table.num_rows
        limit = self.max_bytes if not self.submitted else self.max_bytes // 4
        if self._buffered[0] <= self.row_group and self._buffered[1] < limit:
            return  # a full row group waits for one more row: a file of one row group stays in memory to the end
        whole = pa.concat_tables(self._buffer)
        cut = whole.num_rows if self._buffered[1] >= limit else whole.num_rows // self.row_group * self.row_group
        rest = whole.slice(cut)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = (rest.num_rows, rest.nbytes if rest.num_rows else 0)
        self._submit(whole.slice(0, cut))

    @property
    def submitted(self) -> int:
        """Rows handed to the writer thread so far (the others are still buffered)."""
        return self.rows - self._buffered[0]

    def drain(self) -> pa.Table:
        """Hands what is buffered to the writer thread without waiting for it to be written; returns those rows."""
        table = pa.concat_tables(self._buffer) if self._buffer else self.schema.empty_table()
        if self._buffer:
            self._submit(table)
            self._buffer, self._buffered = [], (0, 0)
        return table

    def close(self) -> None:
        """Writes what is left and closes the file; raises what the writer thread raised."""
        try:
            self.drain()
            self._wait()
            self._open().close()
        finally:
            self._pool.shutdown(wait=True)

    def abandon(self) -> None:
        """Stops writing after a failure elsewhere; the partial file is removed."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._writer is not None:
            self._writer.close()
        self.path.unlink(missing_ok=True)

    def _submit(self, table: pa.Table) -> None:
        self._wait()
        self._pending = self._pool.submit(self._write, table)

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _write(self, table: pa.Table) -> None:
        self._open().write_table(table, row_group_size=self.row_group)

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            self._writer = parquet_writer(self.path, self.schema, self.compression)
        return self._writer


def parquet_writer(path: Path, schema: pa.Schema, compression: str) -> pq.ParquetWriter:
    """A Parquet writer with min/max statistics on every column but strings: string statistics cost a fifth of
    the write and, over row groups of unsorted rows, rarely let a reader skip anything."""
    statistics = [f.name for f in schema if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    return pq.ParquetWriter(path, schema, compression=compression, write_statistics=statistics)
