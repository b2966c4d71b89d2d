"""Reading landed values as a contract's types, column by column, without raising on a bad value.

A column is trimmed, blanks become nulls (except for string fields), and it is cast with Arrow's own parsers. When
a cast fails, the values it cannot read are found vectorized (a regular expression splits likely from unlikely
values, then failing slices are halved until the culprits are found) and come back as a mask, so the caller can
reject those rows. What counts as readable is what Arrow's cast accepts, plus yes/no for booleans and naive
timestamps read as UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from domain.contracts.model import FieldSpec, ObjectSpec

UTC = pa.timestamp("us", tz="UTC")
NAIVE = pa.timestamp("us")
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": UTC,
}
"""Logical types with an Arrow type of their own; every other one (time, object, array, map, vector) is text."""

TRUE_WORDS = pa.array(["true", "1", "yes"])
FALSE_WORDS = pa.array(["false", "0", "no"])
PLAUSIBLE = {
    "integer": r"^-?\d+$",
    "number": r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$",
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "timestamp": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$",
}
"""What a readable value usually looks like: only a first split, Arrow's cast has the last word."""

WITH_OFFSET = r"[T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
OFFSET = re.compile(WITH_OFFSET)
LEAF = 16

Convert = Callable[[pa.Array], pa.Array]


@dataclass(frozen=True)
class Cast:
    """One column read as its contract type."""

    values: pa.Array
    """In the contract type; null where the value was missing or could not be read."""
    bad: pa.Array | None
    """True where a non-missing value could not be read; None when every value was read."""
    text: pa.Array | None
    """The trimmed text the values were read from (blanks kept as ""); None when the input was typed."""


def columns(obj: ObjectSpec) -> list[FieldSpec]:
    """The object's top-level fields, the only ones that are columns (nested ones are named ``a.b`` or ``a[].b``)."""
    return [f for f in obj["fields"] if "." not in f["name"] and "[]" not in f["name"]]


def arrow_type(field: FieldSpec) -> pa.DataType:
    """The Arrow type a field's values have in golden data points."""
    return ARROW_TYPES.get(field["logical_type"] or "string", pa.string())


def arrow_schema(obj: ObjectSpec) -> pa.Schema:
    """The GDP schema of a contract object: its top-level fields in contract order, all nullable, no metadata."""
    return pa.schema([pa.field(f["name"], arrow_type(f)) for f in columns(obj)])


def type_name(field: FieldSpec) -> str:
    """The logical type as users wrote it, for messages."""
    return field["logical_type"] or "string"


def cast_column(column: pa.Array, field: FieldSpec) -> Cast:
    """Reads one landed column as the field's type; text is trimmed and, for non-string fields, blank means null."""
    target = arrow_type(field)
    if _is_text(column.type):
        raw = column.cast(pa.string())
        if target != pa.string():
            try:  # the usual case, in one cast: Arrow's parsers refuse surrounding whitespace, so none is there
                return Cast(_converter(type_name(field))(_blank_to_null(raw)), None, raw)
            except pa.ArrowInvalid:  # slow when many values fail: hence blanks are nulled first
                pass
        text = pc.utf8_trim_whitespace(raw)
        if target == pa.string():
            return Cast(text, None, text)
        values, bad = parse_text(text, type_name(field))
        return Cast(values, bad, text)
    if column.type == target:
        return Cast(column, None, None)
    if target == pa.string():
        return Cast(to_text(column), None, None)
    try:
        values, bad = convert_or_locate(column, lambda a: pc.cast(a, target), None)
    except pa.ArrowNotImplementedError:  # no such cast (e.g. bool to date): read the values as text instead
        values, bad = parse_text(to_text(column), type_name(field))
    return Cast(values, bad, None)


def parse_text(text: pa.Array, logical: str) -> tuple[pa.Array, pa.Array | None]:
    """Values and unreadable-mask of trimmed text as a non-string logical type."""
    text = _blank_to_null(text)
    if logical == "boolean":
        return _booleans(text)
    return convert_or_locate(text, _converter(logical), PLAUSIBLE[logical])


def _converter(logical: str) -> Convert:
    """Arrow's reading of text as a logical type (for booleans only true/false/1/0: yes/no need ``_booleans``)."""
    target = ARROW_TYPES[logical]
    return _timestamps if target == UTC else lambda a: pc.cast(a, target)


