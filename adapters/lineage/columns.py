"""Column-level lineage of KPI datasets, where the contract's KPI definitions make it knowable.

A KPI table (long format: ``kpi, period_start, grain, value, rows, target, target_met`` and the dimension columns)
is built from golden data points: ``value`` aggregates the measure (or a ratio's numerator and denominator),
``period_start`` floors the time field to the grain, and each dimension column is the same-named field. Filters
and grouping touch the whole dataset (indirect lineage). The published copy of a KPI table maps column for column.
The shapes are those of OpenLineage's ColumnLineageDatasetFacet (``fields`` and ``dataset``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Transformation = dict[str, Any]
ByField = dict[str, list[Transformation]]
"""Input field -> what is done to it."""


def _transformation(kind: str, subtype: str, description: str) -> Transformation:
    return {"type": kind, "subtype": subtype, "description": description}


def _value_fields(kpi: dict[str, Any]) -> list[str]:
    return [name for name in (kpi.get("measure"), kpi.get("numerator"), kpi.get("denominator")) if name]


def kpi_column_sources(kpis: Iterable[dict[str, Any]]) -> tuple[dict[str, ByField], ByField]:
    """(output column -> its input fields, input fields that touch the whole table), from KPI definitions."""
    direct: dict[str, ByField] = {}
    indirect: ByField = {}

    def add(column: str, field: str, transformation: Transformation) -> None:
        direct.setdefault(column, {}).setdefault(field, []).append(transformation)

    for kpi in kpis:
        name, aggregation = kpi["name"], kpi["aggregation"]
        for field in _value_fields(kpi):
            add("value", field, _transformation("DIRECT", "AGGREGATION", f"{name}: {aggregation} of {field}"))
        grain = f"{name}: {kpi['time_field']} floored to the {kpi['time_grain']} (UTC)"
        add("period_start", kpi["time_field"], _transformation("DIRECT", "TRANSFORMATION", grain))
        for dimension in kpi["dimensions"]:
            add(dimension, dimension, _transformation("DIRECT", "IDENTITY", f"{name}: grouped by {dimension}"))
            by = _transformation("INDIRECT", "GROUP_BY", f"{name}: grouped by {dimension}")
            indirect.setdefault(dimension, []).append(by)
        for condition in kpi["filters"]:
            said = f"{name}: rows where {condition['field']} {condition['operator']} {condition['value']!r}"
            indirect.setdefault(condition["field"], []).append(_transformation("INDIRECT", "FILTER", said))
    return direct, indirect


def kpi_lineage(kpis: list[dict[str, Any]], namespace: str, sources: list[str]) -> dict[str, Any] | None:
    """The columnLineage facet body of a KPI table built from the ``sources`` (storage keys of golden data points),
    or None when no KPI names a field."""
    direct, indirect = kpi_column_sources(kpis)
    if not direct:
        return None

    def fields(by_field: ByField) -> list[dict[str, Any]]:
        return [
            {"namespace": namespace, "name": source, "field": field, "transformations": done}
            for source in sources
            for field, done in by_field.items()
        ]

    columns = {column: {"inputFields": fields(by_field)} for column, by_field in direct.items()}
    return {"fields": columns, "dataset": fields(indirect)}


def copy_lineage(columns: list[dict[str, str]], namespace: str, source: str) -> dict[str, Any]:
    """The columnLineage facet body of a table copied column for column from ``source``."""
    same = [_transformation("DIRECT", "IDENTITY", "published as built")]
    fields = {
        c["name"]: {
            "inputFields": [{"namespace": namespace, "name": source, "field": c["name"], "transformations": same}]
        }
        for c in columns
    }
    return {"fields": fields}
