"""ODCS quality rules: reading them into QualityRule, and telling whether a new rule is tighter than the old."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from domain.contracts.errors import Issue
from domain.contracts.model import Change, QualityRule, change

LIBRARY_METRICS = ("nullValues", "missingValues", "invalidValues", "duplicateValues", "rowCount")
OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
RANGES = ("mustBeBetween", "mustNotBeBetween")
CHECK_TYPES = ("library", "sql", "custom", "text")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}
EVALUATED = ("type", "metric", "operator", "value", "unit", "arguments", "details")

Interval = tuple[float, bool, float, bool]
"""(low, low included, high, high included): the values a rule lets pass."""


def read_rules(raw: Any, pointer: str, obj: str, field: str | None, issues: list[Issue]) -> list[QualityRule]:
    """The rules of one object (``field`` None) or one field; problems go to ``issues`` with their pointer."""
    if not isinstance(raw, list):
        issues.append((pointer, "quality must be a list of rules"))
        return []
    rules = [_rule(entry, f"{pointer}/{i}", obj, field, issues) for i, entry in enumerate(raw)]
    found = [rule for rule in rules if rule is not None]
    seen: Counter[str] = Counter()
    for rule in found:
        seen[rule["key"]] += 1
        rule["key"] += f"#{seen[rule['key']]}" if seen[rule["key"]] > 1 else ""
    return found


def _rule(entry: Any, here: str, obj: str, field: str | None, issues: list[Issue]) -> QualityRule | None:
    if not isinstance(entry, Mapping):
        issues.append((here, "a quality rule must be an object"))
        return None
    kind = entry.get("type") or ("library" if "metric" in entry else "text")
    metric = entry.get("metric")
    if kind not in CHECK_TYPES:
        issues.append((f"{here}/type", f"unknown quality rule type {kind!r}; use one of {', '.join(CHECK_TYPES)}"))
    if kind == "library" and metric not in LIBRARY_METRICS:
        issues.append((f"{here}/metric", f"unknown metric {metric!r}; use one of {', '.join(LIBRARY_METRICS)}"))
    operator = _operator(entry, here, kind, issues)
    name = entry.get("id") or entry.get("name") or metric or kind
    return QualityRule(
        key=f"{obj}{'.' + field if field else ''}:{name}",
        object=obj,
        field=field,
        type=kind,
        metric=metric,
        operator=operator,
        value=entry.get(operator) if operator else None,
        unit=entry.get("unit"),
        arguments=dict(entry.get("arguments") or {}),
        severity=entry.get("severity"),
        dimension=entry.get("dimension"),
        description=entry.get("description"),
        details={k: entry[k] for k in ("query", "engine", "implementation") if k in entry},
    )


def _operator(entry: Mapping[str, Any], here: str, kind: str, issues: list[Issue]) -> str | None:
    present = [name for name in OPERATORS if name in entry]
    if len(present) > 1 or (kind == "library" and not present):
        issues.append((here, f"a rule takes exactly one operator of {', '.join(OPERATORS)}"))
        return None
    if not present:
        return None
    operator, value = present[0], entry[present[0]]
    if operator in RANGES:
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
            issues.append((f"{here}/{operator}", "give the range as two numbers, the smaller first"))
        elif value[0] >= value[1]:
            issues.append((f"{here}/{operator}", "the range's first number must be smaller than its second"))
    elif operator not in ("mustBe", "mustNotBe") and not _is_number(value):
        issues.append((f"{here}/{operator}", f"{operator} takes a number"))
    return operator


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def compare_rules(old: list[QualityRule], new: list[QualityRule]) -> list[Change]:
    """Rules are matched by key (object, field, and id, name or metric); a new library rule tightens the contract."""
    before, after = {r["key"]: r for r in old}, {r["key"]: r for r in new}
    changes = [change("quality-rule-removed", key, "quality rule removed") for key in sorted(before.keys() - after)]
    for key in sorted(after.keys() - before.keys()):
        library = after[key]["type"] == "library"
        changes.append(change("quality-rule-added", key, "quality rule added", breaking=library))
    for key in sorted(before.keys() & after.keys()):
        found = _compare(key, before[key], after[key])
        changes += [found] if found else []
    return changes


def _compare(key: str, old: QualityRule, new: QualityRule) -> Change | None:
    if _same(old, new, EVALUATED):
        if _rank(new) > _rank(old):
            return change("quality-rule-tightened", key, f"severity raised to {new['severity']}", breaking=True)
        return None if old == new else change("quality-rule-edited", key, "description or severity changed")
    if new["type"] != "library" or old["type"] != "library":
        return change("quality-check-changed", key, "check changed (not a library rule: not compared)")
    if not _same(old, new, ("metric", "unit", "arguments")):
        return change("quality-rule-changed", key, "metric, unit or arguments changed", breaking=True)
    tighter = _tighter(old, new)
    detail = f"{old['operator']} {old['value']!r} -> {new['operator']} {new['value']!r}"
    if tighter is None or tighter:
        return change("quality-rule-tightened", key, f"tightened: {detail}", breaking=True)
    return change("quality-rule-loosened", key, f"loosened: {detail}")


def _same(old: Mapping[str, object], new: Mapping[str, object], keys: tuple[str, ...]) -> bool:
    return all(old[key] == new[key] for key in keys)


def _rank(rule: QualityRule) -> int:
    return SEVERITY_RANK.get(str(rule["severity"]), -1)


def _tighter(old: QualityRule, new: QualityRule) -> bool | None:
    """True when the new rule lets fewer values pass, False when at least as many, None when it cannot tell."""
    if old["operator"] == new["operator"] == "mustNotBeBetween":
        return not _contains(_interval("mustBeBetween", old["value"]), _interval("mustBeBetween", new["value"]))
    before, after = _interval(old["operator"], old["value"]), _interval(new["operator"], new["value"])
    if before is None or after is None:
        return None
    return not _contains(after, before)


def _interval(operator: str | None, value: Any) -> Interval | None:
    inf = math.inf
    match operator:
        case "mustBe" if _is_number(value):
            return (value, True, value, True)
        case "mustBeGreaterThan":
            return (value, False, inf, False)
        case "mustBeGreaterOrEqualTo":
            return (value, True, inf, False)
        case "mustBeLessThan":
            return (-inf, False, value, False)
        case "mustBeLessOrEqualTo":
            return (-inf, False, value, True)
        case "mustBeBetween":
            return (value[0], True, value[1], True)
    return None


def _contains(outer: Interval | None, inner: Interval | None) -> bool:
    if outer is None or inner is None:
        return False
    low = outer[0] < inner[0] or (outer[0] == inner[0] and (outer[1] or not inner[1]))
    high = outer[2] > inner[2] or (outer[2] == inner[2] and (outer[3] or not inner[3]))
    return low and high
