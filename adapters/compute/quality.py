"""Library quality rules measured on one batch while it is normalized, then judged against their operators.

Only library rules of the object whose field is one of its columns are evaluated (sql, custom and text checks are
for tools that run them). Counts are taken over every row read, on values after the cast, except duplicateValues,
which counts over the accepted rows before de-duplication. A rule in percent measures a share of the rows read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from adapters.compute.casting import Cast, columns, to_text, value_set
from adapters.compute.grouping import Pieces, distinct
from domain.contracts.model import FieldSpec, ObjectSpec, QualityRule
from domain.contracts.quality import LIBRARY_METRICS

PERCENT_UNITS = ("percent", "percentage")
FIELD_METRICS = ("nullValues", "missingValues", "invalidValues")
LENIENT = ("warning", "info")
"""Severities whose breach is recorded without failing the batch; any other (or none) fails it."""
WORDS = {
    "mustBe": "",
    "mustNotBe": "other than",
    "mustBeGreaterThan": "greater than",
    "mustBeGreaterOrEqualTo": "greater than or equal to",
    "mustBeLessThan": "less than",
    "mustBeLessOrEqualTo": "less than or equal to",
    "mustBeBetween": "between",
    "mustNotBeBetween": "not between",
}


@dataclass(frozen=True)
class RuleResult:
    """One evaluated library quality rule: what it measured and whether that passes."""

    key: str
    metric: str
    field: str | None
    operator: str
    expected: Any
    measured: float
    unit: str
    passed: bool
    severity: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def failure(self) -> str | None:
        """The line that fails the batch, when this rule is breached with severity error."""
        if self.passed or self.severity in LENIENT:
            return None
        words = WORDS.get(self.operator, self.operator)
        must = f"must be {words} {self._bound()}" if words else f"must be {self._bound()}"
        return f"{self.key}: {self.metric} is {self._amount(self.measured)}, {must}"

    def _bound(self) -> str:
        if self.operator in ("mustBeBetween", "mustNotBeBetween") and isinstance(self.expected, list | tuple):
            return " and ".join(self._amount(v) for v in self.expected)
        return self._amount(self.expected)

    def _amount(self, value: Any) -> str:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return json.dumps(value)
        text = str(int(value)) if math.isfinite(value) and float(value).is_integer() else f"{value:.6g}"
        return text + ("%" if self.unit == "percent" else "")


def evaluated_rules(rules: list[QualityRule], obj: ObjectSpec) -> list[QualityRule]:
    """The object's library rules that can be measured here (their field, or their properties, are columns)."""
    names = {f["name"] for f in columns(obj)}
    return [r for r in rules if r["object"] == obj["name"] and _measurable(r, names)]


def _measurable(rule: QualityRule, names: set[str]) -> bool:
    if rule["type"] != "library" or rule["metric"] not in LIBRARY_METRICS or rule["operator"] is None:
        return False
    if rule["field"] is not None:
        return rule["field"] in names
    if rule["metric"] == "duplicateValues":
        properties = rule["arguments"].get("properties")
        return isinstance(properties, list) and bool(properties) and all(p in names for p in properties)
    return rule["metric"] == "rowCount"


def passes(operator: str, measured: float, expected: Any) -> bool:
    """Whether a measured value satisfies the operator; a value the operator cannot compare with fails."""
    try:
        match operator:
            case "mustBe":
                return bool(measured == expected)
            case "mustNotBe":
                return bool(measured != expected)
            case "mustBeGreaterThan":
                return bool(measured > expected)
            case "mustBeGreaterOrEqualTo":
                return bool(measured >= expected)
            case "mustBeLessThan":
                return bool(measured < expected)
            case "mustBeLessOrEqualTo":
                return bool(measured <= expected)
            case "mustBeBetween":
                return bool(expected[0] <= measured <= expected[1])
            case "mustNotBeBetween":
                return not expected[0] <= measured <= expected[1]
    except (TypeError, IndexError, KeyError):
        pass
    return False


class ValidValues:
    """The values an invalidValues rule accepts (``validValues``, ``pattern`` or both); rows with others are
    rejected. A pattern is searched for (anchor it with ^ and $ to match whole values), in RE2 syntax."""

    def __init__(self, rule: QualityRule, field: FieldSpec) -> None:
        arguments = rule["arguments"]
        self.rule = rule
        listed = arguments.get("validValues")
        self.allowed = value_set(listed, field) if isinstance(listed, list) else None
        pattern = arguments.get("pattern")
        self.pattern = pattern if isinstance(pattern, str) else None
        self.problem: str | None = None
        if self.pattern is not None:
            try:
                pc.match_substring_regex(pa.array([""], pa.string()), self.pattern)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                self.problem = f"{rule['key']}: pattern {self.pattern!r} cannot be used: {error}"
                self.pattern = None

    def invalid(self, cast: Cast) -> pa.Array | None:
        """True where a present value is not a valid one; None when every present value is valid."""
        wrong: pa.Array | None = None
        if self.allowed is not None:
            wrong = pc.invert(pc.is_in(cast.values, value_set=self.allowed))
        if self.pattern is not None:
            text = cast.text if cast.text is not None else to_text(cast.values)
            unmatched = pc.invert(pc.match_substring_regex(text, self.pattern))
            wrong = unmatched if wrong is None else pc.or_(wrong, unmatched)
        if wrong is None:
            return None
        mask = pc.and_(pc.is_valid(cast.values), pc.fill_null(wrong, False))
        return mask if pc.any(mask).as_py() else None


