"""The Activation API's row query over one published, immutable dataset version held as a pyarrow Table.

``parse_query`` turns query parameters into a :class:`RowQuery` (field selection, typed filters, limit and the offset
carried by an opaque cursor); ``run_query`` applies it to the table and returns one page plus the cursor of the next.
Filters are bound values: each is a ``pyarrow.compute`` expression comparing a column with a typed scalar, so no
parameter text is ever spliced into a query language. Encoding a page is in ``adapters.compute.encodings``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import reduce
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import acero

RESERVED = ("fields", "limit", "cursor", "format", "dataset")
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in")

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_FILTER_KEY = re.compile(r"^(?P<name>.+)\[(?P<op>[^\[\]]*)\]$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
# Sub-second digits a timestamp unit can hold, as the divisor of a datetime's microseconds that must be exact.
_MICROSECOND_STEP = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}


class QueryError(ValueError):
    """A query parameter is malformed or names something the dataset does not have."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


@dataclass(frozen=True)
class Filter:
    """One bound row condition: ``field op value``, the value already typed as the column (an array for ``in``)."""

    field: str
    op: str
    value: pa.Scalar | pa.Array

    def expression(self) -> pc.Expression:
        """The condition as a pyarrow compute expression; nulls never match (SQL semantics, also for ``ne``)."""
        column = pc.field(self.field)
        if self.op == "in":
            return column.isin(self.value)
        return _COMPARE[self.op](column, self.value)

    def canonical(self) -> list[Any]:
        """A JSON-ready form that is equal for equal conditions, whatever order an ``in`` list was given in."""
        if isinstance(self.value, pa.Array):
            items = sorted({json.dumps(v, default=str) for v in self.value.to_pylist()})
            return [self.field, self.op, items]
        return [self.field, self.op, json.dumps(self.value.as_py(), default=str)]


