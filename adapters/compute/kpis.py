"""KPI build: the contract's KPIs computed over golden data points, in long format, and their summary for actions.

Rules the numbers follow (the domain's ``Kpi`` definitions, computed exactly):

- Rows with a null time field are left out; filters are applied next, then rows are grouped by period and
  dimensions. A filter value is converted to the column's type first (an ISO 8601 string to a UTC timestamp or a
  date, ``"10"`` to a number...). SQL logic for nulls: a row whose filter field is null never passes, and a null
  filter value matches nothing (in lists it is ignored).
- Periods are floored in UTC: day, ISO week (starting Monday) or calendar month; ``period_start`` is the floor.
- ``value`` is a float64: sum, count (rows; non-null measure values when a measure is named), count_distinct
  (non-null values), avg, min, max, and ratio = sum(numerator) / sum(denominator). It is null when undefined: a
  ratio whose denominator sums to 0 or null, the avg/min/max/sum of no non-null values. min and max of a date or
  timestamp measure are given as seconds since 1970-01-01T00:00:00Z (a date counts from its midnight, UTC).
- Dimension values are strings: dates ``2026-01-05``, timestamps ``2026-01-05T10:00:00.000000Z`` (UTC), booleans
  ``true``/``false``. A dimension column is null on rows of KPIs that do not group by it (and where the data is
  null); which KPI groups by what is kept in the schema metadata (``kpi_dimensions``, JSON), read by ``summarize``.
- The table is sorted by kpi, period_start, then the dimension columns in name order (as strings, nulls last).

Engine, chosen by measurement (2 cores, the bench's 2,000,000 orders and three KPIs: sum by two dimensions per
day, count_distinct of string ids per week, ratio per month; medians of 5): pyarrow ``Table.group_by`` 0.34 s by
hand (``build_kpis`` 0.34-0.40 s), DuckDB 2.0 SQL on the same Arrow table 0.45 s. Per KPI, build_kpis vs DuckDB:
day 0.05 vs 0.15 s, month 0.04 vs 0.09 s, count_distinct 0.29 vs 0.21 s (DuckDB's one win, not enough to make up
for the rest, nor for a runtime dependency: duckdb is only a dev dependency). Flooring the UTC timestamps as
zone-less ones (same instants) matters most: ``floor_temporal`` through the time-zone database took 89 ms per
column, 5 ms without it; with it, DuckDB would have won.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from domain.contracts.model import Kpi, KpiFilter

ENGINE = "pyarrow"
"""pyarrow 0.34 s vs DuckDB 0.45 s for the bench's three KPIs over 2M rows (see the module docstring)."""

TIMESTAMP = pa.timestamp("us", tz="UTC")
DIMENSIONS_KEY = b"kpi_dimensions"
FIXED_COLUMNS = ("kpi", "period_start", "grain", "value", "rows", "target", "target_met")
GRAINS = frozenset({"day", "week", "month"})
PYARROW_AGGREGATES = {"sum": "sum", "count": "count", "count_distinct": "count_distinct", "avg": "mean"} | {
    "min": "min",
    "max": "max",
}
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "gt": pc.greater,
    "gte": pc.greater_equal,
    "lt": pc.less,
    "lte": pc.less_equal,
}
SECONDS_PER = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def engine_choice() -> str:
    """The engine the KPI build runs on, as measured: ``pyarrow`` (see ``ENGINE``)."""
    return ENGINE


def latest_rows(tables: Sequence[pa.Table], primary_key: list[str]) -> pa.Table:
    """The GDP tables of a contract version (in ingestion order) as one table; with a primary key, only the latest
    row per key (a later table beats an earlier one, a later row an earlier one), kept in the order they arrived.

    No tables give an empty table without columns; tables whose columns differ are unified (missing ones null).
    """
    if not tables:
        return pa.table({})
    combined = pa.concat_tables(tables, promote_options="default")
    if not primary_key or combined.num_rows == 0:
        return combined
    names = [f"key{i}" for i in range(len(primary_key))]
    keyed = pa.Table.from_arrays([*(combined[k] for k in primary_key), pa.arange(0, combined.num_rows)], [*names, "at"])
    winners = keyed.group_by(names, use_threads=False).aggregate([("at", "max")])["at_max"]
    return combined.take(pc.take(winners, pc.sort_indices(winners)))


