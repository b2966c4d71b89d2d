"""Bounds on the work one upload may cause: how many rows it holds, and how many bytes its values take once
decoded per byte uploaded (its expansion).

A file may declare far more than its size suggests: a Parquet file of one row repeated five million times is a
few hundred kilobytes on disk and half a gigabyte as Arrow arrays. The bounds are checked twice: against what the
file declares (``Inspection``: Parquet footer, Arrow IPC file footer) before anything lands, and against what is
decoded, batch by batch, while a step reads it, which stops at the first batch past a bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from adapters.datasets.formats import FormatError, Inspection

MAX_ROWS = 50_000_000
MAX_EXPANSION = 100.0


class BoundExceededError(FormatError):
    """The batch exceeds a bound on the work one upload may cause; it is refused, and retrying cannot help."""

    def __init__(self, bound: str, value: float, limit: float, what: str) -> None:
        super().__init__(f"{what}, over the bound {bound} of {limit:,}")
        self.bound = bound
        self.value = value
        self.limit = limit


@dataclass(frozen=True)
class Bounds:
    """The most rows one batch may hold, and the most decoded bytes per uploaded byte."""

    max_rows: int = MAX_ROWS
    max_expansion: float = MAX_EXPANSION

    def check(self, rows: int, decoded_bytes: int, size: int) -> None:
        """BoundExceededError when ``rows``, or ``decoded_bytes`` per byte of a ``size``-byte upload, is too many."""
        if rows > self.max_rows:
            raise BoundExceededError("max_batch_rows", rows, self.max_rows, f"the batch holds {rows:,} rows")
        expansion = round(decoded_bytes / max(size, 1), 1)
        if expansion > self.max_expansion:
            what = f"the batch's {size:,} bytes decode to {decoded_bytes:,} bytes or more, {expansion:,} per byte"
            raise BoundExceededError("max_expansion", expansion, self.max_expansion, what)

    def check_declared(self, found: Inspection, size: int) -> None:
        """Checks what a file declares (its rows and decoded size, where its format records them)."""
        self.check(found.rows or 0, found.decoded_bytes or 0, size)

    def watch(self, batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
        """The batches of a ``size``-byte file, counted as they come: BoundExceededError at the first past a bound."""
        rows = decoded = 0
        for batch in batches:
            rows += batch.num_rows
            decoded += batch.nbytes
            self.check(rows, decoded, size)
            yield batch
