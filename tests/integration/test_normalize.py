"""Normalization of a landed batch to golden data points: types, trimming, rejects with reasons, latest row per key,
the files it writes, and the columns check done before landing."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.compute import grouping, streams
from adapters.compute import normalize as normalize_module
from adapters.compute.normalize import Normalized, arrow_schema, column_problems, normalize
from adapters.contracts import read_odcs
from domain.contracts import read_contract
from domain.contracts.model import FieldSpec, ObjectSpec
from tests.data import ODCS_EXAMPLES

EXAMPLES = ODCS_EXAMPLES
UTC = dt.UTC


def field(name: str, logical: str | None = "string", required: bool = False, physical: str | None = None) -> FieldSpec:
    return FieldSpec(
        name=name,
        logical_type=logical,
        physical_type=physical,
        required=required,
        unique=False,
        primary_key=False,
        classification=None,
        options={},
    )


def spec(*fields: FieldSpec, key: list[str] | None = None) -> ObjectSpec:
    return ObjectSpec(name="orders", physical_name=None, physical_type=None, fields=list(fields), primary_key=key or [])


def text(**columns: list[str]) -> pa.RecordBatch:
    """A record batch as the CSV reader yields it: every column a string."""
    return pa.record_batch({name: pa.array(values, pa.string()) for name, values in columns.items()})


def run(tmp_path: Path, obj: ObjectSpec, *batches: pa.RecordBatch, name: str = "run") -> Normalized:
    return normalize(iter(batches), obj, [], tmp_path / name)


def rows(result: Normalized) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pq.read_table(result.gdp_path).to_pylist()
    return found


def rejects(result: Normalized) -> list[tuple[int, str]]:
    assert result.quarantine_path is not None
    table = pq.read_table(result.quarantine_path)
    return list(zip(table.column("_row").to_pylist(), table.column("_reason").to_pylist(), strict=True))


def one_column(tmp_path: Path, logical: str, values: list[str]) -> tuple[list[Any], list[tuple[int, str]]]:
    """The values read from one text column of ``logical`` type, and the rejects (row, reason)."""
    result = run(tmp_path, spec(field("v", logical)), text(v=values))
    return [row["v"] for row in rows(result)], rejects(result) if result.quarantine_path else []


# --- the GDP schema


def test_the_schema_has_the_top_level_fields_in_contract_order_with_their_arrow_types() -> None:
    obj = spec(
        field("s"),
        field("i", "integer"),
        field("n", "number", physical="decimal(10,2)"),
        field("b", "boolean"),
        field("d", "date"),
        field("ts", "timestamp"),
        field("t", "time"),
        field("o", "object"),
        field("o.inner", "string"),
        field("a", "array"),
        field("a[].sku", "string"),
        field("m", "map"),
        field("v", "vector"),
        field("u", None),
    )

    schema = arrow_schema(obj)

    assert schema.names == ["s", "i", "n", "b", "d", "ts", "t", "o", "a", "m", "v", "u"]
    assert schema.types == [
        pa.string(),
        pa.int64(),
        pa.float64(),
        pa.bool_(),
        pa.date32(),
        pa.timestamp("us", tz="UTC"),
        *[pa.string()] * 6,
    ]
    assert schema.metadata is None


def test_the_schema_of_a_published_example_contract() -> None:
    contract = read_contract(
        read_odcs((EXAMPLES / "data-types-all-data-types.odcs.yaml").read_bytes(), "application/yaml")
    )

    schema = arrow_schema(contract.spec["objects"][0])

    assert dict(zip(schema.names, schema.types, strict=True)) == {
        "account_id": pa.string(),
        "txn_ref_date": pa.date32(),
        "txn_timestamp": pa.timestamp("us", tz="UTC"),
        "txn_timestamp_tz": pa.timestamp("us", tz="UTC"),
        "txn_time": pa.string(),
        "amount": pa.float64(),
        "age": pa.int64(),
        "is_open": pa.bool_(),
        "latest_txns": pa.string(),
        "customer_details": pa.string(),
    }


# --- reading each type from text


def test_integers_and_what_cannot_be_read_as_one(tmp_path: Path) -> None:
    values, bad = one_column(tmp_path, "integer", ["1", " -2 ", "", "x", "1.5", "99999999999999999999", "7"])

    assert values == [1, -2, None, 7]
    assert bad == [
        (4, "v: cannot read 'x' as integer"),
        (5, "v: cannot read '1.5' as integer"),
        (6, "v: cannot read '99999999999999999999' as integer"),
    ]


def test_numbers_and_what_cannot_be_read_as_one(tmp_path: Path) -> None:
    values, bad = one_column(tmp_path, "number", ["1.5", "-1e3", ".5", "", "abc", "1,5", "+2"])

    assert values == [1.5, -1000.0, 0.5, None, 2.0]
    assert bad == [(5, "v: cannot read 'abc' as number"), (6, "v: cannot read '1,5' as number")]


def test_booleans_read_true_false_one_zero_yes_no_in_any_case(tmp_path: Path) -> None:
    values, bad = one_column(tmp_path, "boolean", ["true", "FALSE", "1", "0", "Yes", "no", "", "maybe"])

    assert values == [True, False, True, False, True, False, None]
    assert bad == [(8, "v: cannot read 'maybe' as boolean")]


def test_dates_are_iso_days_that_exist(tmp_path: Path) -> None:
    values, bad = one_column(tmp_path, "date", ["2024-02-29", "2023-02-29", "2024-1-5", "", "2024-12-31"])

    assert values == [dt.date(2024, 2, 29), None, dt.date(2024, 12, 31)]
    assert bad == [(2, "v: cannot read '2023-02-29' as date"), (3, "v: cannot read '2024-1-5' as date")]


def test_timestamps_with_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    values, bad = one_column(
        tmp_path, "timestamp", ["2024-03-01T10:00:00+02:00", "2024-03-01T10:00:00.5-05:30", "2024-03-01T10:00:00Z"]
    )

    assert values == [
        dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 15, 30, 0, 500000, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
    ]
    assert bad == []


def test_naive_timestamps_are_utc_and_a_mixed_column_reads_each_kind(tmp_path: Path) -> None:
    values, bad = one_column(
        tmp_path,
        "timestamp",
        ["2024-03-01 10:00:00", "2024-03-01T10:00:00+01:00", "2024-03-01", "yesterday", "", "2024-03-01T10:00:00"],
    )

    assert values == [
        dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
        None,
        dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
    ]
    assert bad == [(4, "v: cannot read 'yesterday' as timestamp")]


@pytest.mark.parametrize("logical", ["time", "object", "array", "map", "vector"])
def test_text_kinds_keep_their_text(tmp_path: Path, logical: str) -> None:
    values, bad = one_column(tmp_path, logical, ['{"a": [1, 2]}', "10:30:00", ""])

    assert values == ['{"a": [1, 2]}', "10:30:00", ""]
    assert bad == []


def test_strings_are_trimmed_blank_strings_stay_blank_and_quarantine_keeps_the_raw_values(tmp_path: Path) -> None:
    obj = spec(field("name"), field("qty", "integer"))

    result = run(tmp_path, obj, text(name=["  Ann ", "", "\tBob"], qty=[" 3", "  ", " x "]))

    assert rows(result) == [{"name": "Ann", "qty": 3}, {"name": "", "qty": None}]
    quarantined = pq.read_table(result.quarantine_path).to_pylist()
    assert quarantined == [{"name": "\tBob", "qty": " x ", "_row": 3, "_reason": "qty: cannot read 'x' as integer"}]


def test_a_few_bad_values_among_many_are_found_exactly(tmp_path: Path) -> None:
    values = [str(n) for n in range(20_000)]
    for position, bad in {17: "x", 9_999: "1e400", 10_000: "99999999999999999999", 19_999: "-"}.items():
        values[position] = bad

    result = run(tmp_path, spec(field("v", "integer")), text(v=values))

    assert [row for row, _ in rejects(result)] == [18, 10_000, 10_001, 20_000]
    assert result.rows_out == 19_996
    assert rows(result)[17] == {"v": 18}


# --- typed input (Parquet, Arrow, NDJSON)


def test_typed_columns_are_cast_and_unreadable_ones_rejected(tmp_path: Path) -> None:
    paris = pa.array([dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)] * 3, pa.timestamp("ms", tz="Europe/Paris"))
    batch = pa.record_batch(
        {
            "qty": pa.array([1.0, 2.5, None]),
            "price": pa.array([1, 2, 3], pa.int32()),
            "at": paris,
            "meta": pa.array([{"a": 1}, None, {"a": 2}]),
            "tag": pa.array(["x", " y ", "z"]).dictionary_encode(),
        }
    )
    obj = spec(field("qty", "integer"), field("price", "number"), field("at", "timestamp"), field("meta", "object"))
    obj["fields"].append(field("tag"))

    result = run(tmp_path, obj, batch)

    noon = dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert rows(result) == [
        {"qty": 1, "price": 1.0, "at": noon, "meta": '{"a": 1}', "tag": "x"},
        {"qty": None, "price": 3.0, "at": noon, "meta": '{"a": 2}', "tag": "z"},
    ]
    assert rejects(result) == [(2, "qty: cannot read '2.5' as integer")]


# --- required values, missing columns, reasons


def test_a_required_value_missing_rejects_the_row_and_reasons_are_joined(tmp_path: Path) -> None:
    obj = spec(field("id", "integer", required=True), field("name", required=True), field("qty", "integer"))

    result = run(tmp_path, obj, text(id=["1", "", "x"], name=["a", "b", ""], qty=["1", "2", "z"]))

    assert rows(result) == [{"id": 1, "name": "a", "qty": 1}]
    assert rejects(result) == [
        (2, "id: required value is missing"),
        (3, "id: cannot read 'x' as integer; qty: cannot read 'z' as integer"),
    ]
    assert (result.rows_in, result.rows_out, result.rejected, result.duplicates) == (3, 1, 2, 0)


def test_missing_optional_columns_are_nulls_and_unknown_columns_are_ignored(tmp_path: Path) -> None:
    obj = spec(field("id", "integer"), field("note"), field("paid", "boolean"))

    result = run(tmp_path, obj, text(id=["1"], extra=["?"]))

    assert rows(result) == [{"id": 1, "note": None, "paid": None}]
    assert result.quarantine_path is None


def test_a_missing_required_column_rejects_every_row_and_keeps_the_input_columns(tmp_path: Path) -> None:
    result = run(tmp_path, spec(field("id", "integer", required=True)), text(other=["a", "b"]))

    assert rows(result) == []
    table = pq.read_table(result.quarantine_path)
    assert table.schema.names == ["other", "_row", "_reason"]
    assert table.schema.types == [pa.string(), pa.int64(), pa.string()]
    assert table.column("_reason").to_pylist() == ["id: required value is missing"] * 2


def test_row_numbers_count_across_record_batches(tmp_path: Path) -> None:
    obj = spec(field("v", "integer"))

    result = run(tmp_path, obj, text(v=["1", "x"]), text(v=["2", "3", "y"]), text(v=["z"]))

    assert [row for row, _ in rejects(result)] == [2, 5, 6]
    assert [r["v"] for r in rows(result)] == [1, 2, 3]


# --- primary key


def test_the_latest_row_of_a_key_wins_and_earlier_ones_count_as_duplicates(tmp_path: Path) -> None:
    obj = spec(field("id", "integer"), field("v"), key=["id"])

    result = run(tmp_path, obj, text(id=["1", "2", "1", "3", "1"], v=["a", "b", "c", "d", "e"]))

    assert rows(result) == [{"id": 2, "v": "b"}, {"id": 3, "v": "d"}, {"id": 1, "v": "e"}]
    assert (result.rows_out, result.duplicates, result.rejected, result.quarantine_path) == (3, 2, 0, None)


def test_latest_wins_across_record_batches_on_a_composite_key(tmp_path: Path) -> None:
    obj = spec(field("store"), field("day", "date"), field("sales", "number"), key=["store", "day"])

    result = run(
        tmp_path,
        obj,
        text(store=["A", "B"], day=["2024-01-01", "2024-01-01"], sales=["1", "2"]),
        text(store=["A", "A"], day=["2024-01-02", "2024-01-01"], sales=["3", "4"]),
    )

    jan = dt.date(2024, 1, 1)
    assert rows(result) == [
        {"store": "B", "day": jan, "sales": 2.0},
        {"store": "A", "day": dt.date(2024, 1, 2), "sales": 3.0},
        {"store": "A", "day": jan, "sales": 4.0},
    ]
    assert result.duplicates == 1


def test_a_row_whose_key_has_a_missing_part_is_rejected_not_deduplicated(tmp_path: Path) -> None:
    obj = spec(field("store", required=True), field("n", "integer"), key=["store", "n"])

    result = run(tmp_path, obj, text(store=["A", "A", "A"], n=["", "1", ""]))

    assert rows(result) == [{"store": "A", "n": 1}]
    assert rejects(result) == [(1, "primary key field 'n' is missing"), (3, "primary key field 'n' is missing")]
    assert result.duplicates == 0


def test_rows_already_written_are_rewritten_without_the_losers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(normalize_module, "ROW_GROUP", 2)  # rows leave memory before the end: the file is rewritten
    obj = spec(field("id", "integer"), field("v"), key=["id"])
    batches = [text(id=["1", "2", "3"], v=["a", "b", "c"]), text(id=["2", "4", "1"], v=["d", "e", "f"])]

    result = run(tmp_path, obj, *batches)

    assert rows(result) == [{"id": 3, "v": "c"}, {"id": 2, "v": "d"}, {"id": 4, "v": "e"}, {"id": 1, "v": "f"}]
    assert result.duplicates == 2
    assert pq.ParquetFile(result.gdp_path).num_row_groups == 2  # the first lost both its rows
    assert sorted(p.name for p in result.gdp_path.parent.iterdir()) == ["gdp.parquet"]


def sales(batches: int, size: int) -> list[pa.RecordBatch]:
    """Sales rows whose (store, day, till) key repeats across batches: every third key is sent again later."""
    made = []
    for b in range(batches):
        keys = [(n * 7 + b * 3) % (size * 2) for n in range(size)]
        made.append(
            text(
                store=[f"store-{k % 5}-{'x' * (k % 13)}" for k in keys],
                day=[f"2024-01-{1 + k % 28:02d}" for k in keys],
                till=[str(k // 140) for k in keys],
                amount=[f"{b}.{n}" for n in range(size)],
            )
        )
    return made


def expected_latest(batches: list[pa.RecordBatch]) -> dict[tuple[str, str, str], str]:
    latest: dict[tuple[str, str, str], str] = {}
    for batch in batches:
        for row in batch.to_pylist():
            latest.pop((row["store"], row["day"], row["till"]), None)
            latest[(row["store"], row["day"], row["till"])] = row["amount"]
    return latest


@pytest.mark.parametrize(("budget", "row_group"), [(128 << 20, 1_000_000), (2_000, 1_000_000), (2_000, 50)])
def test_keys_grouped_in_partitions_give_the_same_latest_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int, row_group: int
) -> None:
    monkeypatch.setattr(grouping, "BUDGET", budget)
    monkeypatch.setattr(normalize_module, "ROW_GROUP", row_group)
    obj = spec(field("store"), field("day", "date"), field("till", "integer"), field("amount", "number"))
    obj["primary_key"] = ["store", "day", "till"]
    batches = sales(3, 120)

    result = run(tmp_path, obj, *batches)

    latest = expected_latest(batches)
    found = {(r["store"], r["day"].isoformat(), str(r["till"])): f"{r['amount']}" for r in rows(result)}
    assert found == {key: str(float(amount)) for key, amount in latest.items()}
    assert (result.rows_out, result.duplicates) == (len(latest), 360 - len(latest))
    assert [p.name for p in result.gdp_path.parent.iterdir()] == ["gdp.parquet"]


@pytest.mark.parametrize("budget", [128 << 20, 500])
def test_losers_and_distinct_values_over_keys_of_every_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    monkeypatch.setattr(grouping, "BUDGET", budget)
    values = {
        "s": pa.array(["a", "b", "a", "é" * 40, "é" * 40, "a", None]),
        "i": pa.array([1, 2, 1, 3, 3, 1, 4], pa.int32()),
        "d": pa.array([dt.date(2024, 1, 1)] * 7),
        "b": pa.array([True, False, True, True, True, True, False]),
        "f": pa.array([0.5, 0.5, 0.5, 1.5, 1.5, 0.5, 2.5]),
        "t": pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC)] * 7, pa.timestamp("us", tz="UTC")),
    }
    table = pa.table(values)

    def pieces(names: list[str]) -> Iterator[pa.Table]:
        return iter([table.slice(0, 3).select(names), table.slice(3).select(names)])

    lost = grouping.losers(pieces, list(values), table.num_rows, tmp_path)
    present, distinct = grouping.distinct(pieces, ["s", "i"], table.num_rows, tmp_path)

    assert lost.to_pylist() == [0, 2, 3]
    assert (present, distinct) == (6, 3)
    assert list(tmp_path.iterdir()) == []


# --- the files


def test_every_row_rejected_still_gives_an_empty_gdp_file_with_the_schema(tmp_path: Path) -> None:
    obj = spec(field("id", "integer", required=True), field("v"), key=["id"])

    result = run(tmp_path, obj, text(id=["", "x"], v=["a", "b"]))

    table = pq.read_table(result.gdp_path)
    assert table.num_rows == 0
    assert table.schema.equals(arrow_schema(obj))
    assert (result.rows_in, result.rows_out, result.rejected) == (2, 0, 2)


def test_no_batches_at_all(tmp_path: Path) -> None:
    result = run(tmp_path, spec(field("id", "integer")))

    assert (result.rows_in, result.rows_out, result.quarantine_path) == (0, 0, None)
    assert pq.read_table(result.gdp_path).num_rows == 0


@pytest.mark.parametrize("row_group", [1_000_000, 2])
def test_the_same_input_gives_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row_group: int) -> None:
    monkeypatch.setattr(normalize_module, "ROW_GROUP", row_group)
    obj = spec(field("id", "integer"), field("at", "timestamp"), field("v"), key=["id"])

    def batches() -> list[pa.RecordBatch]:
        return [
            text(id=["1", "2", "x"], at=["2024-01-01T00:00:00Z", "", "2024-01-01"], v=["a", "b", "c"]),
            text(id=["2", "3"], at=["2024-01-02 10:00:00", "bad"], v=["d", "e"]),
        ]

    first, second = run(tmp_path, obj, *batches(), name="one"), run(tmp_path, obj, *batches(), name="two")

    assert first.gdp_path.read_bytes() == second.gdp_path.read_bytes()
    assert first.quarantine_path is not None
    assert second.quarantine_path is not None
    assert first.quarantine_path.read_bytes() == second.quarantine_path.read_bytes()
    assert first.schema_fingerprint == second.schema_fingerprint


def test_the_fingerprint_is_the_sha256_of_the_serialized_gdp_schema(tmp_path: Path) -> None:
    obj = spec(field("id", "integer"), field("v"))

    result = run(tmp_path, obj, text(id=["1"], v=["a"]))
    other = run(tmp_path, spec(field("id", "number"), field("v")), text(id=["1"], v=["a"]), name="other")

    assert result.schema_fingerprint == hashlib.sha256(arrow_schema(obj).serialize().to_pybytes()).hexdigest()
    assert other.schema_fingerprint != result.schema_fingerprint
    assert pq.read_schema(result.gdp_path).equals(arrow_schema(obj))


def test_a_failing_input_stops_the_run_and_leaves_no_partial_files(tmp_path: Path) -> None:
    def broken() -> Iterator[pa.RecordBatch]:
        yield text(id=["1"])
        raise ValueError("the file cannot be read as csv")

    with pytest.raises(ValueError, match="cannot be read"):
        normalize(broken(), spec(field("id", "integer")), [], tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_read_ahead_keeps_order_and_stops_its_thread_when_the_consumer_leaves() -> None:
    pulled: list[int] = []

    def numbers() -> Iterator[int]:
        for n in range(100):
            pulled.append(n)
            yield n

    ahead = streams.read_ahead(numbers(), depth=2)
    assert [next(ahead) for _ in range(3)] == [0, 1, 2]
    ahead.close()

    assert len(pulled) < 10
    assert list(streams.read_ahead(iter(range(5)))) == [0, 1, 2, 3, 4]


def row_groups(path: Path) -> list[int]:
    metadata = pq.ParquetFile(path).metadata
    return [metadata.row_group(n).num_rows for n in range(metadata.num_row_groups)]


def test_the_sink_holds_a_small_file_in_memory_then_streams_smaller_pieces(tmp_path: Path) -> None:
    thousand = pa.table({"v": pa.array(range(1000), pa.int64())})  # 8,000 bytes
    sink = streams.ParquetSink(tmp_path / "a.parquet", thousand.schema, 1_000_000, "zstd", max_bytes=20_000)

    sink.write(thousand)
    sink.write(thousand)
    held = sink.submitted
    sink.write(thousand)  # 24,000 bytes: past max_bytes
    first = sink.submitted
    sink.write(thousand)  # 8,000 bytes: past a quarter of it, now that rows are on their way
    sink.close()

    assert (held, first, sink.submitted) == (0, 3000, 4000)
    assert row_groups(sink.path) == [3000, 1000]


def test_the_sink_cuts_full_row_groups_and_keeps_the_rest(tmp_path: Path) -> None:
    thousand = pa.table({"v": pa.array(range(1000), pa.int64())})
    sink = streams.ParquetSink(tmp_path / "b.parquet", thousand.schema, 1500, "zstd")

    sink.write(thousand)
    sink.write(thousand)
    submitted = sink.submitted
    sink.close()

    assert submitted == 1500
    assert row_groups(sink.path) == [1500, 500]
    assert pq.read_table(sink.path).column("v").to_pylist() == list(range(1000)) * 2


# --- columns check before landing


def test_column_problems_name_missing_required_unknown_and_repeated_columns() -> None:
    obj = spec(field("id", "integer", required=True), field("name", required=True), field("note"))

    assert column_problems(["id", "name"], obj) == []
    assert column_problems(["name", "note", "colour", "note"], obj) == [
        "missing required column 'id'",
        "column 'note' appears more than once",
        "unknown column 'colour'; the contract's columns are id, name, note",
    ]


def test_key_columns_are_required_and_nested_fields_are_not_columns() -> None:
    obj = spec(field("id", "integer"), field("address", "object"), field("address.city"), key=["id"])

    assert column_problems(["address"], obj) == ["missing required column 'id'"]
    assert column_problems(["id", "address.city"], obj) == [
        "unknown column 'address.city'; the contract's columns are id, address"
    ]
