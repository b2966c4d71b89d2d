"""Normalization of one landed batch to golden data points (GDP): contract types, rejects quarantined with their
reasons, the latest row per primary key, and the library quality rules measured and judged.

Everything stays columnar. Each record batch (read ahead by a thread) is cast column by column; its rejected
rows go to the quarantine file with one reason line each (so do rows the reader could not split into the
header's columns), and its accepted rows to the GDP file, written by a background thread. A batch of up to 128
MiB is held in memory to the end; a larger one is streamed to disk. At the end the key columns are grouped (in
hash partitions when they would not fit in memory) to find the rows that lost to a later row with the same key;
when there are some, the rows are written again without them (from memory, or from the file row group by row
group). The same input gives byte-identical files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.compute import casting, grouping
from adapters.compute.casting import Cast, arrow_schema, arrow_type, cast_column, positions, to_text, type_name
from adapters.compute.grouping import Pieces
from adapters.compute.quality import Meter, RuleResult, failures
from adapters.compute.streams import ParquetSink, parquet_writer, read_ahead
from adapters.datasets.formats import MalformedRow
from domain.contracts.model import FieldSpec, ObjectSpec, QualityRule

__all__ = ["Normalized", "RuleResult", "arrow_schema", "column_problems", "normalize"]

GDP_FILE, PARTIAL_FILE, QUARANTINE_FILE = "gdp.parquet", "gdp.partial.parquet", "quarantine.parquet"
ROW_GROUP = 1_000_000
COMPRESSION = "zstd"


@dataclass(frozen=True)
class Normalized:
    """What normalizing one batch produced: the GDP file, the quarantine file and the measures of the run."""

    gdp_path: Path
    quarantine_path: Path | None
    rows_in: int
    rows_out: int
    rejected: int
    duplicates: int
    quality: list[RuleResult]
    failures: list[str]
    schema_fingerprint: str


def column_problems(columns: list[str], obj: ObjectSpec) -> list[str]:
    """Why an upload with these columns cannot be normalized: required (or key) columns missing, unknown or
    repeated columns. Optional columns may be left out: they are filled with nulls."""
    fields = casting.columns(obj)
    names = [f["name"] for f in fields]
    needed = [f["name"] for f in fields if f["required"] or f["name"] in obj["primary_key"]]
    problems = [f"missing required column {name!r}" for name in needed if name not in columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    problems += [f"column {c!r} appears more than once" for c in repeated]
    unknown = [c for c in dict.fromkeys(columns) if c not in names]
    listed = ", ".join(names)
    return problems + [f"unknown column {c!r}; the contract's columns are {listed}" for c in unknown]


def normalize(
    batches: Iterable[pa.RecordBatch],
    obj: ObjectSpec,
    rules: list[QualityRule],
    workdir: Path,
    malformed: Sequence[MalformedRow] = (),
) -> Normalized:
    """Normalizes the batches of one landed dataset against a contract object, writing its files in ``workdir``.

    ``malformed`` holds, once the batches are read, the rows the reader skipped; they are quarantined too."""
    run = _Run(obj, rules, workdir)
    try:
        for batch in read_ahead(batches):
            run.take(batch)
        run.take_malformed(malformed)
        return run.finish()
    except BaseException:
        run.abandon()
        raise


@dataclass(frozen=True)
class _Problem:
    """Rows of one batch with one kind of problem in one field."""

    field: FieldSpec
    mask: pa.Array
    kind: str  # cast, required, key or invalid


class _Run:
    """One normalization in progress."""

    def __init__(self, obj: ObjectSpec, rules: list[QualityRule], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.fields = casting.columns(obj)
        self.by_name = {f["name"]: f for f in self.fields}
        self.schema = arrow_schema(obj)
        self.keys = [k for k in obj["primary_key"] if k in self.by_name]
        self.meter = Meter(rules, obj)
        self.gdp = ParquetSink(workdir / PARTIAL_FILE, self.schema, ROW_GROUP, COMPRESSION)
        self.quarantine: ParquetSink | None = None
        self.inputs: list[str] | None = None
        self.rows_in = self.rejected = self.accepted = 0

    def take(self, batch: pa.RecordBatch) -> None:
        """Casts, checks, quarantines and accepts the rows of one record batch."""
        if self.inputs is None:
            self.inputs = list(batch.schema.names)
        sources = {f["name"]: self._column(batch, f) for f in self.fields}
        casts = {name: cast_column(column, self.by_name[name]) for name, column in sources.items()}
        problems = self._problems(casts, self.meter.observe(casts))
        accepted = pa.Table.from_arrays([casts[name].values for name in self.schema.names], schema=self.schema)
        rejected = _any([p.mask for p in problems])
        if rejected is not None:
            self._quarantine(batch, sources, casts, problems, rejected)
            accepted = accepted.filter(pc.invert(rejected))
        self.rows_in += batch.num_rows
        self.accepted += accepted.num_rows
        self.gdp.write(accepted)

    def take_malformed(self, rows: Sequence[MalformedRow]) -> None:
        """Quarantines rows the reader could not split into columns, with their reason (no row number: the
        reader cannot tell it)."""
        if not rows:
            return
        names = self.inputs or []
        nulls = [pa.nulls(len(rows), pa.string()) for _ in names]
        reasons = pa.array([row.reason for row in rows], pa.string())
        schema = _quarantine_schema(names)
        self._quarantined(pa.Table.from_arrays([*nulls, pa.nulls(len(rows), pa.int64()), reasons], schema=schema))
        self.rows_in += len(rows)

    def finish(self) -> Normalized:
        """Closes the files, keeps the latest row per key and judges the quality rules."""
        final = self.workdir / GDP_FILE
        duplicates = self._deduplicate(final)
        if self.quarantine is not None:
            self.quarantine.close()
        quality = self.meter.results(self.rows_in)
        return Normalized(
            gdp_path=final,
            quarantine_path=self.quarantine.path if self.quarantine is not None else None,
            rows_in=self.rows_in,
            rows_out=self.accepted - duplicates,
            rejected=self.rejected,
            duplicates=duplicates,
            quality=quality,
            failures=self.meter.problems + failures(quality),
            schema_fingerprint=hashlib.sha256(self.schema.serialize().to_pybytes()).hexdigest(),
        )

    def _deduplicate(self, final: Path) -> int:
        """Writes the GDP file with only the latest row of each key; returns how many rows lost to a later one.

        When every accepted row is still in memory, it is written (betting on no duplicates) while the keys are
        grouped, and written again from memory without the losers if there are some. Otherwise the file is
        finished, its key columns read back, and it is rewritten without the losers if there are some."""
        in_memory = not self.gdp.submitted
        last = self.gdp.drain()
        if not in_memory:
            self.gdp.close()
        pieces = _table_pieces(last) if in_memory else _file_pieces(self.gdp.path)
        self.meter.measure_duplicates(pieces, self.accepted, self.workdir)
        lost = grouping.losers(pieces, self.keys, self.accepted, self.workdir) if self.keys else None
        if lost is None or not len(lost):
            self.gdp.close()
            self.gdp.path.replace(final)
            return 0
        if in_memory:
            with parquet_writer(final, self.schema, COMPRESSION) as writer:
                writer.write_table(last.filter(_kept(lost, 0, last.num_rows)), row_group_size=ROW_GROUP)
            self.gdp.abandon()
        else:
            _drop_rows(self.gdp.path, final, lost, self.schema)
            self.gdp.path.unlink()
        return len(lost)

    def abandon(self) -> None:
        """Closes and removes the partial files after a failure."""
        for sink in (self.gdp, self.quarantine):
            if sink is not None:
                sink.abandon()

    def _column(self, batch: pa.RecordBatch, field: FieldSpec) -> pa.Array:
        index = batch.schema.get_field_index(field["name"])
        return batch.column(index) if index >= 0 else pa.nulls(batch.num_rows, arrow_type(field))

    def _problems(self, casts: dict[str, Cast], invalid: list[tuple[str, pa.Array]]) -> list[_Problem]:
        """Every problem of the batch, field by field in contract order."""
        problems: list[_Problem] = []
        for field in self.fields:
            cast = casts[field["name"]]
            if cast.bad is not None:
                problems.append(_Problem(field, cast.bad, "cast"))
            is_key = field["name"] in self.keys
            if (is_key or field["required"]) and cast.values.null_count:
                missing = pc.is_null(cast.values) if cast.bad is None else pc.and_not(pc.is_null(cast.values), cast.bad)
                if pc.any(missing).as_py():
                    problems.append(_Problem(field, missing, "key" if is_key else "required"))
            problems += [_Problem(field, mask, "invalid") for name, mask in invalid if name == field["name"]]
        return problems

    def _quarantine(
        self,
        batch: pa.RecordBatch,
        sources: dict[str, pa.Array],
        casts: dict[str, Cast],
        problems: list[_Problem],
        rejected: pa.Array,
    ) -> None:
        where = pc.indices_nonzero(rejected)
        reasons = [_reasons(p, where, sources, casts) for p in problems]
        names = self.inputs or []
        present = set(batch.schema.names)
        values = [
            to_text(batch.column(n).take(where)) if n in present else pa.nulls(len(where), pa.string()) for n in names
        ]
        rows = pc.add(where.cast(pa.int64()), self.rows_in + 1)
        reason = pc.binary_join_element_wise(*reasons, "; ", null_handling="skip")
        self._quarantined(pa.Table.from_arrays([*values, rows, reason], schema=_quarantine_schema(names)))

    def _quarantined(self, rows: pa.Table) -> None:
        if self.quarantine is None:
            self.quarantine = ParquetSink(self.workdir / QUARANTINE_FILE, rows.schema, ROW_GROUP, COMPRESSION)
        self.quarantine.write(rows)
        self.rejected += rows.num_rows


def _quarantine_schema(names: list[str]) -> pa.Schema:
    """The input columns as text, the row number and the reason."""
    return pa.schema([*(pa.field(n, pa.string()) for n in names), ("_row", pa.int64()), ("_reason", pa.string())])


def _reasons(problem: _Problem, where: pa.Array, sources: dict[str, pa.Array], casts: dict[str, Cast]) -> pa.Array:
    """The problem's reason on each rejected row of the batch (null on the rows it is not about)."""
    name = problem.field["name"]
    line: str | pa.Array
    if problem.kind == "required":
        line = f"{name}: required value is missing"
    elif problem.kind == "key":
        line = f"primary key field {name!r} is missing"
    else:
        cast = casts[name]
        value = cast.text.take(where) if cast.text is not None else to_text(sources[name].take(where))
        head, tail = (f"{name}: cannot read '", f"' as {type_name(problem.field)}")
        if problem.kind == "invalid":
            head, tail = f"{name}: '", "' is not a valid value"
        line = pc.binary_join_element_wise(head, value, tail, "")
    return pc.if_else(problem.mask.take(where), line, pa.scalar(None, pa.string()))


