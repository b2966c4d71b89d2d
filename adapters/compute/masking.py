"""Masking of personal data: classified columns become keyed hashes that still join and count, but cannot be read.

A masked value is ``"masked:"`` and the first 16 hex digits of HMAC-SHA256(tenant salt, ``str(value)``): equal
values stay equal within a tenant (same salt), differ across tenants, and nulls stay null. Only the distinct values
of a column are hashed in Python; the rows get theirs back through a vectorized lookup.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from domain.contracts.model import ObjectSpec

PERSONAL_CLASSIFICATIONS = frozenset(
    {"pii", "personal", "personal-data", "personal_data", "sensitive", "restricted", "confidential"}
)
PREFIX = "masked:"
HEX_DIGITS = 16


def personal_fields(obj: ObjectSpec) -> list[str]:
    """The object's top-level columns that hold personal data, in field order.

    A top-level field counts when its classification (case-insensitive) is personal, and so does the top-level
    column of a nested field that is (``address`` for ``address.city``, ``lines`` for ``lines[].email``): nested
    values are stored inside their top-level column, so that column must be masked as a whole.
    """
    found: list[str] = []
    for field in obj["fields"]:
        if (field["classification"] or "").strip().lower() in PERSONAL_CLASSIFICATIONS:
            column = top_level(field["name"])
            found += [] if column in found else [column]
    return found


def top_level(path: str) -> str:
    """The top-level field of a field path: ``address.city`` -> ``address``, ``lines[].sku`` -> ``lines``."""
    return path.split(".", 1)[0].split("[", 1)[0]


def mask(table: pa.Table, fields: Sequence[str], salt: bytes) -> pa.Table:
    """The table with each listed column that it has replaced by its masked form (a string column).

    Columns not listed are untouched; listed names the table lacks are ignored. The salt must not be empty.
    """
    if not salt:
        msg = "masking needs a non-empty salt (one per tenant)"
        raise ValueError(msg)
    wanted = set(fields)
    for index, field in enumerate(table.schema):
        if field.name in wanted:
            masked = mask_column(table.column(index), salt)
            table = table.set_column(index, pa.field(field.name, pa.string(), field.nullable), masked)
    return table


def mask_column(column: pa.ChunkedArray, salt: bytes) -> pa.ChunkedArray:
    """Each non-null value replaced by its masked string; the hashing runs once per distinct value."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    distinct = pc.unique(column).drop_null()
    digests = pa.array([masked_value(value, salt) for value in distinct.to_pylist()], pa.string())
    return digests.take(pc.index_in(column, value_set=distinct))


def masked_value(value: object, salt: bytes) -> str:
    """The masked form of one (non-null) value."""
    digest = hmac.new(salt, str(value).encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_DIGITS]
