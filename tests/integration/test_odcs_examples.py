"""The ODCS adapter over the standard project's own example contracts, and over bad documents.

The examples are kept in ``tests/data/odcs-examples`` as published (Apache-2.0): see SOURCE.md and LICENSE there.
They are other people's contracts and are never edited to make a test pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adapters.contracts import DocumentSyntaxError, load_document, odcs_schema, read_odcs
from domain.contracts import ContractInvalidError, ParsedContract, read_contract
from tests.data import ODCS_EXAMPLES

EXAMPLES = ODCS_EXAMPLES
YAML = "application/yaml"


def example(name: str) -> ParsedContract:
    return read_contract(read_odcs((EXAMPLES / f"{name}.odcs.yaml").read_bytes(), YAML))


def fields(contract: ParsedContract, obj: int = 0) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in contract.spec["objects"][obj]["fields"]}


def test_the_examples_are_there() -> None:
    assert (EXAMPLES / "SOURCE.md").is_file(), f"the ODCS examples are missing from {EXAMPLES}"
    assert len(sorted(EXAMPLES.glob("*.odcs.yaml"))) == 12


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.odcs.yaml")), ids=lambda p: p.name.removesuffix(".odcs.yaml"))
def test_every_published_example_parses_validates_and_reads_as_json_too(path: Path) -> None:
    from_yaml = read_odcs(path.read_bytes(), YAML)
    from_json = read_odcs(json.dumps(from_yaml).encode(), "application/json")
    contract, again = read_contract(from_yaml), read_contract(from_json)
    assert contract.sha256 == again.sha256
    assert contract.document["kind"] == "DataContract"
    assert contract.document["apiVersion"].startswith("v3.")


def test_the_schema_is_the_standards_own() -> None:
    schema = odcs_schema()
    assert schema["title"] == "Open Data Contract Standard (ODCS)"
    assert "v3.0.2" in schema["properties"]["apiVersion"]["enum"]
    assert schema["$defs"]["DataQualityLibrary"]["properties"]["metric"]["enum"] == [
        "nullValues",
        "missingValues",
        "invalidValues",
        "duplicateValues",
        "rowCount",
    ]


def test_completeness_example_null_values_must_be_zero_on_the_primary_key() -> None:
    contract = example("quality-column-completeness")
    [rule] = contract.spec["quality"]
    assert (rule["object"], rule["field"], rule["type"]) == ("Air_Quality", "UniqueID", "library")
    assert (rule["metric"], rule["operator"], rule["value"]) == ("nullValues", "mustBe", 0)
    assert (rule["dimension"], rule["severity"]) == ("completeness", "error")
    assert contract.spec["objects"][0]["primary_key"] == ["UniqueID"]
    assert fields(contract)["UniqueID"]["physical_type"] == "int"


def test_validity_example_allows_at_most_five_percent_invalid_values() -> None:
    [rule] = example("quality-column-validity").spec["quality"]
    assert (rule["metric"], rule["operator"], rule["value"], rule["unit"]) == (
        "invalidValues",
        "mustBeLessOrEqualTo",
        5,
        "percent",
    )
    assert rule["arguments"] == {"validValues": ["", None, "n/a"]}


def test_accuracy_example_keeps_its_sql_check_and_operator() -> None:
    [rule] = example("quality-column-accuracy").spec["quality"]
    assert (rule["type"], rule["operator"], rule["value"]) == ("sql", "mustBe", 0)
    assert rule["details"]["query"].startswith("select count(*) from Air_Quality")


def test_custom_example_keeps_both_soda_checks_under_distinct_keys() -> None:
    rules = example("quality-column-custom").spec["quality"]
    assert [r["key"] for r in rules] == ["Air_Quality.UniqueID:custom", "Air_Quality.UniqueID:custom#2"]
    assert {r["details"]["engine"] for r in rules} == {"soda"}
    assert rules[1]["details"]["implementation"]["must_be_less_than"] == 1.0


def test_all_data_types_example_maps_each_logical_type_and_its_options() -> None:
    contract = example("data-types-all-data-types")
    types = {name: f["logical_type"] for name, f in fields(contract).items()}
    assert types == {
        "account_id": "string",
        "txn_ref_date": "date",
        "txn_timestamp": "timestamp",
        "txn_timestamp_tz": "timestamp",
        "txn_time": "time",
        "amount": "number",
        "age": "integer",
        "is_open": "boolean",
        "latest_txns": "array",
        "customer_details": "object",
    }
    assert fields(contract)["account_id"]["options"] == {"minLength": 11, "maxLength": 11, "pattern": "ACC[0-9]{8}"}
    assert contract.document["schema"][0]["properties"][1]["logicalTypeOptions"]["maximum"] == "2021-01-01"


def test_all_schema_types_example_has_three_objects_nested_fields_and_classifications() -> None:
    contract = example("schema-all-schema-types")
    assert [o["name"] for o in contract.spec["objects"]] == ["tbl", "AnObject", "AnotherObject"]
    assert contract.spec["objects"][0]["primary_key"] == ["rcvr_id"]
    assert fields(contract)["rcvr_id"]["classification"] == "restricted"
    assert fields(contract)["txn_ref_dt"]["classification"] == "public"
    assert list(fields(contract, 1)) == ["street_lines", "street_lines[]"]
    assert list(fields(contract, 2)) == ["x", "x[]", "x[].id", "x[].zip"]
    assert fields(contract, 2)["x[].zip"]["physical_type"] == "VARCHAR(15)"


def test_yaml_dates_stay_text_as_in_json() -> None:
    contract = example("fundamentals-table-column-description")
    assert contract.document["schema"][0]["properties"][0]["examples"] == ["2022-10-03", "2025-01-28"]


def test_kafka_example_is_contract_orders_at_0_0_1_with_three_required_fields() -> None:
    contract = example("schema-kafka-schema")
    assert (contract.key, contract.version, contract.name) == ("orders", "0.0.1", "Orders Event Stream")
    assert [(n, f["required"]) for n, f in fields(contract).items()] == [
        ("cust_id", True),
        ("prod_id", True),
        ("qty", True),
    ]
    assert contract.document["servers"][0]["type"] == "kafka"


def test_examples_without_schema_properties_still_read() -> None:
    server = example("server-kafka-server")
    assert (server.key, server.name, server.spec["objects"][0]["fields"]) == ("abc123", None, [])
    assert example("stakeholders-basic-four-dpo").spec["objects"] == []
    assert len(example("roles-service-and-operational-roles").document["roles"]) == 4
    assert example("schema-table-column").key == "53581432-6c55-4ba2-a65f-72344a91553b"


# --- bad documents ---------------------------------------------------------------------------------------------

GOOD = (EXAMPLES / "schema-kafka-schema.odcs.yaml").read_text() if EXAMPLES.is_dir() else ""


def violations(text: str, media_type: str = YAML) -> list[str]:
    with pytest.raises(ContractInvalidError) as refused:
        read_odcs(text.encode(), media_type)
    return [where for where, _ in refused.value.issues]


def test_schema_violations_name_each_offending_field() -> None:
    text = GOOD.replace("required: true      \n", "required: maybe\n", 1).replace(
        "kind: DataContract", "kind: Contract"
    )
    text += "\ncolour: red\n"
    assert violations(text) == ["/colour", "/kind", "/schema/0/properties/1/required"]


def test_unknown_logical_types_are_refused_by_the_standard_schema() -> None:
    text = GOOD.replace("logicalType: integer", "logicalType: decimal")
    assert violations(text) == ["/schema/0/properties/2/logicalType"]


def test_two_operators_on_one_rule_and_an_unknown_metric_are_pinned_to_the_rule() -> None:
    document = load_document(GOOD.encode(), YAML)
    document["schema"][0]["quality"] = [
        {"metric": "nullValues", "mustBe": 0, "mustBeLessThan": 1},
        {"metric": "rowCounts", "mustBe": 1},
    ]
    assert violations(json.dumps(document), "application/json") == ["/schema/0/quality/0", "/schema/0/quality/1/metric"]


def test_pointers_escape_slashes_and_tildes() -> None:
    document = load_document(GOOD.encode(), YAML) | {"a/b~c": 1}
    assert violations(json.dumps(document), "application/json") == ["/a~1b~0c"]


@pytest.mark.parametrize(
    ("body", "media_type"),
    [
        (b"kind: [DataContract", YAML),
        (b"a: &x [1]\nb: *x\n", YAML),
        (b"kind: DataContract\n---\nkind: DataContract\n", YAML),
        (b"- just\n- a list\n", YAML),
        (b"\xff\xfe", YAML),
        (b'{"kind": "DataContract",', "application/json"),
        (b"", "application/json"),
        (b"a: " + b"[" * 100_000 + b"]" * 100_000, YAML),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
    ],
    ids=[
        "unclosed",
        "alias",
        "two-documents",
        "not-a-mapping",
        "not-utf8",
        "malformed-json",
        "empty",
        "deep-yaml",
        "deep-json",
    ],
)
def test_what_does_not_parse_is_a_syntax_error(body: bytes, media_type: str) -> None:
    with pytest.raises(DocumentSyntaxError):
        load_document(body, media_type)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [(b"id: !!binary aGVsbG8=\n", "/id"), (b"version: .nan\n", "/version"), (b"1: one\n", "")],
    ids=["binary", "nan", "integer-key"],
)
def test_yaml_that_json_cannot_say_is_refused_where_it_is(body: bytes, pointer: str) -> None:
    with pytest.raises(ContractInvalidError) as refused:
        load_document(body, YAML)
    assert refused.value.issues[0][0] == pointer