def to_text(column: pa.Array) -> pa.Array:
    """Any column as strings: Arrow's cast where it has one, JSON text for nested values."""
    if _is_text(column.type):
        return column.cast(pa.string())
    if pa.types.is_nested(column.type):
        dumped = [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in column.to_pylist()]
        return pa.array(dumped, pa.string())
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowNotImplementedError:
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def convert_or_locate(values: pa.Array, convert: Convert, plausible: str | None) -> tuple[pa.Array, pa.Array | None]:
    """``convert(values)``, or, when it fails, the values it cannot read as a mask and the rest converted."""
    try:
        return convert(values), None
    except pa.ArrowInvalid:
        pass
    failing = _locate(values, convert, plausible)
    bad = pc.is_in(positions(len(values)), value_set=pa.array(failing, pa.int64()))
    return convert(pc.if_else(bad, pa.scalar(None, values.type), values)), bad


def positions(count: int, start: int = 0) -> pa.Array:
    """The int64 array ``start, start + 1, ..., start + count - 1``, built without a Python loop."""
    if count == 0:
        return pa.array([], pa.int64())
    return pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count)), start - 1)


def _locate(values: pa.Array, convert: Convert, plausible: str | None) -> list[int]:
    if plausible is None:
        return _failing(values, convert)
    likely = pc.fill_null(pc.match_substring_regex(values, plausible), True)
    found: list[int] = []
    for group in (likely, pc.invert(likely)):
        where = pc.indices_nonzero(group)
        found += [where[i].as_py() for i in _failing(values.take(where), convert)]
    return sorted(found)


def _failing(values: pa.Array, convert: Convert) -> list[int]:
    """Positions ``convert`` cannot read, found by halving failing slices (few casts when few values are bad)."""
    try:
        convert(values)
        return []
    except pa.ArrowInvalid:
        pass
    if len(values) <= LEAF:
        return [i for i in range(len(values)) if not _reads(values.slice(i, 1), convert)]
    half = len(values) // 2
    return _failing(values.slice(0, half), convert) + [half + i for i in _failing(values.slice(half), convert)]


def _reads(value: pa.Array, convert: Convert) -> bool:
    try:
        convert(value)
    except pa.ArrowInvalid:
        return False
    return True


def _blank_to_null(text: pa.Array) -> pa.Array:
    blank = pc.equal(text, "")
    return pc.if_else(blank, pa.scalar(None, pa.string()), text) if pc.any(blank).as_py() else text


def _timestamps(text: pa.Array) -> pa.Array:
    """ISO 8601 text as UTC timestamps: offsets converted, naive values taken as UTC, date-only as midnight."""
    first = pc.index(pc.is_valid(text), True).as_py()
    aware = first >= 0 and OFFSET.search(str(text[first].as_py())) is not None
    # The kind of the first value is tried first: a cast failing on many values is slow.
    for read in (_aware, _naive) if aware else (_naive, _aware):
        try:
            return read(text)
        except pa.ArrowInvalid:
            pass
    offset = pc.fill_null(pc.match_substring_regex(text, WITH_OFFSET), False)
    none = pa.scalar(None, pa.string())
    return pc.coalesce(_aware(pc.if_else(offset, text, none)), _naive(pc.if_else(offset, none, text)))


def _aware(text: pa.Array) -> pa.Array:
    return pc.cast(text, UTC)


def _naive(text: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(text, NAIVE), UTC)


def _booleans(text: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """true/false/1/0/yes/no in any case; Arrow's cast reads all but yes/no, so it is tried first."""
    try:
        return pc.cast(text, pa.bool_()), None
    except pa.ArrowInvalid:
        pass
    lowered = pc.utf8_lower(text)
    true, false = pc.is_in(lowered, value_set=TRUE_WORDS), pc.is_in(lowered, value_set=FALSE_WORDS)
    known = pc.or_(true, false)
    values = pc.if_else(known, true, pa.scalar(None, pa.bool_()))
    bad = pc.and_(pc.is_valid(text), pc.invert(known))
    return values, bad if pc.any(bad).as_py() else None


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_text(kind.value_type)
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def value_set(candidates: list[Any], field: FieldSpec) -> pa.Array:
    """The candidates read as values of the field, the way its data is read; those that cannot be are left out."""
    kept = []
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            read = cast_column(pa.array([candidate]), field)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. a list or a mapping as a candidate
            continue
        if read.bad is None and read.values.is_valid().to_pylist() == [True]:
            kept.append(read.values)
    return pa.concat_arrays(kept) if kept else pa.array([], arrow_type(field))