def build_kpis(gdp: pa.Table, kpis: list[Kpi]) -> pa.Table:
    """Every KPI over the GDP table, one row per (kpi, period, dimension values); see the module docstring."""
    dimensions = sorted({name for kpi in kpis for name in kpi["dimensions"]})
    clashes = sorted(set(dimensions) & set(FIXED_COLUMNS))
    if clashes:
        msg = f"dimension(s) {', '.join(clashes)} clash with columns of the KPI table"
        raise ValueError(msg)
    schema = kpi_schema(dimensions).with_metadata(
        {DIMENSIONS_KEY: json.dumps({kpi["name"]: kpi["dimensions"] for kpi in kpis}, sort_keys=True)}
    )
    parts = [_build_one(gdp, kpi, schema) for kpi in kpis]
    table = pa.concat_tables(parts) if parts else schema.empty_table()
    order = [("kpi", "ascending"), ("period_start", "ascending"), *((name, "ascending") for name in dimensions)]
    return table.sort_by(order)


def kpi_schema(dimensions: list[str]) -> pa.Schema:
    """The long-format KPI table's columns, the given dimension columns (sorted by name) in the middle."""
    head = [("kpi", pa.string()), ("period_start", TIMESTAMP), ("grain", pa.string())]
    tail = [("value", pa.float64()), ("rows", pa.int64()), ("target", pa.float64()), ("target_met", pa.bool_())]
    return pa.schema([*head, *((name, pa.string()) for name in sorted(dimensions)), *tail])


def _build_one(gdp: pa.Table, kpi: Kpi, schema: pa.Schema) -> pa.Table:
    """One KPI's rows: filter, floor the time field, group, aggregate, then shape to the long-format schema."""
    measures = [kpi["numerator"], kpi["denominator"]] if kpi["aggregation"] == "ratio" else [kpi["measure"]]
    inputs = [name for name in measures if name]
    needed = [kpi["time_field"], *kpi["dimensions"], *inputs, *(f["field"] for f in kpi["filters"])]
    missing = sorted({name for name in needed if name not in gdp.column_names})
    if missing:
        msg = f"KPI {kpi['name']!r} needs field(s) {', '.join(missing)}, not in the data"
        raise ValueError(msg)
    dims = [f"d{i}" for i in range(len(kpi["dimensions"]))]
    work = pa.Table.from_arrays(
        [_utc_wall(gdp[kpi["time_field"]], kpi), *(gdp[n] for n in kpi["dimensions"]), *(gdp[n] for n in inputs)],
        ["t", *dims, *(f"m{i}" for i in range(len(inputs)))],
    )
    keep = _row_filter(gdp, kpi)
    work = work if keep is None else work.filter(keep)
    if kpi["time_grain"] not in GRAINS:
        msg = f"KPI {kpi['name']!r}: unknown time grain {kpi['time_grain']!r}"
        raise ValueError(msg)
    work = work.append_column("p", pc.floor_temporal(work["t"], 1, kpi["time_grain"], week_starts_monday=True))
    grouped = work.group_by(["p", *dims]).aggregate(_aggregations(kpi))
    return _shape(kpi, grouped, dict(zip(kpi["dimensions"], dims, strict=True)), schema)


def _utc_wall(column: pa.ChunkedArray, kpi: Kpi) -> pa.ChunkedArray:
    """The time field as a zone-less timestamp of UTC wall-clock time (the same instants; flooring it is UTC)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        return column.cast(pa.timestamp(kind.unit))
    if pa.types.is_date(kind):
        return column.cast(pa.timestamp("us"))
    msg = f"KPI {kpi['name']!r}: time field {kpi['time_field']!r} is {kind}, not a timestamp"
    raise ValueError(msg)


def _row_filter(gdp: pa.Table, kpi: Kpi) -> Any:
    """The mask of rows kept (time field set, every filter passed), or None to keep all rows."""
    time_field = gdp[kpi["time_field"]]
    masks = [pc.is_valid(time_field)] if time_field.null_count else []
    masks += [_condition(gdp[f["field"]], f, kpi["name"]) for f in kpi["filters"]]
    mask = masks[0] if masks else None
    for more in masks[1:]:
        mask = pc.and_(mask, more)
    return mask


def _condition(column: pa.ChunkedArray, spec: KpiFilter, kpi_name: str) -> Any:
    """One filter as a boolean mask (null where the row's value is null, so the row is dropped)."""
    operator, where = spec["operator"], f"KPI {kpi_name!r}, filter on {spec['field']!r}"
    if operator in COMPARISONS:
        return COMPARISONS[operator](column, _literal(spec["value"], column.type, where))
    if operator not in ("in", "not_in"):
        msg = f"{where}: unknown operator {operator!r}"
        raise ValueError(msg)
    literals = [_literal(v, column.type, where) for v in spec["value"] if v is not None]
    # a value of another type (1.5 for an integer column) can equal no row, so it leaves the set
    value_set = pa.array([s.as_py() for s in literals if s.type == column.type], column.type)
    found = pc.is_in(column, value_set=value_set)
    return pc.and_(pc.is_valid(column), found if operator == "in" else pc.invert(found))


def _literal(value: Any, kind: pa.DataType, where: str) -> pa.Scalar:
    """The filter value in the column's type (a non-integral number stays float64 against an integer column)."""
    try:
        if value is None:
            return pa.scalar(None, kind)
        if isinstance(value, str) and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            return _parsed(value, kind)
        if isinstance(value, float) and pa.types.is_integer(kind) and not value.is_integer():
            return pa.scalar(value, pa.float64())
        return pa.scalar(value).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError, TypeError) as error:
        msg = f"{where}: {value!r} cannot be compared with a {kind} column"
        raise ValueError(msg) from error