class Meter:
    """Counts what each evaluated rule measures, batch after batch, and judges the counts at the end."""

    def __init__(self, rules: list[QualityRule], obj: ObjectSpec) -> None:
        self.rules = evaluated_rules(rules, obj)
        self.fields = {f["name"]: f for f in columns(obj)}
        self.counts = [0] * len(self.rules)
        self.checks = {n: ValidValues(r, self.fields[str(r["field"])]) for n, r in self._numbered("invalidValues")}
        self.distinct = {n: _properties(r) for n, r in self._numbered("duplicateValues")}
        self.missing = {n: _missing_values(r) for n, r in self._numbered("missingValues")}

    @property
    def problems(self) -> list[str]:
        """Why a rule could not be applied as written (a pattern that is not a usable regular expression)."""
        return [check.problem for check in self.checks.values() if check.problem]

    def observe(self, casts: Mapping[str, Cast]) -> list[tuple[str, pa.Array]]:
        """Counts one batch as read; returns (field, mask) of the values its rules find invalid, to reject."""
        invalid = {n: check.invalid(casts[str(self.rules[n]["field"])]) for n, check in self.checks.items()}
        for n, rule in enumerate(self.rules):
            cast = casts[str(rule["field"])] if rule["field"] is not None else None
            if cast is None or rule["metric"] not in FIELD_METRICS:
                continue
            match rule["metric"]:
                case "nullValues":
                    self.counts[n] += _true(_null(cast))
                case "missingValues":
                    self.counts[n] += _true(pc.or_(_null(cast), self._listed(n, cast)))
                case "invalidValues":
                    self.counts[n] += _true(_either(cast.bad, invalid.get(n)))
        return [(str(self.rules[n]["field"]), mask) for n, mask in invalid.items() if mask is not None]

    def measure_duplicates(self, pieces: Pieces, rows: int, scratch: Path) -> None:
        """Counts, for duplicateValues rules, the accepted rows (before de-duplication) minus distinct values."""
        for n, names in self.distinct.items():
            present, groups = distinct(pieces, names, rows, scratch)
            self.counts[n] = present - groups

    def results(self, rows_in: int) -> list[RuleResult]:
        """Every evaluated rule, measured and judged, in the order the contract lists them."""
        return [self._result(n, rows_in) for n in range(len(self.rules))]

    def _numbered(self, metric: str) -> list[tuple[int, QualityRule]]:
        return [(n, r) for n, r in enumerate(self.rules) if r["metric"] == metric]

    def _result(self, n: int, rows_in: int) -> RuleResult:
        rule, metric = self.rules[n], str(self.rules[n]["metric"])
        count = rows_in if metric == "rowCount" else self.counts[n]
        percent = rule["unit"] in PERCENT_UNITS
        measured = (100.0 * count / rows_in if rows_in else 0.0) if percent else float(count)
        operator = str(rule["operator"])
        return RuleResult(
            key=rule["key"],
            metric=metric,
            field=rule["field"],
            operator=operator,
            expected=rule["value"],
            measured=measured,
            unit="percent" if percent else "rows",
            passed=passes(operator, measured, rule["value"]),
            severity=rule["severity"] or "error",
        )

    def _listed(self, n: int, cast: Cast) -> pa.Array:
        """True where the value is one of the rule's missing values (compared as text when it was read from text)."""
        listed = self.missing[n]
        if cast.text is not None:
            return pc.fill_null(pc.is_in(cast.text, value_set=pa.array(listed, pa.string())), False)
        field = self.fields[str(self.rules[n]["field"])]
        return pc.fill_null(pc.is_in(cast.values, value_set=value_set(listed, field)), False)


def failures(results: list[RuleResult]) -> list[str]:
    """One line per rule breached with severity error."""
    return [line for line in (r.failure() for r in results) if line is not None]


def _properties(rule: QualityRule) -> list[str]:
    return [rule["field"]] if rule["field"] is not None else list(rule["arguments"]["properties"])


def _missing_values(rule: QualityRule) -> list[str]:
    """The rule's missing values as text (null always counts as missing; "" does unless a list is given)."""
    listed = rule["arguments"].get("missingValues", [None, ""])
    listed = listed if isinstance(listed, list) else [listed]
    return [v if isinstance(v, str) else json.dumps(v) for v in listed if v is not None]


def _null(cast: Cast) -> pa.Array:
    """True where the value is missing (not where it could not be read)."""
    missing = pc.is_null(cast.values)
    return missing if cast.bad is None else pc.and_(missing, pc.invert(cast.bad))


def _either(first: pa.Array | None, second: pa.Array | None) -> pa.Array | None:
    if first is None or second is None:
        return first if second is None else second
    return pc.or_(first, second)


def _true(mask: pa.Array | None) -> int:
    return 0 if mask is None else int(pc.sum(mask).as_py() or 0)
