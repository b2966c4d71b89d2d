"""The Activation API's row query: parsing, filtering, cursor pagination, negotiation and encodings."""

from __future__ import annotations

import base64
import io
import json
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from adapters.compute.encodings import (
    MEDIA_TYPES,
    NotAcceptableError,
    encode,
    encode_csv,
    negotiate,
    neutralise_formulas,
)
from adapters.compute.rows import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    QueryError,
    RowQuery,
    encode_cursor,
    parse_query,
    run_query,
)
from domain.exports import Export
from eventstore.codec import upcast

VERSION = "v3"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _table() -> pa.Table:
    """Ten rows in two chunks, so filters and pages cross a chunk boundary."""
    countries = ["DE", "FR", "DE", "IT", None, "FR", "DE", "ES", "it's", "DE"]
    ids = list(range(10))
    columns = {
        "id": pa.array(ids, pa.int64()),
        "country": pa.array(countries, pa.string()),
        "value": pa.array([i * 2.5 for i in ids], pa.float64()),
        "ok": pa.array([i % 2 == 0 for i in ids]),
        "day": pa.array([date(2024, 1, 1) + timedelta(days=i) for i in ids], pa.date32()),
        "ts": pa.array([T0 + timedelta(hours=i) for i in ids], pa.timestamp("us", "UTC")),
        "amount": pa.array([Decimal(i) / 4 for i in ids], pa.decimal128(10, 2)),
        "small": pa.array(ids, pa.int8()),
        "blob": pa.array([bytes([i]) for i in ids], pa.binary()),
    }
    table = pa.table(columns)
    return pa.concat_tables([table.slice(0, 4), table.slice(4)])


TABLE = _table()


def _ids(params: list[tuple[str, str]], table: pa.Table = TABLE) -> list[int]:
    page, _ = run_query(table, parse_query(params, table.schema, VERSION), VERSION)
    return list(page.column("id").to_pylist())


def _error(params: list[tuple[str, str]], schema: pa.Schema = TABLE.schema) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_query(params, schema, VERSION)
    return caught.value


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("id", "3", [3]),
        ("id[eq]", "3", [3]),
        ("id[ne]", "3", [0, 1, 2, 4, 5, 6, 7, 8, 9]),
        ("id[gt]", "7", [8, 9]),
        ("id[gte]", "7", [7, 8, 9]),
        ("id[lt]", "2", [0, 1]),
        ("id[lte]", "2", [0, 1, 2]),
        ("id[in]", "1,5,9", [1, 5, 9]),
    ],
)
def test_every_operator_on_an_integer_column(key: str, raw: str, expected: list[int]) -> None:
    assert _ids([(key, raw)]) == expected


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("value[gte]", "20", [8, 9]),
        ("value[lt]", "2.6", [0, 1]),
        ("value", "1e1", [4]),
        ("ok", "true", [0, 2, 4, 6, 8]),
        ("ok", "0", [1, 3, 5, 7, 9]),
        ("ok", "FALSE", [1, 3, 5, 7, 9]),
        ("day", "2024-01-03", [2]),
        ("day[gt]", "2024-01-08", [8, 9]),
        ("ts[gte]", "2024-01-01T08:00:00Z", [8, 9]),
        ("ts", "2024-01-01T04:00:00+02:00", [2]),  # converted to UTC: 02:00Z
        ("ts[lt]", "2024-01-01T02:00:00", [0, 1]),  # no offset: UTC
        ("amount[gte]", "2.25", [9]),
        ("amount", "0.5", [2]),
        ("small[lte]", "-1", []),
        ("country", "it's", [8]),
        ("country[in]", "IT,ES", [3, 7]),
    ],
)
def test_values_are_converted_to_the_column_type(key: str, raw: str, expected: list[int]) -> None:
    assert _ids([(key, raw)]) == expected


def test_filter_values_carry_the_column_arrow_type() -> None:
    query = parse_query([("ts", "2024-01-01T04:00:00+02:00"), ("small[in]", "1,2")], TABLE.schema, VERSION)
    ts, small = query.filters
    assert ts.value.type == pa.timestamp("us", "UTC")
    assert ts.value.as_py() == datetime(2024, 1, 1, 2, tzinfo=UTC)
    assert small.value.type == pa.int8()
    assert small.value.to_pylist() == [1, 2]


