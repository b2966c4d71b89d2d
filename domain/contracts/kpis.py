"""KPI definitions: a documented extension of ODCS v3 under ``customProperties`` (property ``kpis``).

A contract declares KPIs at the contract level or on a schema object, as the value of a custom property::

    customProperties:
      - property: kpis
        value:
          - name: daily_revenue            # required; lowercase letters, digits, _ (unique in the contract)
            object: orders                 # the schema object; implied on an object, or when there is only one
            description: Paid revenue per country and day    # optional
            aggregation: sum               # sum | count | count_distinct | avg | min | max | ratio
            measure: amount                # the field aggregated (count: optional, counts rows; ratio: not used)
            numerator: paid_amount         # ratio only: sum(numerator) / sum(denominator), numeric fields
            denominator: gross_amount
            dimensions: [country]          # optional; fields grouped by (not object, array, map or vector)
            timeField: ordered_at          # required; a field of logicalType timestamp
            timeGrain: day                 # required; day | week | month
            filters:                       # optional; rows kept before aggregating
              - {field: status, operator: eq, value: paid}  # eq ne gt gte lt lte (a scalar), in not_in (a list)
            target: {value: 10000, direction: at_least}     # optional; direction at_least (default) | at_most

sum and avg take a numeric measure (integer or number); min and max a numeric, date or timestamp one;
count_distinct any field. Unknown keys, missing fields and a time field that is not a timestamp are refused,
each with the JSON pointer of the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from domain.contracts.errors import Issue
from domain.contracts.model import NUMERIC, FieldSpec, Kpi, KpiFilter, KpiTarget, ObjectSpec

KPI_PROPERTY = "kpis"
AGGREGATIONS = ("sum", "count", "count_distinct", "avg", "min", "max", "ratio")
TIME_GRAINS = ("day", "week", "month")
FILTER_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in")
DIRECTIONS = ("at_least", "at_most")
KEYS = frozenset(
    {"name", "object", "description", "aggregation", "measure", "numerator", "denominator"}
    | {"dimensions", "timeField", "timeGrain", "filters", "target"}
)
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ORDERED = NUMERIC | {"date", "timestamp"}
UNGROUPABLE = frozenset({"object", "array", "map", "vector"})
MEASURE_TYPES: dict[str, frozenset[str] | None] = {
    "sum": NUMERIC,
    "avg": NUMERIC,
    "min": ORDERED,
    "max": ORDERED,
    "count": None,
    "count_distinct": None,
}


def read_kpis(document: Mapping[str, Any], objects: list[ObjectSpec], issues: list[Issue]) -> list[Kpi]:
    """Every KPI the document declares, checked against the fields of its schema object."""
    fields = {o["name"]: {f["name"]: f for f in o["fields"]} for o in objects}
    found: list[Kpi] = []
    for pointer, declared_on, value in _declarations(document):
        if not isinstance(value, list):
            issues.append((pointer, "kpis must be a list of KPI definitions"))
            continue
        for k, raw in enumerate(value):
            kpi = _read(raw, f"{pointer}/{k}", declared_on, fields, issues)
            if kpi and any(kpi["name"] == other["name"] for other in found):
                issues.append((f"{pointer}/{k}/name", f"KPI {kpi['name']!r} is declared twice"))
            found += [kpi] if kpi else []
    return found


def _declarations(document: Mapping[str, Any]) -> Iterator[tuple[str, str | None, Any]]:
    """(pointer to the value, the schema object it is declared on or None, the value) of each ``kpis`` property."""
    for n, prop in enumerate(document.get("customProperties") or []):
        if isinstance(prop, Mapping) and prop.get("property") == KPI_PROPERTY:
            yield f"/customProperties/{n}/value", None, prop.get("value")
    for i, obj in enumerate(document.get("schema") or []):
        for n, prop in enumerate(obj.get("customProperties") or [] if isinstance(obj, Mapping) else []):
            if isinstance(prop, Mapping) and prop.get("property") == KPI_PROPERTY:
                yield f"/schema/{i}/customProperties/{n}/value", str(obj.get("name")), prop.get("value")


def _read(
    raw: Any, here: str, declared_on: str | None, fields: dict[str, dict[str, FieldSpec]], issues: list[Issue]
) -> Kpi | None:
    if not isinstance(raw, Mapping):
        issues.append((here, "a KPI definition must be an object"))
        return None
    issues += [(f"{here}/{key}", f"unknown KPI key {key!r}") for key in sorted(set(raw) - KEYS)]
    name = raw.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        issues.append((f"{here}/name", "a KPI name is 1-64 lowercase letters, digits or '_', starting with a letter"))
        return None
    obj = _object(raw, here, declared_on, fields, issues)
    if obj is None:
        return None
    reader = _Reader(here, obj, fields[obj], issues)
    return reader.kpi(raw, name)


def _object(
    raw: Mapping[str, Any], here: str, declared_on: str | None, fields: dict[str, Any], issues: list[Issue]
) -> str | None:
    """The KPI's object: the one it is declared on, else its ``object``, else the contract's only object."""
    sole = next(iter(fields)) if len(fields) == 1 else None
    obj = raw.get("object", declared_on or sole)
    if obj is None:
        issues.append((here, "name the schema object the KPI is computed over (object)"))
    elif declared_on is not None and obj != declared_on:
        issues.append((f"{here}/object", f"a KPI declared on {declared_on!r} is computed over {declared_on!r}"))
    elif obj not in fields:
        issues.append((f"{here}/object", f"{obj!r} is not a schema object of this contract"))
    else:
        return str(obj)
    return None


@dataclass
class _Reader:
    """Checks one KPI definition's references against the fields of its object."""

    here: str
    obj: str
    fields: dict[str, FieldSpec]
    issues: list[Issue]

    def kpi(self, raw: Mapping[str, Any], name: str) -> Kpi:
        aggregation = str(raw.get("aggregation"))
        if aggregation not in AGGREGATIONS:
            self.issue("aggregation", f"aggregation must be one of {', '.join(AGGREGATIONS)}")
        measure, numerator, denominator = self.measures(raw, aggregation)
        grain = raw.get("timeGrain")
        if grain not in TIME_GRAINS:
            self.issue("timeGrain", f"timeGrain must be one of {', '.join(TIME_GRAINS)}")
        return Kpi(
            name=name,
            object=self.obj,
            description=raw.get("description"),
            aggregation=aggregation,
            measure=measure,
            numerator=numerator,
            denominator=denominator,
            dimensions=self.dimensions(raw.get("dimensions", [])),
            time_field=self.field("timeField", raw.get("timeField"), frozenset({"timestamp"}), "time field") or "",
            time_grain=str(grain),
            filters=self.filters(raw.get("filters", [])),
            target=self.target(raw.get("target")),
        )

    def measures(self, raw: Mapping[str, Any], aggregation: str) -> tuple[str | None, str | None, str | None]:
        if aggregation == "ratio":
            if "measure" in raw:
                self.issue("measure", "a ratio takes numerator and denominator, not measure")
            numerator = self.field("numerator", raw.get("numerator"), NUMERIC, "numerator")
            return None, numerator, self.field("denominator", raw.get("denominator"), NUMERIC, "denominator")
        for key in ("numerator", "denominator"):
            if key in raw:
                self.issue(key, f"{key} is for ratio KPIs only")
        if aggregation == "count" and "measure" not in raw:
            return None, None, None
        return self.field("measure", raw.get("measure"), MEASURE_TYPES.get(aggregation), "measure"), None, None

    def dimensions(self, raw: Any) -> list[str]:
        if not isinstance(raw, list):
            self.issue("dimensions", "dimensions must be a list of field names")
            return []
        found = [self.field(f"dimensions/{i}", name, None, "dimension") for i, name in enumerate(raw)]
        for i, name in enumerate(found):
            if name and self.fields[name]["logical_type"] in UNGROUPABLE:
                self.issue(f"dimensions/{i}", f"cannot group by {name!r}, a {self.fields[name]['logical_type']}")
        return [name for name in found if name]

    def filters(self, raw: Any) -> list[KpiFilter]:
        if not isinstance(raw, list):
            self.issue("filters", "filters must be a list of {field, operator, value}")
            return []
        found: list[KpiFilter] = []
        for i, item in enumerate(raw):
            entry = item if isinstance(item, Mapping) else {}
            field = self.field(f"filters/{i}/field", entry.get("field"), None, "filter field")
            operator, value = entry.get("operator"), entry.get("value")
            if operator not in FILTER_OPERATORS:
                self.issue(f"filters/{i}/operator", f"operator must be one of {', '.join(FILTER_OPERATORS)}")
            elif (operator in ("in", "not_in")) != (isinstance(value, list) and bool(value)):
                self.issue(f"filters/{i}/value", "in and not_in take a non-empty list; the others a single value")
            if field and operator in FILTER_OPERATORS:
                found.append(KpiFilter(field=field, operator=str(operator), value=value))
        return found

    def target(self, raw: Any) -> KpiTarget | None:
        if raw is None:
            return None
        entry = raw if isinstance(raw, Mapping) else {}
        value, direction = entry.get("value"), entry.get("direction", "at_least")
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.issue("target/value", "a target is {value: <number>, direction: at_least | at_most}")
            return None
        if direction not in DIRECTIONS:
            self.issue("target/direction", f"direction must be one of {', '.join(DIRECTIONS)}")
        return KpiTarget(value=value, direction=str(direction))

    def field(self, key: str, name: Any, types: frozenset[str] | None, what: str) -> str | None:
        if not isinstance(name, str) or name not in self.fields:
            self.issue(key, f"{what} {name!r} is not a field of {self.obj!r}")
            return None
        logical = self.fields[name]["logical_type"]
        if types is not None and logical not in types:
            self.issue(key, f"{what} {name!r} is {logical or 'untyped'}; it must be {' or '.join(sorted(types))}")
            return None
        return name

    def issue(self, key: str, detail: str) -> None:
        self.issues.append((f"{self.here}/{key}", detail))
