"""The typed, JSON-native form of a contract that the registry keeps and the pipeline evaluates.

Every value here is a plain dict, list, str, number, bool or None (TypedDicts), so it goes into events and read
models as it is and comes back out the same.
"""

from __future__ import annotations

from typing import Any, TypedDict

LOGICAL_TYPES = (
    "string",
    "date",
    "timestamp",
    "time",
    "number",
    "integer",
    "object",
    "array",
    "boolean",
    "map",
    "vector",
)
"""The ODCS v3 logical types; any other is refused."""

NUMERIC = frozenset({"integer", "number"})


class FieldSpec(TypedDict):
    """One property of a schema object; nested ones are named by path: ``address.city``, ``lines[].sku``."""

    name: str
    logical_type: str | None
    physical_type: str | None
    required: bool
    unique: bool
    primary_key: bool
    classification: str | None
    options: dict[str, Any]


class ObjectSpec(TypedDict):
    """One schema object (a table, topic, file...) with its fields and primary key in key order."""

    name: str
    physical_name: str | None
    physical_type: str | None
    fields: list[FieldSpec]
    primary_key: list[str]


class QualityRule(TypedDict):
    """A quality rule of an object or field. Library rules (type ``library``) carry a metric, one operator and
    its value (a number, or ``[low, high]`` for the between operators); sql, custom and text checks are kept with
    their ``details`` (query, engine, implementation) for tools that run them."""

    key: str
    object: str
    field: str | None
    type: str
    metric: str | None
    operator: str | None
    value: Any
    unit: str | None
    arguments: dict[str, Any]
    severity: str | None
    dimension: str | None
    description: str | None
    details: dict[str, Any]


class KpiFilter(TypedDict):
    field: str
    operator: str
    value: Any


class KpiTarget(TypedDict):
    value: float
    direction: str


class Kpi(TypedDict):
    """A KPI over one schema object: an aggregation by dimensions per time grain, after filters."""

    name: str
    object: str
    description: str | None
    aggregation: str
    measure: str | None
    numerator: str | None
    denominator: str | None
    dimensions: list[str]
    time_field: str
    time_grain: str
    filters: list[KpiFilter]
    target: KpiTarget | None


class ContractSpec(TypedDict):
    objects: list[ObjectSpec]
    quality: list[QualityRule]
    kpis: list[Kpi]


class Change(TypedDict):
    """One difference between two versions; ``breaking`` ones need a major version bump."""

    kind: str
    path: str
    detail: str
    breaking: bool


def change(kind: str, path: str, detail: str, breaking: bool = False) -> Change:
    return Change(kind=kind, path=path, detail=detail, breaking=breaking)