def test_a_value_is_bound_never_interpreted() -> None:
    assert _ids([("country", "DE' OR '1'='1")]) == []
    assert _ids([("country", "it's")]) == [8]


def test_ne_does_not_match_nulls() -> None:
    assert 4 not in _ids([("country[ne]", "DE")])
    assert _ids([("country[ne]", "DE")]) == [1, 3, 5, 7, 8]


def test_a_dictionary_encoded_column_filters_by_its_values() -> None:
    table = TABLE.set_column(1, "country", TABLE.column("country").dictionary_encode())
    assert _ids([("country", "FR")], table) == [1, 5]
    assert _ids([("country[in]", "IT,FR")], table) == [1, 3, 5]


def test_a_timestamp_column_in_another_zone_compares_in_utc() -> None:
    berlin = TABLE.set_column(5, "ts", TABLE.column("ts").cast(pa.timestamp("ms", "Europe/Berlin")))
    assert _ids([("ts[lte]", "2024-01-01T02:00:00+01:00")], berlin) == [0, 1]


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("value[gte]", "1x", "value[gte]: '1x' is not a number"),
        ("value", "nan", "value: 'nan' is not a number"),
        ("id", "1.5", "id: '1.5' is not an integer"),
        ("id[in]", "1,x", "id[in]: 'x' is not an integer"),
        ("id", "1_000", "id: '1_000' is not an integer"),
        ("small", "300", "small: '300' does not fit a column of type int8"),
        ("ok", "yes", "ok: 'yes' is not a boolean"),
        ("day", "2024-13-01", "day: '2024-13-01' is not an ISO 8601 date"),
        ("ts[gt]", "yesterday", "ts[gt]: 'yesterday' is not an ISO 8601 timestamp"),
        ("amount", "1.234", "amount: '1.234' does not fit a column of type decimal128(10, 2)"),
        ("amount", "abc", "amount: 'abc' is not a decimal number"),
    ],
)
def test_a_value_that_does_not_convert_names_its_parameter(key: str, raw: str, message: str) -> None:
    error = _error([(key, raw)])
    assert error.parameter == key
    assert str(error).startswith(message)


def test_a_timestamp_more_precise_than_the_column_is_refused() -> None:
    schema = pa.schema([("at", pa.timestamp("s"))])
    error = _error([("at", "2024-01-01T00:00:00.5")], schema)
    assert error.parameter == "at"
    assert "more precise" in str(error)
    assert parse_query([("at", "2024-01-01T00:00:01")], schema, VERSION).filters[0].value.value == 1704067201


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("nope", "'nope' is not a column"),
        ("nope[gt]", "'nope' is not a column"),
        ("id[like]", "unknown operator 'like'"),
        ("id[]", "unknown operator ''"),
        ("blob", "cannot be filtered"),
    ],
)
def test_unknown_columns_operators_and_unfilterable_types(key: str, message: str) -> None:
    error = _error([(key, "1")])
    assert error.parameter == key
    assert message in str(error)


def test_repeated_range_filters_are_all_applied() -> None:
    assert _ids([("value[gte]", "5"), ("value[lt]", "15"), ("id[ne]", "3")]) == [2, 4, 5]


def test_repeated_equal_keys_must_all_hold() -> None:
    assert _ids([("country", "DE"), ("country", "FR")]) == []
    assert _ids([("country[in]", "DE,FR"), ("country[in]", "FR,IT")]) == [1, 5]


def test_parameters_may_come_as_a_mapping_of_lists_or_a_multidict() -> None:
    class MultiDict:
        def multi_items(self) -> list[tuple[str, str]]:
            return [("id[gte]", "2"), ("id[lt]", "4")]

    from_mapping = parse_query({"id[gte]": ["2"], "id[lt]": ["4"], "limit": "5"}, TABLE.schema, VERSION)
    from_multidict = parse_query(MultiDict(), TABLE.schema, VERSION)  # type: ignore[arg-type]
    assert run_query(TABLE, from_mapping, VERSION)[0].column("id").to_pylist() == [2, 3]
    assert from_mapping.limit == 5
    assert from_multidict.fingerprint() == from_mapping.fingerprint()


def test_reserved_parameters_are_not_filters() -> None:
    query = parse_query([("format", "csv"), ("dataset", "kpis")], TABLE.schema, VERSION)
    assert query == RowQuery(fields=None, filters=[], limit=DEFAULT_LIMIT, offset=0)


