"""Generated ODCS contracts of large schemas, shaped like the ODCS project's
``postgresql-adventureworks-contract.odcs.yaml`` (tables of described, typed columns, each with its JDBC
implementation link): about 167 KB as JSON for about 400 columns. Generated, so no test reads a file outside the
repository."""

from __future__ import annotations

import json
from typing import Any

COLUMN_TYPES = [("number", "int4"), ("string", "varchar[50]"), ("date", "timestamp"), ("object", "Name")]


def column(table: str, index: int) -> dict[str, Any]:
    logical, physical = COLUMN_TYPES[index % len(COLUMN_TYPES)]
    name = f"{table}_column_{index:03}"
    return {
        "name": name,
        "logicalType": logical,
        "physicalType": physical,
        "description": f"Column {index} of {table}: what it holds, where it comes from, and who may read it.",
        "partitioned": False,
        "authoritativeDefinitions": [
            {"type": "implementation", "url": f"jdbc:postgresql://localhost:5432/adventureworks/{table}/{name}"}
        ],
        "criticalDataElement": False,
        "primaryKey": index == 0,
        "required": index == 0,
    }


def table(index: int, columns: int) -> dict[str, Any]:
    name = f"table_{index:04}"
    return {
        "name": name,
        "physicalName": name,
        "physicalType": "table",
        "description": f"Table {index} of the generated warehouse, one row per business entity.",
        "properties": [column(name, i) for i in range(columns)],
    }


def wide_contract(target_bytes: int, *, columns: int = 8, version: str = "1.0.0") -> dict[str, Any]:
    """An ODCS v3 contract whose compact JSON is just over ``target_bytes`` (by less than one table): tables of
    ``columns`` columns each."""
    document: dict[str, Any] = {
        "version": version,
        "apiVersion": "v3.0.0",
        "id": "adventureworks-like",
        "status": "active",
        "kind": "DataContract",
        "name": "Generated warehouse",
        "description": {"purpose": "A large schema, generated"},
        "schema": [],
    }
    size = len(compact(document))
    while size < target_bytes:
        added = table(len(document["schema"]), columns)
        document["schema"].append(added)
        size += len(compact(added)) + 1
    return document


def compact(value: Any) -> str:
    """JSON as the registry measures it (no spaces)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
