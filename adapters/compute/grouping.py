"""Distinct values of some columns, gathered batch after batch in memory bounded by how many are distinct.

Batches are kept as they come and folded into one grouped table now and then (Arrow's hash group-by), so a stream
of many rows with few distinct keys stays small, and one with unique keys costs its key columns once.
"""

from __future__ import annotations

import pyarrow as pa

FOLD_ROWS = 2_000_000
"""Rows gathered before they are folded into the grouped table."""


class Groups:
    """The distinct combinations of ``names`` seen so far; with ``latest``, the largest value of that column each."""

    def __init__(self, names: list[str], latest: str | None = None) -> None:
        self.names = names
        self.latest = latest
        self.rows = 0
        self._grouped: pa.Table | None = None
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def add(self, table: pa.Table) -> None:
        """Counts the table's rows with every named column present, and keeps their values."""
        part = table.select([*self.names, *([self.latest] if self.latest else [])]).drop_null()
        self.rows += part.num_rows
        self._pending.append(part)
        self._pending_rows += part.num_rows
        if self._pending_rows >= FOLD_ROWS:
            self._fold()

    def count(self) -> int:
        """How many distinct combinations were seen."""
        grouped = self._fold()
        return 0 if grouped is None else grouped.num_rows

    def latest_values(self) -> pa.ChunkedArray:
        """The largest ``latest`` value of each distinct combination (needs ``latest``)."""
        if self.latest is None:
            raise ValueError("these groups keep no latest column")
        grouped = self._fold()
        return pa.chunked_array([], pa.int64()) if grouped is None else grouped.column(self.latest)

    def _fold(self) -> pa.Table | None:
        if not self._pending:
            return self._grouped
        parts = ([self._grouped] if self._grouped is not None else []) + self._pending
        table = pa.concat_tables(parts)
        if self.latest is None:
            self._grouped = table.group_by(self.names, use_threads=False).aggregate([])
        else:
            grouped = table.group_by(self.names, use_threads=False).aggregate([(self.latest, "max")])
            self._grouped = grouped.rename_columns([*self.names, self.latest])
        self._pending, self._pending_rows = [], 0
        return self._grouped