def test_fields_select_and_order_the_columns() -> None:
    query = parse_query([("fields", "value, id"), ("country", "FR")], TABLE.schema, VERSION)
    page, cursor = run_query(TABLE, query, VERSION)
    assert page.column_names == ["value", "id"]
    assert page.to_pylist() == [{"value": 2.5, "id": 1}, {"value": 12.5, "id": 5}]
    assert cursor is None


def test_repeated_fields_are_joined_without_duplicates() -> None:
    query = parse_query([("fields", "id,country"), ("fields", "id,day")], TABLE.schema, VERSION)
    assert query.fields == ["id", "country", "day"]


@pytest.mark.parametrize(("raw", "message"), [("id,nope", "'nope' is not a column"), ("id,,day", "empty field")])
def test_bad_fields_are_refused(raw: str, message: str) -> None:
    error = _error([("fields", raw)])
    assert error.parameter == "fields"
    assert message in str(error)


def _walk(params: list[tuple[str, str]], table: pa.Table) -> tuple[list[int], int]:
    """Every page's ids, following cursors until none is returned; and the number of pages."""
    ids: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = parse_query([*params, *([("cursor", cursor)] if cursor else [])], table.schema, VERSION)
        page, cursor = run_query(table, query, VERSION)
        ids.extend(page.column("id").to_pylist())
        pages += 1
        if cursor is None:
            return ids, pages


def test_cursors_walk_every_matching_row_exactly_once() -> None:
    chunks = [
        pa.table({"id": list(range(start, start + 37)), "g": [i % 3 for i in range(start, start + 37)]})
        for start in range(0, 370, 37)
    ]
    table = pa.concat_tables(chunks)
    ids, pages = _walk([("g[ne]", "1"), ("limit", "9")], table)
    expected = [i for i in range(370) if i % 3 != 1]
    assert ids == expected
    assert pages == math.ceil(len(expected) / 9)


def test_an_exact_last_page_returns_no_cursor() -> None:
    ids, pages = _walk([("limit", "5")], TABLE)
    assert ids == list(range(10))
    assert pages == 2


def _first_cursor(params: list[tuple[str, str]]) -> str:
    _, cursor = run_query(TABLE, parse_query([*params, ("limit", "2")], TABLE.schema, VERSION), VERSION)
    assert cursor is not None
    return cursor


@pytest.mark.parametrize(
    ("issued_with", "used_with", "version"),
    [
        ([], [], "v4"),
        ([("id[gt]", "1")], [("id[gt]", "2")], VERSION),
        ([("id[gt]", "1")], [], VERSION),
        ([("fields", "id")], [("fields", "id,day")], VERSION),
    ],
)
def test_a_cursor_from_another_version_or_query_is_refused(
    issued_with: list[tuple[str, str]], used_with: list[tuple[str, str]], version: str
) -> None:
    cursor = _first_cursor(issued_with)
    with pytest.raises(QueryError, match="does not belong to this query") as caught:
        parse_query([*used_with, ("cursor", cursor)], TABLE.schema, version)
    assert caught.value.parameter == "cursor"


def test_a_cursor_survives_reordered_filters_and_a_new_limit() -> None:
    cursor = _first_cursor([("id[gt]", "1"), ("country[in]", "DE,FR")])
    query = parse_query([("country[in]", "FR,DE"), ("id[gt]", "1"), ("cursor", cursor)], TABLE.schema, VERSION)
    assert query.offset == 2


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        _b64("not json"),
        _b64("[1, 2]"),
        _b64(json.dumps({"v": VERSION, "o": 2})),
        _b64(json.dumps({"v": VERSION, "o": -1, "q": "x"})),
        _b64(json.dumps({"v": VERSION, "o": True, "q": "x"})),
        _b64(json.dumps({"v": VERSION, "o": "2", "q": "x"})),
    ],
)
def test_a_malformed_cursor_is_refused(cursor: str) -> None:
    error = _error([("cursor", cursor)])
    assert error.parameter == "cursor"
    assert "malformed" in str(error)


def test_a_cursor_past_the_end_gives_an_empty_last_page() -> None:
    query = parse_query([], TABLE.schema, VERSION)
    cursor = encode_cursor(VERSION, 50, query.fingerprint())
    page, next_cursor = run_query(TABLE, parse_query([("cursor", cursor)], TABLE.schema, VERSION), VERSION)
    assert page.num_rows == 0
    assert next_cursor is None


