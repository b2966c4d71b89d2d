"""KPI build figure: ``build_kpis`` for three KPIs over a GDP-shaped table, against the same work done by hand.

The three KPIs: revenue summed by country and channel per day, distinct customers per week, and paid / gross
per month, over 2,000,000 orders spread over a year (quick: 20,000). The baseline, each round, is the faster of
two hand-written versions of the same aggregations on the same Arrow table: bare pyarrow (``floor_temporal`` +
``Table.group_by`` + ``aggregate``, flooring the UTC timestamps as zone-less ones, its fastest form) and DuckDB
SQL (``date_trunc`` with the session time zone set to UTC). Both are timed once at setup so the note can say
which one usually sets the pace; the results of all three are checked against each other there too.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from adapters.compute.kpis import TIMESTAMP, build_kpis
from bench.harness import Config, Pair, Sample, Trial, figure, timed
from domain.contracts.model import Kpi

KPI_AIM = 0.8
YEAR_US = 365 * 86_400 * 1_000_000
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
CALIBRATION_RUNS = 3


def orders(count: int) -> pa.Table:
    """A deterministic orders table with GDP column types (timestamps in UTC microseconds, strings, float64)."""
    seeds = iter(range(1, 100))

    def uniform(high: float) -> Any:
        return pc.multiply(pc.random(count, initializer=next(seeds)), high)

    def index(size: int) -> Any:
        return pc.floor(uniform(size)).cast(pa.int64())

    def pick(values: list[str]) -> Any:
        return pa.array(values).take(index(len(values)))

    return pa.table(
        {
            "ordered_at": pc.add(index(YEAR_US), START_US).cast(TIMESTAMP),
            "country": pick([f"c{i:02d}" for i in range(20)]),
            "channel": pick(["web", "app", "shop", "phone", "partner"]),
            "customer": pick([f"cust-{i:06d}" for i in range(200_000)]),
            "amount": uniform(100.0),
            "paid": uniform(50.0),
            "gross": uniform(100.0),
        }
    )


def _kpi(name: str, aggregation: str, grain: str, **more: Any) -> Kpi:
    empty: dict[str, Any] = {"measure": None, "numerator": None, "denominator": None, "dimensions": [], "filters": []}
    fixed = {"name": name, "object": "orders", "description": None, "aggregation": aggregation, "target": None}
    return cast(Kpi, empty | more | fixed | {"time_field": "ordered_at", "time_grain": grain})


KPIS = [
    _kpi("revenue", "sum", "day", measure="amount", dimensions=["country", "channel"]),
    _kpi("customers", "count_distinct", "week", measure="customer"),
    _kpi("paid_share", "ratio", "month", numerator="paid", denominator="gross"),
]


def by_hand(table: pa.Table) -> list[pa.Table]:
    """The three KPIs with bare pyarrow: floor the time, group, aggregate (and divide for the ratio)."""
    wall = table["ordered_at"].cast(pa.timestamp("us"))  # same instants, no time-zone lookups when flooring

    def grouped(grain: str, keys: list[str], aggregations: list[tuple[str, str]]) -> pa.Table:
        columns = [*keys, *dict.fromkeys(a[0] for a in aggregations)]
        work = table.select(columns).append_column("p", pc.floor_temporal(wall, 1, grain))
        return work.group_by(["p", *keys]).aggregate(aggregations)

    revenue = grouped("day", ["country", "channel"], [("amount", "sum")])
    customers = grouped("week", [], [("customer", "count_distinct")])
    share = grouped("month", [], [("paid", "sum"), ("gross", "sum")])
    share = share.append_column("ratio", pc.divide(share["paid_sum"], share["gross_sum"]))
    return [revenue, customers, share]


SQL = (
    "SELECT date_trunc('day', ordered_at) p, country, channel, sum(amount) FROM orders GROUP BY ALL",
    "SELECT date_trunc('week', ordered_at) p, count(DISTINCT customer) FROM orders GROUP BY ALL",
    "SELECT date_trunc('month', ordered_at) p, sum(paid) / nullif(sum(gross), 0) FROM orders GROUP BY ALL",
)


def in_duckdb(connection: duckdb.DuckDBPyConnection) -> list[pa.Table]:
    """The three KPIs as DuckDB SQL over the registered Arrow table, results fetched as Arrow."""
    return [connection.sql(query).to_arrow_table() for query in SQL]


def rows_per_second(table: pa.Table, work: Callable[[], object]) -> Trial:
    def trial() -> Sample:
        return timed(lambda: (work(), table.num_rows)[1])

    return trial


def faster(first: Trial, second: Trial) -> Trial:
    """Runs both trials and reports the faster one (they do the same work)."""

    def trial() -> Sample:
        return min(first(), second(), key=lambda sample: sample.seconds)

    return trial


@figure("kpi.build", aim=KPI_AIM, unit="rows/s", description="build_kpis (3 KPIs) vs bare pyarrow or DuckDB")
@contextmanager
def kpi_build(config: Config) -> Iterator[Pair]:
    table = orders(config.size(2_000_000, 20_000))
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("orders", table)
        _check_groups(build_kpis(table, KPIS), by_hand(table), in_duckdb(connection))
        arrow = rows_per_second(table, lambda: by_hand(table))
        duck = rows_per_second(table, lambda: in_duckdb(connection))
        pace = {name: _median_rate(trial) for name, trial in (("pyarrow", arrow), ("duckdb", duck))}
        leader = max(pace, key=lambda name: pace[name])
        system = rows_per_second(table, lambda: build_kpis(table, KPIS))
        yield Pair(
            system,
            faster(arrow, duck),
            note=f"{table.num_rows} rows, 3 KPIs; baseline = faster of pyarrow by hand and DuckDB per round; at setup "
            f"pyarrow {pace['pyarrow'] / 1e6:.1f}M rows/s, DuckDB {pace['duckdb'] / 1e6:.1f}M rows/s ({leader} led)",
            warmup=lambda: _discard(system()),
        )
    finally:
        connection.close()


def _discard(_: object) -> None:
    """Runs for effect only (a warm-up trial whose sample is not kept)."""


def _median_rate(trial: Trial) -> float:
    return statistics.median(trial().rate for _ in range(CALIBRATION_RUNS))


def _check_groups(built: pa.Table, arrow: list[pa.Table], duck: list[pa.Table]) -> None:
    """The system and both baselines found the same groups for each KPI (so they did the same work)."""
    counts = built.group_by("kpi").aggregate([([], "count_all")])
    per_kpi = dict(zip(counts["kpi"].to_pylist(), counts["count_all"].to_pylist(), strict=True))
    expected = [per_kpi[kpi["name"]] for kpi in KPIS]
    for name, tables in (("pyarrow", arrow), ("duckdb", duck)):
        if [t.num_rows for t in tables] != expected:
            msg = f"{name} found {[t.num_rows for t in tables]} groups, build_kpis {expected}"
            raise AssertionError(msg)
