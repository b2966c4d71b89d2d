"""The KPI build over golden data points: aggregations, filters, grains, targets, ordering, the summary, latest rows.

Expected numbers are worked out by hand from the small ORDERS table; one build is checked against DuckDB SQL.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import duckdb
import pyarrow as pa
import pytest

from adapters.compute.kpis import (
    DIMENSIONS_KEY,
    TIMESTAMP,
    build_kpis,
    engine_choice,
    fair_shares,
    latest_rows,
    summarize,
)
from domain.contracts.model import Kpi


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# Monday 2 March 2026 .. Monday 9 March 2026; row 5 has no time and is always left out.
ORDERS = pa.table(
    {
        "ordered_at": pa.array(
            [utc(t) if t else None for t in ("2026-03-02T10:00", "2026-03-02T23:59:59", "2026-03-02T12:00")]
            + [utc(t) if t else None for t in ("2026-03-03T00:00", None, "2026-03-08T23:59:59", "2026-03-09T00:00")],
            TIMESTAMP,
        ),
        "country": ["fr", "fr", "de", "fr", "fr", "de", "de"],
        "channel": ["web", "app", "web", "web", "web", "app", "web"],
        "customer": ["c1", "c2", "c1", "c3", "c1", "c2", None],
        "amount": [10.0, 20.0, None, 30.0, 100.0, 5.0, 7.0],
        "quantity": pa.array([1, 2, 3, 4, 5, 6, 7], pa.int64()),
        "paid": [5.0, 20.0, 0.0, 10.0, 1.0, 0.0, 7.0],
        "gross": [10.0, 20.0, 0.0, 40.0, 1.0, 0.0, 7.0],
        "shipped_on": pa.array([date(2026, 3, d) for d in (3, 4, 5, 6, 7, 9, 10)], pa.date32()),
        "express": [True, False, True, False, True, False, None],
    }
)


def kpi(name: str = "k", aggregation: str = "sum", measure: str | None = "amount", **more: Any) -> Kpi:
    base: dict[str, Any] = {
        "name": name,
        "object": "orders",
        "description": None,
        "aggregation": aggregation,
        "measure": measure,
        "numerator": None,
        "denominator": None,
        "dimensions": [],
        "time_field": "ordered_at",
        "time_grain": "day",
        "filters": [],
        "target": None,
    }
    return cast(Kpi, base | more)


def rows_of(table: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    """(period date, *columns, value, rows) per row, in table order."""
    return [
        (row["period_start"].date().isoformat(), *(row[c] for c in columns), row["value"], row["rows"])
        for row in table.to_pylist()
    ]


# --- aggregations


@pytest.mark.parametrize(
    ("aggregation", "measure", "expected"),
    [
        ("sum", "amount", [30.0, 30.0, 5.0, 7.0]),
        ("sum", "quantity", [6.0, 4.0, 6.0, 7.0]),
        ("count", None, [3.0, 1.0, 1.0, 1.0]),
        ("count", "amount", [2.0, 1.0, 1.0, 1.0]),
        ("count", "customer", [3.0, 1.0, 1.0, 0.0]),
        ("count_distinct", "customer", [2.0, 1.0, 1.0, 0.0]),
        ("avg", "amount", [15.0, 30.0, 5.0, 7.0]),
        ("min", "amount", [10.0, 30.0, 5.0, 7.0]),
        ("max", "quantity", [3.0, 4.0, 6.0, 7.0]),
    ],
)
def test_each_aggregation_per_day_leaves_out_rows_without_a_time(
    aggregation: str, measure: str | None, expected: list[float]
) -> None:
    built = build_kpis(ORDERS, [kpi(aggregation=aggregation, measure=measure)])

    assert [r[0] for r in rows_of(built)] == ["2026-03-02", "2026-03-03", "2026-03-08", "2026-03-09"]
    assert [r[1] for r in rows_of(built)] == expected
    assert [r[2] for r in rows_of(built)] == [3, 1, 1, 1]


def test_ratio_is_sum_over_sum_and_null_when_the_denominator_sums_to_zero() -> None:
    built = build_kpis(ORDERS, [kpi(aggregation="ratio", measure=None, numerator="paid", denominator="gross")])

    assert [r[1] for r in rows_of(built)] == [25.0 / 30.0, 0.25, None, 1.0]


def test_avg_min_max_of_nothing_are_null_and_min_max_of_times_are_epoch_seconds() -> None:
    no_amount = ORDERS.filter(pa.array([False, False, True, False, False, False, False]))
    built = build_kpis(no_amount, [kpi("a", "avg"), kpi("b", "max"), kpi("c", "sum"), kpi("d", "count", "amount")])
    times = build_kpis(ORDERS, [kpi("first", "min", "ordered_at"), kpi("last", "max", "shipped_on")])

    assert [(r["kpi"], r["value"], r["rows"]) for r in built.to_pylist()] == [
        ("a", None, 1),
        ("b", None, 1),
        ("c", None, 1),
        ("d", 0.0, 1),
    ]
    assert [r[1] for r in rows_of(times)][:2] == [utc("2026-03-02T10:00").timestamp(), utc("2026-03-03").timestamp()]
    assert [r[1] for r in rows_of(times)][4:6] == [utc("2026-03-05").timestamp(), utc("2026-03-06").timestamp()]


# --- filters


@pytest.mark.parametrize(
    ("operator", "field", "value", "expected_rows"),
    [
        ("eq", "country", "fr", 3),
        ("ne", "country", "fr", 3),
        ("gt", "amount", 10, 2),
        ("gte", "amount", 10.0, 3),
        ("lt", "quantity", 2.5, 2),
        ("lte", "quantity", "2", 2),
        ("in", "channel", ["app", "shop"], 2),
        ("not_in", "channel", ["app", None], 4),
        ("eq", "express", True, 2),
        ("ne", "customer", "c1", 3),  # the null customer passes no filter
        ("not_in", "customer", ["c1"], 3),
        ("gte", "ordered_at", "2026-03-08T23:59:59Z", 2),
        ("lt", "ordered_at", "2026-03-03T00:00:00+01:00", 2),  # 23:00 UTC on the 2nd
        ("lte", "shipped_on", "2026-03-05", 3),
        ("in", "quantity", [1, 4, 4.5], 2),
        ("not_in", "shipped_on", [date(2026, 3, 3)], 5),
    ],
)
def test_filters_compare_in_the_column_type_before_aggregating(
    operator: str, field: str, value: Any, expected_rows: int
) -> None:
    built = build_kpis(ORDERS, [kpi(aggregation="count", measure=None, filters=[_filter(field, operator, value)])])

    assert sum(built["rows"].to_pylist()) == expected_rows


def test_filters_combine_with_and() -> None:
    filters = [_filter("country", "eq", "fr"), _filter("channel", "eq", "web")]

    built = build_kpis(ORDERS, [kpi(filters=filters)])

    assert rows_of(built) == [("2026-03-02", 10.0, 1), ("2026-03-03", 30.0, 1)]


def test_a_filter_value_that_does_not_fit_the_column_is_refused() -> None:
    with pytest.raises(ValueError, match="'soon' cannot be compared"):
        build_kpis(ORDERS, [kpi(filters=[_filter("ordered_at", "gt", "soon")])])


def _filter(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


# --- dimensions, grains, targets


def test_dimensions_group_and_are_strings_null_for_kpis_that_do_not_use_them() -> None:
    built = build_kpis(
        ORDERS,
        [
            kpi("by_place", dimensions=["country", "channel"], time_grain="week"),
            kpi("by_day", dimensions=["shipped_on"]),
        ],
    )

    assert built.column_names[:5] == ["kpi", "period_start", "grain", "channel", "country"]
    assert built.column_names[5:] == ["shipped_on", "value", "rows", "target", "target_met"]
    assert json.loads(built.schema.metadata[DIMENSIONS_KEY]) == {
        "by_day": ["shipped_on"],
        "by_place": ["country", "channel"],
    }
    place = built.filter(pa.compute.equal(built["kpi"], "by_place"))
    assert rows_of(place, "channel", "country", "shipped_on") == [
        ("2026-03-02", "app", "de", None, 5.0, 1),
        ("2026-03-02", "app", "fr", None, 20.0, 1),
        ("2026-03-02", "web", "de", None, None, 1),
        ("2026-03-02", "web", "fr", None, 40.0, 2),
        ("2026-03-09", "web", "de", None, 7.0, 1),
    ]
    by_day = built.filter(pa.compute.equal(built["kpi"], "by_day"))
    assert by_day["shipped_on"].to_pylist()[:3] == ["2026-03-03", "2026-03-04", "2026-03-05"]


def test_boolean_and_timestamp_dimensions_are_written_as_text() -> None:
    built = build_kpis(
        ORDERS.slice(0, 2), [kpi(aggregation="count", measure=None, dimensions=["express", "ordered_at"])]
    )

    assert built["express"].to_pylist() == ["false", "true"]
    assert sorted(built["ordered_at"].to_pylist()) == ["2026-03-02T10:00:00.000000Z", "2026-03-02T23:59:59.000000Z"]


def test_weeks_start_on_monday_utc_and_months_on_the_first() -> None:
    moments = ["2026-03-01T23:59:59", "2026-03-02T00:00", "2026-03-08T23:59:59", "2026-03-09T00:00", "2026-02-28T12:00"]
    table = pa.table({"at": pa.array([utc(m) for m in moments], TIMESTAMP), "n": [1, 10, 100, 1000, 10000]})
    paris = pa.table({"at": pa.array([datetime.fromisoformat("2026-03-02T00:30+01:00")], TIMESTAMP), "n": [1]})

    weeks = build_kpis(table, [kpi(measure="n", time_field="at", time_grain="week")])
    months = build_kpis(table, [kpi(measure="n", time_field="at", time_grain="month")])

    assert rows_of(weeks) == [("2026-02-23", 10001.0, 2), ("2026-03-02", 110.0, 2), ("2026-03-09", 1000.0, 1)]
    assert rows_of(months) == [("2026-02-01", 10000.0, 1), ("2026-03-01", 1111.0, 4)]
    assert rows_of(build_kpis(paris, [kpi(measure="n", time_field="at", time_grain="week")]))[0][0] == "2026-02-23"
    assert weeks.schema.field("period_start").type == TIMESTAMP
    assert set(weeks["grain"].to_pylist()) == {"week"}


@pytest.mark.parametrize(
    ("direction", "target", "expected"),
    [
        ("at_least", 30.0, [True, True, False, False]),
        ("at_least", 30.5, [False, False, False, False]),
        ("at_most", 7.0, [False, False, True, True]),
        ("at_most", 4.0, [False, False, False, False]),
    ],
)
def test_targets_are_met_in_their_direction(direction: str, target: float, expected: list[bool]) -> None:
    built = build_kpis(ORDERS, [kpi(target={"value": target, "direction": direction})])

    assert built["target_met"].to_pylist() == expected
    assert built["target"].to_pylist() == [target] * 4


def test_without_a_target_or_a_value_target_met_is_null() -> None:
    built = build_kpis(ORDERS, [kpi("plain"), kpi("undefined", "ratio", None, numerator="paid", denominator="gross")])
    undefined = build_kpis(
        ORDERS, [kpi("r", "ratio", None, numerator="paid", denominator="gross", target=_at_least(0))]
    )

    assert built["target"].null_count == built["target_met"].null_count == built.num_rows
    assert undefined["target_met"].to_pylist() == [True, True, None, True]


def _at_least(value: float) -> dict[str, Any]:
    return {"value": value, "direction": "at_least"}


# --- shape and determinism


def test_the_schema_and_the_order_are_fixed_whatever_the_row_and_kpi_order() -> None:
    kpis = [kpi("zeta", dimensions=["country"]), kpi("alpha", "count", None, dimensions=["channel"])]
    shuffled = ORDERS.take(random.Random(3).sample(range(ORDERS.num_rows), ORDERS.num_rows))

    built = build_kpis(ORDERS, kpis)

    assert build_kpis(shuffled, list(reversed(kpis))).equals(built)
    assert built.schema.remove_metadata() == pa.schema(
        [
            ("kpi", pa.string()),
            ("period_start", TIMESTAMP),
            ("grain", pa.string()),
            ("channel", pa.string()),
            ("country", pa.string()),
            ("value", pa.float64()),
            ("rows", pa.int64()),
            ("target", pa.float64()),
            ("target_met", pa.bool_()),
        ]
    )
    keys = [(r["kpi"], r["period_start"], r["channel"] or "", r["country"] or "") for r in built.to_pylist()]
    assert keys == sorted(keys)
    assert build_kpis(ORDERS, []).num_rows == 0
    assert build_kpis(ORDERS.slice(0, 0), kpis).schema == built.schema


def test_missing_fields_and_dimension_names_that_clash_are_refused() -> None:
    with pytest.raises(ValueError, match="needs field\\(s\\) nowhere"):
        build_kpis(ORDERS, [kpi(measure="nowhere")])
    with pytest.raises(ValueError, match="value clash"):
        build_kpis(ORDERS.append_column("value", ORDERS["amount"]), [kpi(dimensions=["value"])])
    assert engine_choice() in ("pyarrow", "duckdb")


# --- an independent check


def test_a_build_matches_duckdb_sql_on_the_same_table() -> None:
    table = _random_orders(3_000)
    kpis = [
        kpi("revenue", dimensions=["country", "channel"], filters=[_filter("amount", "gt", 20)]),
        kpi("buyers", "count_distinct", "customer", time_grain="week", filters=[_filter("channel", "ne", "app")]),
        kpi("paid_share", "ratio", None, numerator="paid", denominator="amount", time_grain="month"),
    ]
    built = build_kpis(table, kpis)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.register("orders", table)
    expected = connection.execute(
        "SELECT 'revenue', date_trunc('day', ordered_at), country, channel, sum(amount), count(*) FROM orders "
        "WHERE amount > 20 AND ordered_at IS NOT NULL GROUP BY ALL UNION ALL "
        "SELECT 'buyers', date_trunc('week', ordered_at), NULL, NULL, count(DISTINCT customer), count(*) FROM orders "
        "WHERE channel <> 'app' AND ordered_at IS NOT NULL GROUP BY ALL UNION ALL "
        "SELECT 'paid_share', date_trunc('month', ordered_at), NULL, NULL, sum(paid) / nullif(sum(amount), 0), "
        "count(*) FROM orders WHERE ordered_at IS NOT NULL GROUP BY ALL ORDER BY 1, 2, 4, 3"
    ).fetchall()
    got = [
        tuple(r[c] for c in ("kpi", "period_start", "country", "channel", "value", "rows")) for r in built.to_pylist()
    ]

    assert len(got) == len(expected) > 100
    for mine, theirs in zip(got, expected, strict=True):
        assert mine[:4] == theirs[:4]
        assert mine[4] == pytest.approx(theirs[4], rel=1e-9)
        assert mine[5] == theirs[5]


def _random_orders(count: int) -> pa.Table:
    rng = random.Random(11)
    start = utc("2025-12-20")
    moments = [
        start + timedelta(seconds=rng.randrange(90 * 86_400)) if rng.random() > 0.02 else None for _ in range(count)
    ]
    return pa.table(
        {
            "ordered_at": pa.array(moments, TIMESTAMP),
            "country": [rng.choice(["de", "fr", "it", "nl"]) for _ in range(count)],
            "channel": [rng.choice(["app", "shop", "web"]) for _ in range(count)],
            "customer": [f"c{rng.randrange(200)}" if rng.random() > 0.05 else None for _ in range(count)],
            "amount": [round(rng.uniform(0, 100), 2) for _ in range(count)],
            "paid": [round(rng.uniform(0, 50), 2) for _ in range(count)],
        }
    )


# --- the summary for the action engine


def test_summarize_gives_each_kpis_latest_period_as_json_native_entries() -> None:
    built = build_kpis(
        ORDERS,
        [
            kpi("by_country", dimensions=["country"], target=_at_least(6)),
            kpi("weekly", "count", None, time_grain="week"),
            kpi("share", "ratio", None, numerator="paid", denominator="gross", time_grain="week"),
        ],
    )

    summary = summarize(built)

    assert summary == [
        _entry("by_country", "2026-03-09", "day", {"country": "de"}, 7.0, 6.0, True),
        _entry("share", "2026-03-09", "week", {}, 1.0, None, None),
        _entry("weekly", "2026-03-09", "week", {}, 1.0, None, None),
    ]
    assert json.loads(json.dumps(summary)) == summary


def test_summarize_keeps_the_kpis_dimensions_even_when_null_and_drops_non_finite_values() -> None:
    table = pa.table({"at": pa.array([utc("2026-03-02")] * 2, TIMESTAMP), "g": [None, "x"], "v": [float("nan"), 1.0]})

    summary = summarize(build_kpis(table, [kpi("nan", "sum", "v", time_field="at", dimensions=["g"])]))

    assert [(e["dimensions"], e["value"]) for e in summary] == [({"g": "x"}, 1.0), ({"g": None}, None)]


def test_summarize_caps_fairly_per_kpi() -> None:
    table = pa.table(
        {"at": pa.array([utc("2026-03-02")] * 30, TIMESTAMP), "n": list(range(30)), "few": ["a", "b"] * 15}
    )
    kpis = [kpi("many", measure="n", time_field="at", dimensions=["n"]), kpi("some", measure="n", time_field="at")]
    kpis.append(kpi("two", measure="n", time_field="at", dimensions=["few"]))
    built = build_kpis(table, kpis)

    capped = summarize(built, limit=10)

    assert [e["kpi"] for e in capped] == ["many"] * 7 + ["some"] + ["two"] * 2
    assert [e["dimensions"]["n"] for e in capped[:7]] == ["0", "1", "10", "11", "12", "13", "14"]
    assert len(summarize(built)) == 33
    assert summarize(built, limit=2) == summarize(built)[:1] + summarize(built)[30:31]
    assert summarize(built, limit=0) == summarize(build_kpis(table, [])) == []


def test_fair_shares_fill_small_groups_and_split_the_rest() -> None:
    assert fair_shares([30, 1, 2], 10) == [7, 1, 2]
    assert fair_shares([5, 5, 5], 7) == [3, 2, 2]
    assert fair_shares([5, 0, 5], 100) == [5, 0, 5]
    assert fair_shares([1, 1, 1], 2) == [1, 1, 0]


def _entry(
    name: str, day: str, grain: str, dims: dict[str, str], value: float, target: Any, met: Any
) -> dict[str, Any]:
    return {
        "kpi": name,
        "period_start": f"{day}T00:00:00Z",
        "grain": grain,
        "dimensions": dims,
        "value": value,
        "target": target,
        "target_met": met,
    }


# --- latest rows per key


def test_latest_rows_keeps_the_last_row_per_key_across_and_within_tables() -> None:
    first = pa.table({"id": [1, 2, 1], "region": ["a", "a", "b"], "v": [10, 20, 11]})
    second = pa.table({"id": [2, 3], "region": ["a", "a"], "v": [21, 30]})

    by_id = latest_rows([first, second], ["id"])
    by_id_region = latest_rows([first, second], ["id", "region"])

    assert by_id.to_pydict() == {"id": [1, 2, 3], "region": ["b", "a", "a"], "v": [11, 21, 30]}
    assert sorted(by_id_region["v"].to_pylist()) == [10, 11, 21, 30]
    assert latest_rows([first, second], []).num_rows == 5
    assert latest_rows([], ["id"]).num_rows == 0