@pytest.mark.parametrize(("raw", "expected"), [(None, DEFAULT_LIMIT), ("1", 1), (str(MAX_LIMIT), MAX_LIMIT)])
def test_limit_within_bounds(raw: str | None, expected: int) -> None:
    params = [("limit", raw)] if raw is not None else []
    assert parse_query(params, TABLE.schema, VERSION).limit == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("limit", "0")], "between 1 and 10000"),
        ([("limit", str(MAX_LIMIT + 1))], "between 1 and 10000"),
        ([("limit", "-3")], "between 1 and 10000"),
        ([("limit", "ten")], "'ten' is not an integer"),
        ([("limit", "5"), ("limit", "6")], "more than once"),
    ],
)
def test_limit_out_of_bounds_is_refused(params: list[tuple[str, str]], message: str) -> None:
    error = _error(params)
    assert error.parameter == "limit"
    assert message in str(error)


@pytest.mark.parametrize(
    ("accept", "format_param", "expected"),
    [
        (None, None, "application/json"),
        ("", None, "application/json"),
        ("*/*", None, "application/json"),
        ("text/csv", None, "text/csv"),
        ("text/csv, */*", None, "text/csv"),
        ("*/*, text/csv", None, "text/csv"),
        ("text/*", None, "text/csv"),
        ("application/*", None, "application/json"),
        ("application/json;q=0.5, application/vnd.apache.parquet", None, "application/vnd.apache.parquet"),
        ("application/json;q=0.5, text/csv;q=0.9", None, "text/csv"),
        ("application/json;q=0, */*", None, "text/csv"),
        ("text/csv, application/vnd.apache.arrow.stream", None, "text/csv"),
        ("application/vnd.apache.arrow.stream, text/csv", None, "application/vnd.apache.arrow.stream"),
        ("TEXT/CSV; charset=utf-8", None, "text/csv"),
        ("text/html, application/xml;q=0.9, */*;q=0.8", None, "application/json"),
        ("text/csv;q=nonsense, application/json;q=0.1", None, "application/json"),
        ("text/csv", "parquet", "application/vnd.apache.parquet"),
        ("text/html", "ARROW", "application/vnd.apache.arrow.stream"),
        (None, "csv", "text/csv"),
        (None, "json", "application/json"),
    ],
)
def test_negotiation(accept: str | None, format_param: str | None, expected: str) -> None:
    assert negotiate(accept, format_param) == expected


@pytest.mark.parametrize("accept", ["text/html", "application/xml, image/*", "application/json;q=0", "*/*;q=0"])
def test_nothing_acceptable_lists_what_is_supported(accept: str) -> None:
    with pytest.raises(NotAcceptableError) as caught:
        negotiate(accept, None)
    assert all(media_type in str(caught.value) for media_type in MEDIA_TYPES)


def test_an_unknown_format_parameter_is_a_bad_parameter() -> None:
    with pytest.raises(QueryError) as caught:
        negotiate("*/*", "xml")
    assert caught.value.parameter == "format"


def _page() -> pa.Table:
    page, _ = run_query(
        TABLE, parse_query([("fields", "id,country,value,ok,day,ts,amount")], TABLE.schema, VERSION), VERSION
    )
    return page


def test_csv_round_trips() -> None:
    page = _page()
    body = encode(page, "text/csv")
    assert body.splitlines()[0] == b'"id","country","value","ok","day","ts","amount"'
    types = {field.name: field.type for field in page.schema}
    read = pa_csv.read_csv(
        io.BytesIO(body), convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=True)
    )
    assert read.equals(page.combine_chunks())


def test_arrow_stream_round_trips() -> None:
    body = encode(TABLE, "application/vnd.apache.arrow.stream")
    read = pa.ipc.open_stream(body).read_all()
    assert read.schema == TABLE.schema
    assert read.equals(TABLE)


def test_parquet_round_trips() -> None:
    body = encode(TABLE, "application/vnd.apache.parquet")
    read = pq.read_table(io.BytesIO(body))
    assert read.equals(TABLE)