def _any(masks: list[pa.Array]) -> pa.Array | None:
    if not masks:
        return None
    found = masks[0]
    for mask in masks[1:]:
        found = pc.or_(found, mask)
    return found


def _table_pieces(table: pa.Table) -> Pieces:
    return lambda names: iter([table.select(names)])


def _file_pieces(path: Path) -> Pieces:
    def pieces(names: list[str]) -> Iterator[pa.Table]:
        reader = pq.ParquetFile(path)
        return (reader.read_row_group(group, columns=names) for group in range(reader.num_row_groups))

    return pieces


def _kept(lost: pa.Array, start: int, count: int) -> pa.Array:
    """True for the rows ``start`` to ``start + count`` that are not among the (ascending) lost positions."""
    inside = lost.filter(pc.and_(pc.greater_equal(lost, start), pc.less(lost, start + count)))
    return pc.invert(pc.is_in(positions(count, start), value_set=inside))


def _drop_rows(source: Path, target: Path, lost: pa.Array, schema: pa.Schema) -> None:
    """Copies a Parquet file without the rows at the lost positions, row group by row group."""
    reader = pq.ParquetFile(source)
    start = 0
    with parquet_writer(target, schema, COMPRESSION) as writer:
        for group in range(reader.num_row_groups):
            table = reader.read_row_group(group)
            kept = table.filter(_kept(lost, start, table.num_rows))
            if kept.num_rows:
                writer.write_table(kept, row_group_size=ROW_GROUP)
            start += table.num_rows
