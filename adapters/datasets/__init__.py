"""Dataset storage: the write-once, content-addressed dataset store and the input formats it accepts.

``store`` keeps dataset files per tenant and stage (raw, gdp, quarantine, kpi, published, exports) on local disk
or an S3-compatible store; ``formats`` tells what an upload is and reads it in bounded memory.
"""

from __future__ import annotations

from adapters.datasets.bounds import BoundExceededError, Bounds
from adapters.datasets.formats import (
    FORMATS,
    MEDIA_TYPES,
    SUFFIX,
    FormatError,
    Inspection,
    MalformedRow,
    UnsupportedFormatError,
    format_for,
    format_for_path,
    inspect,
    read_batches,
)
from adapters.datasets.store import (
    STAGES,
    AlreadyStoredError,
    DatasetError,
    DatasetStore,
    IntegrityError,
    StoredFile,
    TooLargeError,
    Upload,
)

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "STAGES",
    "SUFFIX",
    "AlreadyStoredError",
    "BoundExceededError",
    "Bounds",
    "DatasetError",
    "DatasetStore",
    "FormatError",
    "Inspection",
    "IntegrityError",
    "MalformedRow",
    "StoredFile",
    "TooLargeError",
    "UnsupportedFormatError",
    "Upload",
    "format_for",
    "format_for_path",
    "inspect",
    "read_batches",
]
