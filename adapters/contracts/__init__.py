"""ODCS v3 documents from the outside world: YAML or JSON text in, a validated JSON-native document out."""

from __future__ import annotations

from adapters.contracts.odcs import (
    JSON_MEDIA_TYPES,
    YAML_MEDIA_TYPES,
    DocumentSyntaxError,
    load_document,
    odcs_schema,
    read_odcs,
    validate_document,
)

__all__ = [
    "JSON_MEDIA_TYPES",
    "YAML_MEDIA_TYPES",
    "DocumentSyntaxError",
    "load_document",
    "odcs_schema",
    "read_odcs",
    "validate_document",
]
