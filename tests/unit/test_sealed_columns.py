"""Every read-model column that holds a field some event declares personal or secret is sealed.

A column named like such a field (``subject``, ``display_name``, ``url``, ``value``) must be declared with
``sealed_column``, or be listed here with the reason it holds something else under that name.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import domain
import projections
from domain.aggregate import encrypted_fields_of
from projections.base import metadata, sealed_columns

NOT_PERSONAL = {
    ("action_runs", "value"): "the KPI value that triggered a playbook",
    ("dead_letters", "subject"): "the id of the stream or read model a dead letter is about",
    ("schema_subjects", "subject"): "a schema registry subject, <tenant>.<contract>.<object>",
    ("tenant_directory", "display_name"): "a tenant's organisation name, not a person's",
}


def declared_personal_fields() -> set[str]:
    fields: set[str] = set()
    for module_info in pkgutil.walk_packages(domain.__path__, "domain."):
        module = importlib.import_module(module_info.name)
        for _, aggregate in inspect.getmembers(module, inspect.isclass):
            for _, nested in inspect.getmembers(aggregate, inspect.isclass):
                fields |= set(encrypted_fields_of(nested))
    return fields


def test_columns_named_like_a_personal_event_field_are_sealed() -> None:
    importlib.import_module(projections.__name__)
    personal = declared_personal_fields()
    assert {"subject", "display_name", "url", "value"} <= personal  # the walk finds the declarations

    unsealed = [
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if column.name in personal and column.name not in sealed_columns(table)
    ]

    assert sorted(set(unsealed) - NOT_PERSONAL.keys()) == []
    assert {"subject", "display_name"} <= sealed_columns(metadata.tables["principals"])
    assert "url" in sealed_columns(metadata.tables["webhook_endpoints"])
