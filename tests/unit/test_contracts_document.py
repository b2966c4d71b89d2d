"""Reading ODCS documents into the registry's typed form: fields, keys, quality rules, KPIs, and refusals."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from domain.contracts import (
    MAX_DOCUMENT_BYTES,
    ContractInvalidError,
    ContractTooLargeError,
    canonical_json,
    read_contract,
)
from domain.contracts.quality import OPERATORS


def orders(*kpis: dict[str, Any], **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "orders",
        "version": "1.0.0",
        "schema": [
            {
                "name": "orders",
                "properties": [
                    {"name": "order_id", "logicalType": "string", "primaryKey": True, "primaryKeyPosition": 2},
                    {"name": "shop", "logicalType": "string", "primaryKey": True, "primaryKeyPosition": 1},
                    {"name": "country", "logicalType": "string", "classification": "public"},
                    {"name": "status", "logicalType": "string"},
                    {"name": "amount", "logicalType": "number", "physicalType": "decimal(12,2)", "required": True},
                    {"name": "paid", "logicalType": "number"},
                    {"name": "ordered_at", "logicalType": "timestamp"},
                    {"name": "ordered_on", "logicalType": "date"},
                    {
                        "name": "lines",
                        "logicalType": "array",
                        "items": {
                            "logicalType": "object",
                            "properties": [{"name": "sku", "logicalType": "string", "unique": True}],
                        },
                    },
                ],
                "customProperties": [{"property": "kpis", "value": list(kpis)}] if kpis else [],
            }
        ],
    }
    return doc | top


REVENUE = {
    "name": "daily_revenue",
    "aggregation": "sum",
    "measure": "amount",
    "dimensions": ["country"],
    "timeField": "ordered_at",
    "timeGrain": "day",
    "filters": [{"field": "status", "operator": "in", "value": ["paid", "shipped"]}],
    "target": {"value": 10000},
}


def refused(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ContractInvalidError) as error:
        read_contract(doc)
    return error.value.issues


def pointers(doc: dict[str, Any]) -> list[str]:
    return [where for where, _ in refused(doc)]


KPI = "/schema/0/customProperties/0/value/0"


# --- fields and keys ------------------------------------------------------------------------------------------


def test_fields_keep_their_types_flags_and_classification_nested_ones_by_path() -> None:
    [obj] = read_contract(orders()).spec["objects"]
    fields = {f["name"]: f for f in obj["fields"]}
    assert list(fields)[-3:] == ["lines", "lines[]", "lines[].sku"]
    assert fields["amount"] == {
        "name": "amount",
        "logical_type": "number",
        "physical_type": "decimal(12,2)",
        "required": True,
        "unique": False,
        "primary_key": False,
        "classification": None,
        "options": {},
    }
    assert fields["country"]["classification"] == "public"
    assert fields["lines[].sku"]["unique"] is True
    assert obj["primary_key"] == ["shop", "order_id"]


def test_the_normalized_document_and_its_sha256_do_not_depend_on_key_order() -> None:
    doc = orders()
    shuffled = dict(reversed(list(copy.deepcopy(doc).items())))
    first, second = read_contract(doc), read_contract(shuffled)
    assert first.sha256 == second.sha256
    assert first.document == doc
    assert (first.key, first.version) == ("orders", "1.0.0")


@pytest.mark.parametrize("logical", ["decimal", "String", "uuid"])
def test_unknown_logical_types_are_refused_at_their_pointer(logical: str) -> None:
    doc = orders()
    doc["schema"][0]["properties"][2]["logicalType"] = logical
    doc["schema"][0]["properties"][8]["items"]["properties"][0]["logicalType"] = logical
    assert pointers(doc) == [
        "/schema/0/properties/2/logicalType",
        "/schema/0/properties/8/items/properties/0/logicalType",
    ]


@pytest.mark.parametrize(
    ("top", "pointer"),
    [
        ({"apiVersion": "v2.2.2"}, "/apiVersion"),
        ({"kind": "DataProduct"}, "/kind"),
        ({"id": "has spaces"}, "/id"),
        ({"version": "one"}, "/version"),
    ],
)
def test_the_registry_takes_v3_contracts_with_a_usable_id_and_a_semantic_version(top: dict, pointer: str) -> None:
    assert pointers(orders(**top)) == [pointer]


def test_duplicate_object_and_field_names_are_refused() -> None:
    doc = orders()
    doc["schema"][0]["properties"].append({"name": "amount", "logicalType": "integer"})
    doc["schema"].append({"name": "orders"})
    assert pointers(doc) == ["/schema/0/properties/9/name", "/schema/1/name"]


def test_a_contract_over_the_size_limit_is_refused_as_a_whole() -> None:
    big = orders(description={"purpose": "x" * MAX_DOCUMENT_BYTES})
    with pytest.raises(ContractTooLargeError, match="limit"):
        read_contract(big)


def test_a_contract_of_a_wide_schema_is_read_whole_since_its_typed_form_is_stored_apart() -> None:
    many = orders()
    many["schema"][0]["properties"] = [{"name": f"f{i}", "logicalType": "string"} for i in range(2500)]
    assert len(canonical_json(many)) < MAX_DOCUMENT_BYTES

    contract = read_contract(many)

    assert len(contract.spec["objects"][0]["fields"]) == 2500
    assert len(canonical_json(contract.spec)) > 256 * 1024  # more than one event could carry


def test_the_size_limit_is_the_callers() -> None:
    document = orders(description={"purpose": "x" * 2000})
    assert read_contract(document, max_bytes=4000).key == "orders"
    with pytest.raises(ContractTooLargeError, match="the limit is 1000"):
        read_contract(document, max_bytes=1000)


# --- quality rules ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("mustBe", 0),
        ("mustNotBe", 3),
        ("mustBeGreaterThan", 100),
        ("mustBeGreaterOrEqualTo", 1),
        ("mustBeLessThan", 5),
        ("mustBeLessOrEqualTo", 2.5),
        ("mustBeBetween", [1, 10]),
        ("mustNotBeBetween", [0, 0.5]),
    ],
)
def test_library_rules_become_typed_rules_with_one_operator(operator: str, value: Any) -> None:
    doc = orders()
    rule = {"metric": "rowCount", operator: value, "unit": "rows", "severity": "error"}
    doc["schema"][0]["quality"] = [rule]
    [typed] = read_contract(doc).spec["quality"]
    assert (typed["type"], typed["metric"], typed["operator"], typed["value"]) == (
        "library",
        "rowCount",
        operator,
        value,
    )
    assert (typed["object"], typed["field"], typed["key"], typed["unit"]) == ("orders", None, "orders:rowCount", "rows")
    assert operator in OPERATORS


def test_each_library_metric_is_read_on_fields_and_duplicates_get_distinct_keys() -> None:
    doc = orders()
    metrics = ["nullValues", "missingValues", "invalidValues", "duplicateValues", "nullValues"]
    doc["schema"][0]["properties"][3]["quality"] = [{"metric": m, "mustBe": 0} for m in metrics]
    keys = [r["key"] for r in read_contract(doc).spec["quality"]]
    assert keys == [f"orders.status:{m}" for m in metrics[:4]] + ["orders.status:nullValues#2"]


@pytest.mark.parametrize(
    ("rule", "pointer"),
    [
        ({"metric": "rowCounts", "mustBe": 1}, "/schema/0/quality/0/metric"),
        ({"metric": "rowCount"}, "/schema/0/quality/0"),
        ({"metric": "rowCount", "mustBe": 1, "mustBeLessThan": 4}, "/schema/0/quality/0"),
        ({"metric": "rowCount", "mustBeBetween": [10, 1]}, "/schema/0/quality/0/mustBeBetween"),
        ({"metric": "rowCount", "mustBeGreaterThan": "ten"}, "/schema/0/quality/0/mustBeGreaterThan"),
        ({"type": "magic"}, "/schema/0/quality/0/type"),
    ],
)
def test_malformed_quality_rules_are_refused_at_their_pointer(rule: dict, pointer: str) -> None:
    doc = orders()
    doc["schema"][0]["quality"] = [rule]
    assert pointers(doc) == [pointer]


# --- KPIs ------------------------------------------------------------------------------------------------------


def test_a_kpi_is_read_into_its_typed_form() -> None:
    [kpi] = read_contract(orders(REVENUE)).spec["kpis"]
    assert kpi == {
        "name": "daily_revenue",
        "object": "orders",
        "description": None,
        "aggregation": "sum",
        "measure": "amount",
        "numerator": None,
        "denominator": None,
        "dimensions": ["country"],
        "time_field": "ordered_at",
        "time_grain": "day",
        "filters": [{"field": "status", "operator": "in", "value": ["paid", "shipped"]}],
        "target": {"value": 10000, "direction": "at_least"},
    }


@pytest.mark.parametrize(
    "kpi",
    [
        {"name": "orders_per_week", "aggregation": "count", "timeField": "ordered_at", "timeGrain": "week"},
        {
            "name": "shops",
            "aggregation": "count_distinct",
            "measure": "shop",
            "timeField": "ordered_at",
            "timeGrain": "month",
        },
        {
            "name": "latest",
            "aggregation": "max",
            "measure": "ordered_on",
            "timeField": "ordered_at",
            "timeGrain": "day",
        },
        {
            "name": "avg_basket",
            "aggregation": "avg",
            "measure": "amount",
            "timeField": "ordered_at",
            "timeGrain": "day",
            "target": {"value": 50, "direction": "at_most"},
        },
        {
            "name": "paid_share",
            "aggregation": "ratio",
            "numerator": "paid",
            "denominator": "amount",
            "timeField": "ordered_at",
            "timeGrain": "month",
            "filters": [{"field": "amount", "operator": "gt", "value": 0}],
        },
    ],
    ids=["count-rows", "count-distinct", "max-date", "avg-with-target", "ratio"],
)
def test_every_aggregation_is_accepted_with_fitting_fields(kpi: dict) -> None:
    [typed] = read_contract(orders(kpi)).spec["kpis"]
    assert typed["aggregation"] == kpi["aggregation"]


def test_kpis_declared_at_the_contract_level_name_their_object_or_use_the_only_one() -> None:
    doc = orders(customProperties=[{"property": "kpis", "value": [REVENUE]}])
    assert read_contract(doc).spec["kpis"][0]["object"] == "orders"
    doc["schema"].append({"name": "refunds", "properties": [{"name": "amount", "logicalType": "number"}]})
    assert pointers(doc) == ["/customProperties/0/value/0"]
    doc["customProperties"][0]["value"][0] = REVENUE | {"object": "orders"}
    assert read_contract(doc).spec["kpis"][0]["object"] == "orders"


BAD_KPIS = [
    ("missing measure field", {"measure": "revenue"}, "/measure"),
    ("text measure summed", {"measure": "country"}, "/measure"),
    ("missing time field", {"timeField": "created_at"}, "/timeField"),
    ("date as time field", {"timeField": "ordered_on"}, "/timeField"),
    ("text as time field", {"timeField": "status"}, "/timeField"),
    ("missing dimension", {"dimensions": ["region"]}, "/dimensions/0"),
    ("array dimension", {"dimensions": ["lines"]}, "/dimensions/0"),
    ("missing filter field", {"filters": [{"field": "channel", "operator": "eq", "value": "web"}]}, "/filters/0/field"),
    (
        "unknown filter operator",
        {"filters": [{"field": "status", "operator": "like", "value": "p%"}]},
        "/filters/0/operator",
    ),
    ("in without a list", {"filters": [{"field": "status", "operator": "in", "value": "paid"}]}, "/filters/0/value"),
    ("unknown aggregation", {"aggregation": "median"}, "/aggregation"),
    ("unknown time grain", {"timeGrain": "hour"}, "/timeGrain"),
    ("target without number", {"target": {"value": "lots"}}, "/target/value"),
    ("unknown direction", {"target": {"value": 1, "direction": "up"}}, "/target/direction"),
    ("unknown key", {"window": 7}, "/window"),
    ("bad name", {"name": "Daily Revenue"}, "/name"),
    ("ratio with measure", {"aggregation": "ratio", "numerator": "paid", "denominator": "amount"}, "/measure"),
    (
        "ratio of text",
        {"aggregation": "ratio", "numerator": "status", "denominator": "amount", "measure": None},
        "/numerator",
    ),
    ("other object", {"object": "refunds"}, "/object"),
]


@pytest.mark.parametrize(("change", "pointer"), [(c, p) for _, c, p in BAD_KPIS], ids=[n for n, _, _ in BAD_KPIS])
def test_bad_kpi_definitions_are_refused_at_the_offending_value(change: dict, pointer: str) -> None:
    kpi = {k: v for k, v in (REVENUE | change).items() if v is not None}
    assert pointers(orders(kpi)) == [KPI + pointer]


def test_kpi_names_are_unique_and_kpis_are_a_list() -> None:
    assert pointers(orders(REVENUE, REVENUE)) == ["/schema/0/customProperties/0/value/1/name"]
    doc = orders()
    doc["schema"][0]["customProperties"] = [{"property": "kpis", "value": REVENUE}]
    assert pointers(doc) == ["/schema/0/customProperties/0/value"]
