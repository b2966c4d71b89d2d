"""Masking personal data: which fields are personal, and keyed hashes that keep nulls and equality but not values."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from typing import Any

import pyarrow as pa
import pytest

from adapters.compute.masking import mask, masked_value, personal_fields, top_level
from domain.contracts.model import FieldSpec, ObjectSpec

SALT = b"tenant-a salt"


def field(name: str, classification: str | None) -> FieldSpec:
    return FieldSpec(
        name=name,
        logical_type="string",
        physical_type=None,
        required=False,
        unique=False,
        primary_key=False,
        classification=classification,
        options={},
    )


def customers(*fields: FieldSpec) -> ObjectSpec:
    return ObjectSpec(name="customers", physical_name=None, physical_type=None, fields=list(fields), primary_key=[])


def test_personal_fields_are_those_classified_personal_in_any_case_in_field_order() -> None:
    obj = customers(
        field("id", None),
        field("email", "PII"),
        field("country", "public"),
        field("name", " Personal-Data "),
        field("notes", "confidential"),
        field("segment", "internal"),
    )

    assert personal_fields(obj) == ["email", "name", "notes"]


def test_a_personal_nested_field_makes_its_top_level_column_personal() -> None:
    obj = customers(field("address", None), field("address.city", "sensitive"), field("lines[].email", "pii"))

    assert personal_fields(obj) == ["address", "lines"]
    assert (top_level("a.b.c"), top_level("lines[].sku"), top_level("id")) == ("a", "lines", "id")


def test_masked_values_are_a_prefix_and_16_hex_digits_of_hmac_sha256() -> None:
    expected = hmac.new(SALT, b"ada@example.org", hashlib.sha256).hexdigest()[:16]

    assert masked_value("ada@example.org", SALT) == f"masked:{expected}"
    assert masked_value(42, SALT) == masked_value("42", SALT)


def test_masking_keeps_nulls_and_equality_and_leaves_other_columns_alone() -> None:
    table = pa.table(
        {
            "email": pa.chunked_array([["a@x.org", None, "b@x.org"], ["a@x.org"]]),
            "age": pa.array([31, 31, None, 40], pa.int64()),
            "country": ["de", "fr", "de", "it"],
        }
    )

    masked = mask(table, ["email", "age", "missing"], SALT)
    emails, ages = masked["email"].to_pylist(), masked["age"].to_pylist()

    assert masked.schema.field("email").type == masked.schema.field("age").type == pa.string()
    assert emails == [masked_value("a@x.org", SALT), None, masked_value("b@x.org", SALT), emails[0]]
    assert emails[0] != emails[2]
    assert ages == [masked_value(31, SALT), ages[0], None, masked_value(40, SALT)]
    assert masked["country"].equals(table["country"])
    assert masked.column_names == table.column_names


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([1.5, float("nan"), 1.5], pa.float64()),
        ([True, False, True], pa.bool_()),
        ([date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 2)], pa.date32()),
    ],
)
def test_other_types_are_masked_as_strings_of_their_python_value(values: list[Any], kind: pa.DataType) -> None:
    masked = mask(pa.table({"v": pa.array(values, kind)}), ["v"], SALT)["v"].to_pylist()

    assert masked == [masked_value(v, SALT) for v in values]
    assert masked[0] == masked[2] != masked[1]


def test_dictionary_encoded_and_empty_columns_are_masked_too() -> None:
    table = pa.table({"name": pa.array(["ann", "bob", "ann", None]).dictionary_encode(), "none": pa.nulls(4)})

    masked = mask(table, ["name", "none"], SALT)

    ann, bob = masked_value("ann", SALT), masked_value("bob", SALT)
    assert masked["name"].to_pylist() == [ann, bob, ann, None]
    assert masked["none"].to_pylist() == [None] * 4
    assert mask(table.slice(0, 0), ["name"], SALT)["name"].type == pa.string()


def test_different_salts_give_different_masks_and_an_empty_salt_is_refused() -> None:
    table = pa.table({"email": ["a@x.org"]})

    assert mask(table, ["email"], SALT)["email"][0] != mask(table, ["email"], b"tenant-b salt")["email"][0]
    with pytest.raises(ValueError, match="non-empty salt"):
        mask(table, ["email"], b"")