def _parsed(text: str, kind: pa.DataType) -> pa.Scalar:
    if pa.types.is_timestamp(kind):
        moment = datetime.fromisoformat(text)
        return pa.scalar(moment if moment.tzinfo else moment.replace(tzinfo=UTC)).cast(kind)
    if pa.types.is_date(kind):
        return pa.scalar(date.fromisoformat(text)).cast(kind)
    return pa.scalar(text).cast(kind)


def _aggregations(kpi: Kpi) -> list[tuple[Any, str]]:
    """The pyarrow aggregations of the KPI over the work table's measure columns ``m0`` (and ``m1``)."""
    rows: tuple[Any, str] = ([], "count_all")
    if kpi["aggregation"] == "ratio":
        return [("m0", "sum"), ("m1", "sum"), rows]
    if kpi["aggregation"] == "count" and not kpi["measure"]:
        return [rows]
    if kpi["aggregation"] not in PYARROW_AGGREGATES:
        msg = f"KPI {kpi['name']!r}: unknown aggregation {kpi['aggregation']!r}"
        raise ValueError(msg)
    return [("m0", PYARROW_AGGREGATES[kpi["aggregation"]]), rows]


def _value(kpi: Kpi, grouped: pa.Table) -> Any:
    """The float64 value column of the grouped table, null where undefined."""
    aggregation = kpi["aggregation"]
    if aggregation == "ratio":
        numerator, denominator = _seconds_or_number(grouped["m0_sum"]), _seconds_or_number(grouped["m1_sum"])
        return pc.if_else(pc.equal(denominator, _float(0.0)), None, pc.divide(numerator, denominator))
    if aggregation == "count" and not kpi["measure"]:
        return grouped["count_all"].cast(pa.float64())
    return _seconds_or_number(grouped[f"m0_{PYARROW_AGGREGATES[aggregation]}"])


