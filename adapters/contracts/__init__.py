"""ODCS v3 documents from the outside world: YAML or JSON text in, a validated JSON-native document out."""

from __future__ import annotations

from adapters.contracts.odcs import (
    DocumentSyntaxError,
    load_document,
    odcs_schema,
    read_odcs,
    validate_document,
)
from application.contract_uploads import JSON_MEDIA_TYPES, YAML_MEDIA_TYPES

__all__ = [
    "JSON_MEDIA_TYPES",
    "YAML_MEDIA_TYPES",
    "DocumentSyntaxError",
    "load_document",
    "odcs_schema",
    "read_odcs",
    "validate_document",
]
