"""Changelogs between contract versions: every kind of breaking change, the harmless ones, and semver."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from domain.contracts import ContractInvalidError, changelog, read_contract
from domain.contracts.model import ContractSpec
from domain.contracts.semver import SemVer

Edit = Callable[[dict[str, Any]], None]


def base() -> dict[str, Any]:
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "orders",
        "version": "1.0.0",
        "schema": [
            {
                "name": "orders",
                "properties": [
                    {"name": "order_id", "logicalType": "string", "physicalType": "varchar(36)", "primaryKey": True},
                    {"name": "quantity", "logicalType": "integer", "required": True},
                    {"name": "code", "logicalType": "string", "logicalTypeOptions": {"maxLength": 10}},
                    {"name": "price", "logicalType": "number", "physicalType": "decimal(12,2)"},
                    {"name": "country", "logicalType": "string", "classification": "public"},
                    {"name": "ordered_on", "logicalType": "date"},
                    {
                        "name": "amount",
                        "logicalType": "number",
                        "quality": [{"metric": "invalidValues", "mustBeLessOrEqualTo": 5, "unit": "percent"}],
                    },
                ],
                "quality": [{"metric": "rowCount", "mustBeBetween": [10, 1000], "severity": "warning"}],
            },
            {"name": "returns", "properties": [{"name": "order_id", "logicalType": "string"}]},
        ],
    }


def spec(edit: Edit | None = None) -> ContractSpec:
    doc = copy.deepcopy(base())
    if edit:
        edit(doc)
    return read_contract(doc).spec


def prop(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in doc["schema"][0]["properties"] if p["name"] == name)


def kinds(edit: Edit) -> list[tuple[str, str, bool]]:
    return [(c["kind"], c["path"], c["breaking"]) for c in changelog(spec(), spec(edit))]


BREAKING: list[tuple[str, Edit, tuple[str, str]]] = [
    ("removed object", lambda d: d["schema"].pop(1), ("object-removed", "returns")),
    ("removed field", lambda d: d["schema"][0]["properties"].pop(5), ("field-removed", "orders.ordered_on")),
    (
        "narrowed logical type",
        lambda d: prop(d, "price").update(logicalType="integer"),
        ("type-narrowed", "orders.price"),
    ),
    ("retyped field", lambda d: prop(d, "country").update(logicalType="boolean"), ("type-narrowed", "orders.country")),
    (
        "shorter physical type",
        lambda d: prop(d, "order_id").update(physicalType="varchar(20)"),
        ("type-narrowed", "orders.order_id"),
    ),
    (
        "less decimal precision",
        lambda d: prop(d, "price").update(physicalType="DECIMAL(10, 2)"),
        ("type-narrowed", "orders.price"),
    ),
    (
        "tighter type options",
        lambda d: prop(d, "code").update(logicalTypeOptions={"maxLength": 8}),
        ("type-narrowed", "orders.code"),
    ),
    (
        "new pattern",
        lambda d: prop(d, "code")["logicalTypeOptions"].update(pattern="^[A-Z]+$"),
        ("type-narrowed", "orders.code"),
    ),
    (
        "newly required field",
        lambda d: prop(d, "country").update(required=True),
        ("field-now-required", "orders.country"),
    ),
    ("newly unique field", lambda d: prop(d, "country").update(unique=True), ("field-now-unique", "orders.country")),
    (
        "required field added",
        lambda d: d["schema"][0]["properties"].append({"name": "tax", "logicalType": "number", "required": True}),
        ("field-added", "orders.tax"),
    ),
    ("changed primary key", lambda d: prop(d, "country").update(primaryKey=True), ("primary-key-changed", "orders")),
    (
        "tightened threshold",
        lambda d: prop(d, "amount")["quality"][0].update(mustBeLessOrEqualTo=2),
        ("quality-rule-tightened", "orders.amount:invalidValues"),
    ),
    (
        "narrower range",
        lambda d: d["schema"][0]["quality"][0].update(mustBeBetween=[20, 1000]),
        ("quality-rule-tightened", "orders:rowCount"),
    ),
    (
        "stricter operator",
        lambda d: prop(d, "amount").update(
            quality=[{"metric": "invalidValues", "mustBeLessThan": 5, "unit": "percent"}]
        ),
        ("quality-rule-tightened", "orders.amount:invalidValues"),
    ),
    (
        "new library rule",
        lambda d: prop(d, "country").update(quality=[{"metric": "nullValues", "mustBe": 0}]),
        ("quality-rule-added", "orders.country:nullValues"),
    ),
    (
        "raised severity",
        lambda d: d["schema"][0]["quality"][0].update(severity="error"),
        ("quality-rule-tightened", "orders:rowCount"),
    ),
    (
        "other unit",
        lambda d: prop(d, "amount")["quality"][0].update(unit="rows"),
        ("quality-rule-changed", "orders.amount:invalidValues"),
    ),
]


@pytest.mark.parametrize(("edit", "expected"), [(e, x) for _, e, x in BREAKING], ids=[n for n, _, _ in BREAKING])
def test_each_kind_of_breaking_change_is_named_and_breaks(edit: Edit, expected: tuple[str, str]) -> None:
    assert (*expected, True) in kinds(edit)


HARMLESS: list[tuple[str, Edit, tuple[str, str]]] = [
    ("object added", lambda d: d["schema"].append({"name": "refunds"}), ("object-added", "refunds")),
    (
        "optional field added",
        lambda d: d["schema"][0]["properties"].append({"name": "note", "logicalType": "string"}),
        ("field-added", "orders.note"),
    ),
    (
        "integer to number",
        lambda d: prop(d, "quantity").update(logicalType="number"),
        ("type-widened", "orders.quantity"),
    ),
    (
        "date to timestamp",
        lambda d: prop(d, "ordered_on").update(logicalType="timestamp"),
        ("type-widened", "orders.ordered_on"),
    ),
    (
        "longer physical type",
        lambda d: prop(d, "order_id").update(physicalType="varchar(64)"),
        ("physical-type-changed", "orders.order_id"),
    ),
    (
        "looser type options",
        lambda d: prop(d, "code").update(logicalTypeOptions={"maxLength": 12}),
        ("type-options-changed", "orders.code"),
    ),
    (
        "no longer required",
        lambda d: prop(d, "quantity").update(required=False),
        ("field-no-longer-required", "orders.quantity"),
    ),
    (
        "reclassified",
        lambda d: prop(d, "country").update(classification="restricted"),
        ("classification-changed", "orders.country"),
    ),
    (
        "loosened threshold",
        lambda d: prop(d, "amount")["quality"][0].update(mustBeLessOrEqualTo=10),
        ("quality-rule-loosened", "orders.amount:invalidValues"),
    ),
    ("rule removed", lambda d: d["schema"][0].pop("quality"), ("quality-rule-removed", "orders:rowCount")),
    (
        "reworded rule",
        lambda d: d["schema"][0]["quality"][0].update(description="at least ten orders"),
        ("quality-rule-edited", "orders:rowCount"),
    ),
]


@pytest.mark.parametrize(("edit", "expected"), [(e, x) for _, e, x in HARMLESS], ids=[n for n, _, _ in HARMLESS])
def test_harmless_changes_are_listed_but_do_not_break(edit: Edit, expected: tuple[str, str]) -> None:
    found = kinds(edit)
    assert (*expected, False) in found
    assert not any(breaking for _, _, breaking in found), found


def test_no_change_means_an_empty_changelog() -> None:
    assert changelog(spec(), spec(lambda d: d.update(description={"purpose": "new words only"}))) == []


def test_kpi_changes_are_listed_without_breaking() -> None:
    kpi = {"name": "units", "aggregation": "sum", "measure": "quantity", "timeField": "ordered_at", "timeGrain": "day"}

    def with_kpi(doc: dict[str, Any]) -> None:
        doc["schema"][0]["properties"].append({"name": "ordered_at", "logicalType": "timestamp"})
        doc["schema"][0]["customProperties"] = [{"property": "kpis", "value": [kpi]}]

    def without_kpi(doc: dict[str, Any]) -> None:
        with_kpi(doc)
        doc["schema"][0].pop("customProperties")

    assert ("kpi-removed", "kpi:units", False) in [
        (c["kind"], c["path"], c["breaking"]) for c in changelog(spec(with_kpi), spec(without_kpi))
    ]


# --- semantic versions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ordered",
    [
        [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ],
        ["0.0.1", "0.1.0", "0.10.0", "1.0.0", "1.2.3", "10.0.0"],
    ],
)
def test_versions_order_as_semver_says(ordered: list[str]) -> None:
    parsed = [SemVer.parse(v) for v in ordered]
    shuffled = parsed[1::2] + parsed[::2]
    assert sorted(shuffled, key=SemVer.precedence) == parsed
    assert all(earlier < later for earlier, later in itertools.pairwise(parsed))
    assert [str(v) for v in parsed] == ordered


def test_build_metadata_does_not_count() -> None:
    assert SemVer.parse("1.0.0+a").same_precedence(SemVer.parse("1.0.0+b"))


@pytest.mark.parametrize("text", ["1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0.0", "", 1, None, "1." * 60 + "0"])
def test_what_is_not_a_semantic_version_is_refused_at_its_pointer(text: object) -> None:
    with pytest.raises(ContractInvalidError) as refused:
        SemVer.parse(text)
    assert refused.value.issues[0][0] == "/version"


@pytest.mark.parametrize(
    ("old", "new", "major"), [("1.4.2", "2.0.0", True), ("1.4.2", "1.5.0", False), ("0.9.0", "0.10.0", False)]
)
def test_a_major_bump_raises_the_first_number(old: str, new: str, major: bool) -> None:
    assert SemVer.parse(new).is_major_bump_over(SemVer.parse(old)) is major
