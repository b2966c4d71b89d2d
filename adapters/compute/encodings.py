"""Content negotiation and encodings for row-query pages: JSON, CSV, Arrow IPC stream and Parquet.

JSON is an array of row objects (the caller wraps it). Timestamps are ISO 8601 in UTC with a ``Z``; their
sub-second digits follow the column's unit (none for s, 3 for ms, 6 for us, 9 for ns), formatted by Arrow so no
Python datetime is built per row. Dates are ``YYYY-MM-DD``; NaN and infinities become null; binary is base64;
decimals are strings (exact); durations are ISO 8601 durations (msgspec's defaults).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from adapters.compute.rows import QueryError

JSON = "application/json"
CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
MEDIA_TYPES = (JSON, CSV, ARROW, PARQUET)
FORMATS = {"json": JSON, "csv": CSV, "arrow": ARROW, "parquet": PARQUET}

_JSON_ENCODER = msgspec.json.Encoder()
_UTC_ISO = "%Y-%m-%dT%H:%M:%SZ"


class NotAcceptableError(ValueError):
    """None of the media types the client accepts can be produced."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{detail}; supported media types: {', '.join(MEDIA_TYPES)}")


def negotiate(accept: str | None, format_param: str | None) -> str:
    """The media type to answer with: ``?format=`` wins, else the best match in Accept, else JSON."""
    if format_param is not None:
        media_type = FORMATS.get(format_param.strip().lower())
        if media_type is None:
            raise QueryError("format", f"{format_param!r} is not a supported format; use one of {', '.join(FORMATS)}")
        return media_type
    if accept is None or not accept.strip():
        return JSON
    ranges = _parse_accept(accept)
    best: tuple[float, int, int, int] | None = None
    chosen = None
    for preference, media_type in enumerate(MEDIA_TYPES):
        match = _best_range(media_type, ranges)
        if match is None or match[0] <= 0:
            continue
        rank = (match[0], match[1], -match[2], -preference)
        if best is None or rank > best:
            best, chosen = rank, media_type
    if chosen is None:
        raise NotAcceptableError(f"none of the media types in Accept ({accept}) is available")
    return chosen


def _parse_accept(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) for each well-formed media range, in the order given; malformed ranges are skipped."""
    ranges: list[tuple[str, str, float]] = []
    for item in accept.split(","):
        media_range, *params = (part.strip() for part in item.split(";"))
        kind, slash, subtype = media_range.lower().partition("/")
        if not slash or not kind or not subtype or (kind == "*" and subtype != "*"):
            continue
        q = _quality(params)
        if q is not None:
            ranges.append((kind, subtype, q))
    return ranges


def _quality(params: list[str]) -> float | None:
    """The range's q-value (1 when absent), or None when it is not a number between 0 and 1."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            return q if 0 <= q <= 1 else None
    return 1.0


def _best_range(media_type: str, ranges: list[tuple[str, str, float]]) -> tuple[float, int, int] | None:
    """(q, specificity, position) of the most specific range matching the type: exact > type/* > */*."""
    kind, _, subtype = media_type.partition("/")
    best: tuple[float, int, int] | None = None
    for position, (range_kind, range_subtype, q) in enumerate(ranges):
        if (range_kind, range_subtype) == (kind, subtype):
            specificity = 2
        elif (range_kind, range_subtype) == (kind, "*"):
            specificity = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            specificity = 0
        else:
            continue
        if best is None or specificity > best[1]:
            best = (q, specificity, position)
    return best


def encode(table: pa.Table, media_type: str, raw_formulas: bool = False) -> bytes:
    """The page's bytes in the negotiated media type; CSV with formulas neutralised unless ``raw_formulas``."""
    if media_type == CSV:
        return encode_csv(table, neutralise=not raw_formulas)
    encoder = _ENCODERS.get(media_type)
    if encoder is None:
        raise NotAcceptableError(f"{media_type} is not available")
    return encoder(table)


def encode_json(table: pa.Table) -> bytes:
    """A JSON array with one object per row, keys in column order."""
    return _JSON_ENCODER.encode(_json_ready(table).to_pylist())


def _json_ready(table: pa.Table) -> pa.Table:
    """Timestamps and dates as ISO strings made by Arrow; nested timestamps marked UTC so msgspec writes ``Z``."""
    columns = [_json_column(column) for column in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _json_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_timestamp(column.type):
        return pc.strftime(column.cast(pa.timestamp(column.type.unit, "UTC")), format=_UTC_ISO)
    if pa.types.is_date(column.type):
        return column.cast(pa.string())
    if pa.types.is_nested(column.type) and _utc_type(column.type) != column.type:
        return column.cast(_utc_type(column.type))
    return column


def _utc_type(arrow_type: pa.DataType) -> pa.DataType:
    """The same type with every timestamp inside it in UTC (a metadata-only cast)."""
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp(arrow_type.unit, "UTC")
    if pa.types.is_struct(arrow_type):
        return pa.struct([field.with_type(_utc_type(field.type)) for field in arrow_type])
    if pa.types.is_list(arrow_type):
        return pa.list_(arrow_type.value_field.with_type(_utc_type(arrow_type.value_type)))
    if pa.types.is_large_list(arrow_type):
        return pa.large_list(arrow_type.value_field.with_type(_utc_type(arrow_type.value_type)))
    return arrow_type


FORMULA_START = r"^([=+\-@\t\r])"
"""What a spreadsheet may read as the start of a formula (OWASP CSV injection): =, +, -, @, tab, carriage return."""


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Text cells that a spreadsheet would read as a formula get a leading single quote (OWASP's advice).

    Only text columns are touched: a number (-5) stays a number, while the text "-5" becomes "'-5". Arrow's CSV
    writer quotes every text cell, so the neutralised cells are quoted too. Nulls stay empty."""
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if pa.types.is_dictionary(field.type) and _is_text(field.type.value_type):
            column = column.cast(field.type.value_type)
        if _is_text(column.type):
            quoted = pc.replace_substring_regex(column, pattern=FORMULA_START, replacement="'\\1")
            table = table.set_column(index, field.with_type(column.type), quoted)
    return table


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def encode_csv(table: pa.Table, neutralise: bool = True) -> bytes:
    """CSV with a header row, as written by Arrow, formulas neutralised unless ``neutralise`` is False (raw exports);
    nested columns have no CSV form and are refused."""
    sink = pa.BufferOutputStream()
    try:
        pa_csv.write_csv(neutralise_formulas(table) if neutralise else table, sink)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise NotAcceptableError(f"{CSV} cannot represent this dataset ({exc})") from None
    return bytes(sink.getvalue().to_pybytes())


def encode_arrow(table: pa.Table) -> bytes:
    """An Arrow IPC stream: the schema, then the record batches."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def encode_parquet(table: pa.Table) -> bytes:
    """A complete Parquet file held in memory."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


_ENCODERS: dict[str, Callable[[pa.Table], bytes]] = {
    JSON: encode_json,
    CSV: encode_csv,
    ARROW: encode_arrow,
    PARQUET: encode_parquet,
}