@dataclass(frozen=True)
class RowQuery:
    """A parsed row query: which columns, which rows, and which page of them."""

    fields: list[str] | None
    filters: list[Filter]
    limit: int
    offset: int

    def fingerprint(self) -> str:
        """SHA-256 of the canonical fields and filters: what a cursor must match to be used with this query."""
        canonical = {
            "fields": sorted(self.fields) if self.fields is not None else None,
            "filters": sorted(f.canonical() for f in self.filters),
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


QueryParams = Mapping[str, Any] | Iterable[tuple[str, str]]


def parse_query(params: QueryParams, schema: pa.Schema, version_tag: str) -> RowQuery:
    """Parse row-query parameters against the version's schema; raise QueryError naming the offending parameter."""
    fields: list[str] | None = None
    filters: list[Filter] = []
    limit_text: str | None = None
    cursor_text: str | None = None
    for key, raw in _pairs(params):
        if key == "fields":
            fields = [*(fields or []), *_parse_fields(raw, schema)]
        elif key == "limit":
            limit_text = _single(key, limit_text, raw)
        elif key == "cursor":
            cursor_text = _single(key, cursor_text, raw)
        elif key not in RESERVED:
            filters.append(_parse_filter(key, raw, schema))
    if fields is not None:
        fields = list(dict.fromkeys(fields))
    query = RowQuery(fields=fields, filters=filters, limit=_parse_limit(limit_text), offset=0)
    if cursor_text is None:
        return query
    offset = decode_cursor(cursor_text, version_tag, query.fingerprint())
    return RowQuery(fields=fields, filters=filters, limit=query.limit, offset=offset)


def run_query(table: pa.Table, query: RowQuery, version_tag: str) -> tuple[pa.Table, str | None]:
    """One page of the matching rows, in table order, and the cursor of the next page (None on the last)."""
    source = table.select(query.fields) if query.fields is not None else table
    if query.filters:
        matching = matching_rows(table, query.filters)
        total = len(matching)
        page = source.take(matching.slice(query.offset, query.limit))
    else:
        total = table.num_rows
        page = source.slice(query.offset, query.limit)
    end = query.offset + page.num_rows
    if end >= total:
        return page, None
    return page, encode_cursor(version_tag, end, query.fingerprint())


def matching_rows(table: pa.Table, filters: list[Filter]) -> pa.Array:
    """Indices, in table order, of the rows where every filter holds.

    The combined expression is evaluated over the filtered columns only, and just one page is then taken: about twice
    as fast as ``Table.filter`` followed by a slice, which copies every matching row of every column.
    """
    condition = reduce(operator.and_, (f.expression() for f in filters))
    columns = table.select(list(dict.fromkeys(f.field for f in filters)))
    plan = acero.Declaration.from_sequence(
        [
            acero.Declaration("table_source", acero.TableSourceNodeOptions(columns)),
            acero.Declaration("project", acero.ProjectNodeOptions([condition], ["match"])),
        ]
    )
    # Acero keeps a table source's row order in the result (Arrow >= 12), so the indices come out ascending.
    return pc.indices_nonzero(plan.to_table().column(0))


def encode_cursor(version_tag: str, offset: int, fingerprint: str) -> str:
    """The opaque cursor: base64url (unpadded) of JSON naming the version, the offset and the query fingerprint."""
    body = json.dumps({"v": version_tag, "o": offset, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, version_tag: str, fingerprint: str) -> int:
    """The offset a cursor carries, once it is shown to belong to this version and these fields and filters."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        body = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise QueryError("cursor", "malformed cursor; use the cursor returned with the previous page") from None
    if not isinstance(body, dict) or set(body) != {"v", "o", "q"}:
        raise QueryError("cursor", "malformed cursor; use the cursor returned with the previous page")
    offset = body["o"]
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise QueryError("cursor", "malformed cursor: its offset is not a non-negative integer")
    if body["v"] != version_tag:
        raise QueryError("cursor", "this cursor does not belong to this query: it was issued for another version")
    if body["q"] != fingerprint:
        raise QueryError("cursor", "this cursor does not belong to this query: it was issued for other fields/filters")
    return offset


def _pairs(params: QueryParams) -> list[tuple[str, str]]:
    """Flatten a mapping of lists, a multidict, or a list of pairs into (key, value) pairs."""
    multi_items = getattr(params, "multi_items", None)
    if callable(multi_items):
        return [(str(k), str(v)) for k, v in multi_items()]
    if not isinstance(params, Mapping):
        return [(str(k), str(v)) for k, v in params]
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = [value] if isinstance(value, str) else list(value)
        pairs.extend((str(key), str(v)) for v in values)
    return pairs


def _single(key: str, current: str | None, raw: str) -> str:
    if current is not None:
        raise QueryError(key, "given more than once")
    return raw


def _parse_fields(raw: str, schema: pa.Schema) -> list[str]:
    names = [name.strip() for name in raw.split(",")]
    for name in names:
        if not name:
            raise QueryError("fields", f"{raw!r} has an empty field name; list column names separated by commas")
        if schema.get_field_index(name) < 0:
            raise QueryError("fields", f"{name!r} is not a column of this dataset")
    return names


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not _INTEGER.match(raw):
        raise QueryError("limit", f"{raw!r} is not an integer")
    limit = int(raw)
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError("limit", f"must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def _parse_filter(key: str, raw: str, schema: pa.Schema) -> Filter:
    """``name=value`` (eq) or ``name[op]=value``; a key that is itself a column name is always an eq filter."""
    name, op = key, "eq"
    if schema.get_field_index(key) < 0:
        match = _FILTER_KEY.match(key)
        if match is None:
            raise QueryError(key, f"{key!r} is not a column of this dataset")
        name, op = match["name"], match["op"]
        if schema.get_field_index(name) < 0:
            raise QueryError(key, f"{name!r} is not a column of this dataset")
        if op not in OPERATORS:
            raise QueryError(key, f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    arrow_type = schema.field(name).type
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type  # compared by value; Arrow decodes the column for the comparison
    if op == "in":
        return Filter(name, op, pa.array([_convert(key, item, arrow_type) for item in raw.split(",")], arrow_type))
    return Filter(name, op, pa.scalar(_convert(key, raw, arrow_type), arrow_type))


def _convert(key: str, raw: str, arrow_type: pa.DataType) -> Any:
    """Convert one parameter value to the Python value of the column's type, checking it fits that type."""
    for accepts, parse, description in _CONVERTERS:
        if accepts(arrow_type):
            try:
                value = parse(raw)
            except ValueError:
                raise QueryError(key, f"{raw!r} is not {description}") from None
            _check_fits(key, raw, value, arrow_type)
            return value
    raise QueryError(key, f"columns of type {arrow_type} cannot be filtered")


def _check_fits(key: str, raw: str, value: Any, value_type: pa.DataType) -> None:
    if pa.types.is_timestamp(value_type):
        if value.microsecond % _MICROSECOND_STEP[value_type.unit]:
            raise QueryError(key, f"{raw!r} is more precise than the column's unit ({value_type.unit})")
        return
    try:
        pa.scalar(value, value_type)
    except (pa.ArrowInvalid, OverflowError):
        raise QueryError(key, f"{raw!r} does not fit a column of type {value_type}") from None


def _parse_integer(raw: str) -> int:
    if not _INTEGER.match(raw):
        raise ValueError(raw)
    return int(raw)


def _parse_number(raw: str) -> float:
    if not _NUMBER.match(raw):
        raise ValueError(raw)
    return float(raw)


def _parse_decimal(raw: str) -> Decimal:
    if not _NUMBER.match(raw):
        raise ValueError(raw)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise ValueError(raw) from None


def _parse_boolean(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ValueError(raw) from None


def _parse_timestamp(raw: str) -> datetime:
    """ISO 8601 with or without an offset; without one it is UTC. Returned as a naive UTC datetime."""
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type)
    )


_CONVERTERS: tuple[tuple[Callable[[pa.DataType], bool], Callable[[str], Any], str], ...] = (
    (pa.types.is_boolean, _parse_boolean, "a boolean (true, false, 1 or 0)"),
    (pa.types.is_integer, _parse_integer, "an integer"),
    (pa.types.is_floating, _parse_number, "a number"),
    (pa.types.is_decimal, _parse_decimal, "a decimal number"),
    (pa.types.is_date, date.fromisoformat, "an ISO 8601 date (YYYY-MM-DD)"),
    (pa.types.is_timestamp, _parse_timestamp, "an ISO 8601 timestamp"),
    (_is_text, str, "text"),
)