def _seconds_or_number(column: pa.ChunkedArray) -> Any:
    """Numbers as float64; dates and timestamps as seconds since the Unix epoch (UTC)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.divide(column.cast(pa.int64()).cast(pa.float64()), _float(SECONDS_PER[kind.unit]))
    if pa.types.is_date32(kind):
        return pc.multiply(column.cast(pa.int32()).cast(pa.float64()), _float(86_400))
    if pa.types.is_date64(kind):
        return pc.divide(column.cast(pa.int64()).cast(pa.float64()), _float(1_000))
    return column.cast(pa.float64())


def _shape(kpi: Kpi, grouped: pa.Table, dims: dict[str, str], schema: pa.Schema) -> pa.Table:
    """The grouped table as rows of the long-format schema."""
    count, target = grouped.num_rows, kpi["target"]
    value = _value(kpi, grouped)
    columns: dict[str, Any] = {
        "kpi": _repeat(pa.scalar(kpi["name"], pa.string()), count),
        "period_start": grouped["p"].cast(TIMESTAMP),
        "grain": _repeat(pa.scalar(kpi["time_grain"], pa.string()), count),
        "value": value,
        "rows": grouped["count_all"],
        "target": pa.nulls(count, pa.float64()),
        "target_met": pa.nulls(count, pa.bool_()),
    }
    if target is not None:
        meets = pc.less_equal if target["direction"] == "at_most" else pc.greater_equal
        columns["target"] = _repeat(_float(target["value"]), count)
        columns["target_met"] = meets(value, _float(target["value"]))
    for field in schema:
        if field.name not in columns:
            columns[field.name] = (
                _text(grouped[dims[field.name]]) if field.name in dims else pa.nulls(count, pa.string())
            )
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def _float(number: float) -> pa.Scalar:
    # typed scalars: pyarrow looks for optional packages (a failed import each time) to infer an untyped one
    return pa.scalar(float(number), pa.float64())


def _repeat(scalar: pa.Scalar, count: int) -> Any:
    return pa.nulls(count, scalar.type).fill_null(scalar)


def _text(column: pa.ChunkedArray) -> Any:
    """A dimension's values as strings (timestamps in ISO 8601 UTC)."""
    if pa.types.is_timestamp(column.type):
        return pc.strftime(column.cast(pa.timestamp(column.type.unit, tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
    return column.cast(pa.string())


def summarize(kpi_table: pa.Table, limit: int = 200) -> list[dict[str, Any]]:
    """Each KPI's latest period: one JSON-native entry per dimension combination in it, for the action engine.

    Entries are ``{"kpi", "period_start" (ISO 8601, Z), "grain", "dimensions", "value", "target", "target_met"}``,
    sorted by kpi and then dimension values; ``dimensions`` holds only the fields that KPI groups by, and a value
    that is not finite (NaN, infinity) becomes null. At most ``limit`` entries: the KPIs share the limit fairly (a
    KPI with fewer entries than its share leaves the rest to the others) and each keeps its first entries in
    dimension order; when there are more KPIs than ``limit``, the first KPIs by name get one entry each.
    """
    if kpi_table.num_rows == 0 or limit <= 0:
        return []
    latest = _latest_periods(kpi_table)
    dimensions = [name for name in kpi_table.column_names if name not in FIXED_COLUMNS]
    latest = latest.sort_by([("kpi", "ascending"), *((name, "ascending") for name in dimensions)])
    counts = latest.group_by("kpi").aggregate([([], "count_all")]).sort_by("kpi")
    offsets = [0]
    for count in counts["count_all"].to_pylist()[:-1]:
        offsets.append(offsets[-1] + count)
    shares = fair_shares(counts["count_all"].to_pylist(), limit)
    kept = pa.concat_tables([latest.slice(at, share) for at, share in zip(offsets, shares, strict=True)])
    grouped_by = _grouped_by(kpi_table, dimensions)
    return [_entry(row, grouped_by) for row in kept.to_pylist()]


def _latest_periods(table: pa.Table) -> pa.Table:
    """The rows of each KPI's latest period."""
    maxima = table.group_by("kpi").aggregate([("period_start", "max")])
    joined = table.join(maxima, "kpi")
    return joined.filter(pc.equal(joined["period_start"], joined["period_start_max"])).drop_columns("period_start_max")


def fair_shares(counts: list[int], limit: int) -> list[int]:
    """How many of each group's ``counts`` entries to keep so that at most ``limit`` are kept, shared evenly
    (water-filling: small groups keep all theirs, the rest is split among the others, earlier groups first)."""
    shares = [0] * len(counts)
    remaining = limit
    open_groups = [i for i, count in enumerate(counts) if count > 0]
    while remaining > 0 and open_groups:
        each = max(remaining // len(open_groups), 1)
        for i in list(open_groups):
            give = min(each, counts[i] - shares[i], remaining)
            shares[i] += give
            remaining -= give
            if shares[i] == counts[i]:
                open_groups.remove(i)
    return shares


def _grouped_by(table: pa.Table, dimensions: list[str]) -> Callable[[dict[str, Any]], list[str]]:
    """Which dimensions a row's KPI groups by: from the schema metadata, else the row's non-null dimensions."""
    stored = (table.schema.metadata or {}).get(DIMENSIONS_KEY)
    known: dict[str, list[str]] = json.loads(stored) if stored else {}
    return lambda row: known.get(row["kpi"], [name for name in dimensions if row[name] is not None])


def _entry(row: dict[str, Any], grouped_by: Callable[[dict[str, Any]], list[str]]) -> dict[str, Any]:
    value = row["value"]
    return {
        "kpi": row["kpi"],
        "period_start": row["period_start"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "grain": row["grain"],
        "dimensions": {name: row[name] for name in grouped_by(row)},
        "value": value if value is not None and math.isfinite(value) else None,
        "target": row["target"],
        "target_met": row["target_met"],
    }
