"""Library quality rules measured while a batch is normalized: each metric, each operator, units, severities, the
rules that are skipped, and the published ODCS examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters.compute.normalize import Normalized, RuleResult, normalize
from adapters.compute.quality import passes
from adapters.contracts import read_odcs
from domain.contracts import read_contract
from domain.contracts.model import FieldSpec, ObjectSpec, QualityRule
from tests.data import ODCS_EXAMPLES

EXAMPLES = ODCS_EXAMPLES


def field(name: str, logical: str = "string", required: bool = False) -> FieldSpec:
    return FieldSpec(
        name=name,
        logical_type=logical,
        physical_type=None,
        required=required,
        unique=False,
        primary_key=False,
        classification=None,
        options={},
    )


def spec(*fields: FieldSpec, key: list[str] | None = None) -> ObjectSpec:
    return ObjectSpec(name="orders", physical_name=None, physical_type=None, fields=list(fields), primary_key=key or [])


def rule(
    metric: str,
    operator: str = "mustBe",
    value: Any = 0,
    field: str | None = "v",
    unit: str | None = None,
    severity: str | None = None,
    arguments: dict[str, Any] | None = None,
    kind: str = "library",
    obj: str = "orders",
) -> QualityRule:
    return QualityRule(
        key=f"{obj}{'.' + field if field else ''}:{metric}",
        object=obj,
        field=field,
        type=kind,
        metric=metric,
        operator=operator,
        value=value,
        unit=unit,
        arguments=arguments or {},
        severity=severity,
        dimension=None,
        description=None,
        details={},
    )


def text(**columns: list[str]) -> pa.RecordBatch:
    return pa.record_batch({name: pa.array(values, pa.string()) for name, values in columns.items()})


def evaluate(tmp_path: Path, obj: ObjectSpec, rules: list[QualityRule], *batches: pa.RecordBatch) -> Normalized:
    return normalize(iter(batches), obj, rules, tmp_path)


def measured(tmp_path: Path, obj: ObjectSpec, one: QualityRule, *batches: pa.RecordBatch) -> float:
    [result] = evaluate(tmp_path, obj, [one], *batches).quality
    return result.measured


# --- metrics


def test_null_values_count_nulls_after_the_cast_but_not_unreadable_values(tmp_path: Path) -> None:
    obj = spec(field("v", "integer"))

    assert measured(tmp_path, obj, rule("nullValues"), text(v=["1", "", " ", "x", "2"])) == 2


def test_a_blank_string_is_not_null_but_is_missing_by_default(tmp_path: Path) -> None:
    obj = spec(field("v"), field("other"))
    batch = text(v=["a", "", "b", "n/a"], other=["", "", "", ""])

    result = evaluate(tmp_path, obj, [rule("nullValues"), rule("missingValues")], batch)

    assert [r.measured for r in result.quality] == [0, 1]


def test_listed_missing_values_are_compared_with_the_text_read(tmp_path: Path) -> None:
    obj = spec(field("v", "integer"))
    listed = rule("missingValues", arguments={"missingValues": [None, "n/a", -1]})

    result = evaluate(tmp_path, obj, [listed], text(v=["1", "", "n/a", "-1", " -1 ", "2"]))

    assert result.quality[0].measured == 4
    assert result.rejected == 1  # "n/a" still cannot be read as an integer


def test_missing_values_of_typed_input_are_compared_as_values(tmp_path: Path) -> None:
    batch = pa.record_batch({"v": pa.array([1, -1, None, 3])})
    listed = rule("missingValues", arguments={"missingValues": ["-1"]})

    assert measured(tmp_path, spec(field("v", "integer")), listed, batch) == 2


def test_invalid_values_outside_the_valid_list_are_counted_and_their_rows_rejected(tmp_path: Path) -> None:
    obj = spec(field("id", "integer"), field("v"))
    valid = rule("invalidValues", arguments={"validValues": ["paid", "open"]}, severity="warning")

    result = evaluate(tmp_path, obj, [valid], text(id=["1", "2", "3", "4"], v=["paid", "lost", "", "open"]))

    assert result.quality[0].measured == 2
    assert pq.read_table(result.gdp_path).column("id").to_pylist() == [1, 4]
    reasons = pq.read_table(result.quarantine_path).column("_reason").to_pylist()
    assert reasons == ["v: 'lost' is not a valid value", "v: '' is not a valid value"]
    assert result.failures == []


def test_valid_values_of_a_typed_field_are_read_as_that_type_and_nulls_are_not_invalid(tmp_path: Path) -> None:
    valid = rule("invalidValues", arguments={"validValues": ["1", 2, "two"]})

    result = evaluate(tmp_path, spec(field("v", "number")), [valid], text(v=["1.0", "2", "", "3", "x"]))

    assert result.quality[0].measured == 2  # 3 is not listed, x cannot be read
    assert pq.read_table(result.gdp_path).column("v").to_pylist() == [1.0, 2.0, None]


def test_a_pattern_is_searched_for_in_the_text(tmp_path: Path) -> None:
    anchored = rule("invalidValues", arguments={"pattern": "^ACC[0-9]{8}$"})
    loose = rule("invalidValues", field="w", arguments={"pattern": "[0-9]{3}"})
    obj = spec(field("v"), field("w"))

    result = evaluate(tmp_path, obj, [anchored, loose], text(v=["ACC12345678", "xACC12345678", "ACC1"], w=["a123"] * 3))

    assert [r.measured for r in result.quality] == [2, 0]
    assert pq.read_table(result.gdp_path).column("v").to_pylist() == ["ACC12345678"]


def test_without_valid_values_invalid_values_counts_what_cannot_be_read(tmp_path: Path) -> None:
    obj = spec(field("v", "date"))

    assert measured(tmp_path, obj, rule("invalidValues"), text(v=["2024-01-01", "2024-13-01", "", "soon"])) == 2


def test_a_pattern_that_cannot_be_used_fails_the_batch_and_rejects_nothing(tmp_path: Path) -> None:
    broken = rule("invalidValues", operator="mustBeLessThan", value=100, arguments={"pattern": "(unclosed"})

    result = evaluate(tmp_path, spec(field("v")), [broken], text(v=["a"]))

    assert result.rejected == 0
    assert len(result.failures) == 1
    assert result.failures[0].startswith("orders.v:invalidValues: pattern '(unclosed' cannot be used")


def test_duplicate_values_are_rows_minus_distinct_values_before_deduplication(tmp_path: Path) -> None:
    obj = spec(field("id", "integer"), field("v"), key=["id"])
    duplicated = rule("duplicateValues", field="id")
    batches = [text(id=["1", "2", "1"], v=["a", "b", "a"]), text(id=["2", "1", "x"], v=["a", "", "b"])]

    result = evaluate(tmp_path, obj, [duplicated, rule("duplicateValues")], *batches)

    assert [r.measured for r in result.quality] == [3, 2]  # of the accepted: id 1 2 1 2 1, v a b a a ""
    assert (result.duplicates, result.rows_out, result.rejected) == (3, 2, 1)


def test_duplicate_values_over_several_properties_ignore_rows_with_a_null(tmp_path: Path) -> None:
    obj = spec(field("store"), field("day", "date"))
    pair = rule("duplicateValues", field=None, arguments={"properties": ["store", "day"]})
    batch = text(store=["A", "A", "A", "B", "A"], day=["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-01", ""])

    assert measured(tmp_path, obj, pair, batch) == 1


def test_row_count_is_the_rows_read(tmp_path: Path) -> None:
    counted = rule("rowCount", "mustBeGreaterThan", 0, field=None)

    [filled] = evaluate(tmp_path / "a", spec(field("v", "integer")), [counted], text(v=["1", "x", "2"])).quality
    [empty] = evaluate(tmp_path / "b", spec(field("v")), [counted]).quality

    assert (filled.measured, filled.passed) == (3, True)
    assert (empty.measured, empty.passed) == (0, False)


# --- units, operators, severities


def test_percent_rules_measure_a_share_of_the_rows_read(tmp_path: Path) -> None:
    share = rule("nullValues", "mustBeLessOrEqualTo", 20, unit="percent")
    also = rule("nullValues", "mustBeLessOrEqualTo", 20, unit="percentage")

    result = evaluate(tmp_path, spec(field("v", "integer")), [share, also], text(v=["1", "", "3", "x"]))

    assert [(r.measured, r.unit, r.passed) for r in result.quality] == [(25.0, "percent", False)] * 2
    assert result.failures[0] == "orders.v:nullValues: nullValues is 25%, must be less than or equal to 20%"


@pytest.mark.parametrize(
    ("operator", "expected", "passing", "breaching"),
    [
        ("mustBe", 2, 2, 3),
        ("mustNotBe", 0, 1, 0),
        ("mustBeGreaterThan", 5, 6, 5),
        ("mustBeGreaterOrEqualTo", 5, 5, 4.9),
        ("mustBeLessThan", 5, 4, 5),
        ("mustBeLessOrEqualTo", 5, 5, 5.1),
        ("mustBeBetween", [1, 3], 1, 3.5),
        ("mustNotBeBetween", [1, 3], 0.5, 3),
    ],
)
def test_each_operator_passes_and_breaches(operator: str, expected: Any, passing: float, breaching: float) -> None:
    assert passes(operator, passing, expected)
    assert not passes(operator, breaching, expected)


def test_an_operator_that_cannot_compare_its_value_fails() -> None:
    assert not passes("mustBeLessThan", 1, "five")
    assert not passes("mustBeBetween", 1, [1])
    assert not passes("noSuchOperator", 1, 1)


@pytest.mark.parametrize(
    ("operator", "value", "line"),
    [
        ("mustBe", 0, "orders.v:nullValues: nullValues is 2, must be 0"),
        ("mustNotBe", 2, "orders.v:nullValues: nullValues is 2, must be other than 2"),
        ("mustBeGreaterThan", 2, "orders.v:nullValues: nullValues is 2, must be greater than 2"),
        ("mustBeGreaterOrEqualTo", 3, "orders.v:nullValues: nullValues is 2, must be greater than or equal to 3"),
        ("mustBeLessThan", 1.5, "orders.v:nullValues: nullValues is 2, must be less than 1.5"),
        ("mustBeLessOrEqualTo", 1, "orders.v:nullValues: nullValues is 2, must be less than or equal to 1"),
        ("mustBeBetween", [0, 1], "orders.v:nullValues: nullValues is 2, must be between 0 and 1"),
        ("mustNotBeBetween", [1, 5], "orders.v:nullValues: nullValues is 2, must be not between 1 and 5"),
    ],
)
def test_a_breached_error_rule_fails_the_batch_with_one_line(
    tmp_path: Path, operator: str, value: Any, line: str
) -> None:
    result = evaluate(tmp_path, spec(field("v", "integer")), [rule("nullValues", operator, value)], text(v=["", ""]))

    assert result.failures == [line]
    assert result.quality[0].severity == "error"


def test_warnings_and_infos_are_recorded_without_failing_the_batch(tmp_path: Path) -> None:
    rules = [
        rule("nullValues", severity="warning"),
        rule("missingValues", severity="info"),
        rule("rowCount", "mustBeLessThan", 1, field=None, severity="error"),
    ]

    result = evaluate(tmp_path, spec(field("v", "integer")), rules, text(v=[""]))

    assert [(r.passed, r.severity) for r in result.quality] == [(False, "warning"), (False, "info"), (False, "error")]
    assert result.failures == ["orders:rowCount: rowCount is 1, must be less than 1"]


def test_a_passing_rule_is_reported_and_fails_nothing(tmp_path: Path) -> None:
    result = evaluate(tmp_path, spec(field("v", "integer")), [rule("nullValues")], text(v=["1", "2"]))

    [passed] = result.quality
    assert passed.to_json() == {
        "key": "orders.v:nullValues",
        "metric": "nullValues",
        "field": "v",
        "operator": "mustBe",
        "expected": 0,
        "measured": 0.0,
        "unit": "rows",
        "passed": True,
        "severity": "error",
    }
    assert result.failures == []


def test_only_measurable_library_rules_of_the_object_are_evaluated(tmp_path: Path) -> None:
    obj = spec(field("v", "integer"), field("address", "object"))
    skipped = [
        rule("nullValues", kind="sql"),
        rule("nullValues", obj="customers"),
        rule("nullValues", field="address.city"),
        rule("nullValues", field="nowhere"),
        rule("nullValues", field=None),
        rule("duplicateValues", field=None, arguments={"properties": ["v", "nowhere"]}),
        rule("duplicateValues", field=None),
    ]
    kept = rule("nullValues", "mustBeLessThan", 5)

    result = evaluate(tmp_path, obj, [*skipped, kept], text(v=[""]))

    assert [r.key for r in result.quality] == ["orders.v:nullValues"]


# --- the published examples


def example(name: str) -> tuple[ObjectSpec, list[QualityRule]]:
    contract = read_contract(read_odcs((EXAMPLES / f"{name}.odcs.yaml").read_bytes(), "application/yaml"))
    return contract.spec["objects"][0], contract.spec["quality"]


def test_completeness_example_null_unique_ids_fail_the_batch(tmp_path: Path) -> None:
    obj, rules = example("quality-column-completeness")

    clean = evaluate(tmp_path / "clean", obj, rules, text(UniqueID=["1", "2"]))
    holed = evaluate(tmp_path / "holed", obj, rules, text(UniqueID=["1", "", "3"]))

    assert clean.failures == []
    assert holed.failures == ["Air_Quality.UniqueID:nullValues: nullValues is 1, must be 0"]
    assert holed.rejected == 1  # UniqueID is the primary key


def test_validity_example_values_outside_the_list_are_a_share_of_the_rows(tmp_path: Path) -> None:
    obj, rules = example("quality-column-validity")
    statuses = ["", "n/a", "n/a", "good"] + [""] * 16

    result = evaluate(tmp_path, obj, rules, text(air_quality_status=statuses))

    assert [(r.measured, r.unit, r.passed) for r in result.quality] == [(5.0, "percent", True)]
    assert result.rejected == 1
    assert result.duplicates == 17  # the key column: "" 17 times, "n/a" twice


def test_results_are_typed_rule_results(tmp_path: Path) -> None:
    result = evaluate(tmp_path, spec(field("v")), [rule("rowCount", field=None, value=1)], text(v=["a"]))

    assert result.quality == [
        RuleResult("orders:rowCount", "rowCount", None, "mustBe", 1, 1.0, "rows", True, "error"),
    ]