def test_json_rows_are_objects_with_iso_timestamps_in_utc() -> None:
    rows = json.loads(encode(TABLE.slice(3, 1), "application/json"))
    assert rows == [
        {
            "id": 3,
            "country": "IT",
            "value": 7.5,
            "ok": False,
            "day": "2024-01-04",
            "ts": "2024-01-01T03:00:00.000000Z",
            "amount": "0.75",
            "small": 3,
            "blob": base64.b64encode(b"\x03").decode(),
        }
    ]


@pytest.mark.parametrize(
    ("arrow_type", "expected"),
    [
        (pa.timestamp("s"), "2024-05-06T05:08:09Z"),
        (pa.timestamp("ms", "UTC"), "2024-05-06T05:08:09.123Z"),
        (pa.timestamp("us", "America/New_York"), "2024-05-06T05:08:09.123456Z"),
        (pa.timestamp("ns", "Asia/Kolkata"), "2024-05-06T05:08:09.123456000Z"),
    ],
)
def test_json_timestamps_are_utc_with_z_and_the_unit_precision(arrow_type: pa.DataType, expected: str) -> None:
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    column = pa.array([moment, None]).cast(arrow_type, safe=False)
    assert json.loads(encode(pa.table({"at": column}), "application/json")) == [{"at": expected}, {"at": None}]


def test_json_non_finite_floats_are_null_and_nested_timestamps_have_z() -> None:
    nested = pa.array([[T0.replace(tzinfo=None)], None, []], pa.list_(pa.timestamp("us")))
    table = pa.table({"f": [math.nan, math.inf, -1.5], "n": nested})
    rows = json.loads(encode(table, "application/json"))
    assert [row["f"] for row in rows] == [None, None, -1.5]
    assert rows[0]["n"] == ["2024-01-01T00:00:00Z"]


def test_csv_refuses_a_column_it_cannot_represent() -> None:
    with pytest.raises(NotAcceptableError, match="text/csv cannot represent"):
        encode(pa.table({"l": [[1, 2]]}), "text/csv")


def test_encoding_an_unsupported_media_type_is_not_acceptable() -> None:
    with pytest.raises(NotAcceptableError):
        encode(TABLE, "application/xml")


def test_an_empty_version_gives_one_empty_page() -> None:
    empty = TABLE.schema.empty_table()
    for params in ([], [("id[gt]", "1"), ("fields", "country")]):
        page, cursor = run_query(empty, parse_query(params, empty.schema, VERSION), VERSION)
        assert page.num_rows == 0
        assert cursor is None


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_text_cells_that_start_a_formula_are_quoted_with_a_leading_quote(start: str) -> None:
    table = pa.table({"name": [f"{start}1+1", "fine", None], "amount": [-5, 3, None]})
    written = encode_csv(table).decode()
    assert f'"\'{start}1+1",-5\n' in written  # quoted with a leading quote; the negative number untouched
    assert pa_csv.read_csv(pa.BufferReader(written.encode())).column("name").to_pylist()[0] == f"'{start}1+1"
    assert f'"{start}1+1",-5\n' in encode_csv(table, neutralise=False).decode()
    assert encode(table, "text/csv") == written.encode()
    assert encode(table, "text/csv", raw_formulas=True) == encode_csv(table, neutralise=False)


def test_neutralising_touches_text_columns_only_and_keeps_their_type() -> None:
    table = pa.table(
        {
            "text": pa.array(["=a", "b"], pa.large_string()),
            "dict": pa.array(["@x", "y"]).dictionary_encode(),
            "number": [-1.5, 2.0],
            "when": pa.array([-1, 2], pa.int64()),
        }
    )
    neutral = neutralise_formulas(table)
    assert neutral.column("text").to_pylist() == ["'=a", "b"]
    assert neutral.column("dict").to_pylist() == ["'@x", "y"]
    assert neutral.column("number").to_pylist() == [-1.5, 2.0]
    assert neutral.column("when").to_pylist() == [-1, 2]
    assert neutral.schema.field("text").type == pa.large_string()


def test_exports_requested_before_neutralising_existed_read_as_raw() -> None:
    old = {"tenant_id": "t", "product": "p", "version": 1, "dataset": "kpis", "format": "csv", "filters": [], "by": "a"}
    assert upcast(Export.Requested, dict(old), 1) == old | {"csv_formulas": "raw"}
    assert Export.request("t", "c", "p", 1, "kpis", "csv", [], "a").csv_formulas == "neutralise"
