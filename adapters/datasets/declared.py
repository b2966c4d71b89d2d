"""What a file declares about its size once decoded, read from its metadata alone (nothing is decoded).

Both figures are lower bounds of the memory its values take as Arrow arrays: every row of a fixed-width column
takes its width, every string or binary value at least its 32-bit offset, whatever the encoding on disk. A
Parquet file of one row repeated millions of times is tiny on disk (dictionary and run-length encoding, then
compression) but declares its row count, so the bound shows before a single page is read.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_WIDTHS = {"BOOLEAN": 0, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 8, "BYTE_ARRAY": 4}
"""Bytes per value of each Parquet physical type once decoded (booleans are bits: counted as none; INT96
timestamps decode to 64-bit ones)."""
OFFSET = 4
"""Bytes per value of a variable-width (string, binary, list) Arrow column, before its data."""


def declared_bytes(metadata: pq.FileMetaData) -> int:
    """The larger of the uncompressed sizes the row groups declare and the rows times the decoded row width."""
    declared = sum(metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups))
    return int(max(declared, metadata.num_rows * _parquet_row_width(metadata.schema)))


def _parquet_row_width(schema: pq.ParquetSchema) -> int:
    width = 0
    for index in range(len(schema)):
        column = schema.column(index)
        if column.physical_type == "FIXED_LEN_BYTE_ARRAY":
            width += column.length
        else:
            width += PARQUET_WIDTHS.get(column.physical_type, 0)
    return width


def row_width(schema: pa.Schema) -> int:
    """Bytes one row of ``schema`` takes at least as Arrow arrays."""
    return sum(_width(field.type) for field in schema)


def _width(kind: pa.DataType) -> int:
    if isinstance(kind, pa.DictionaryType):
        return _width(kind.index_type)
    if pa.types.is_struct(kind):
        return sum(_width(kind.field(index).type) for index in range(kind.num_fields))
    try:
        return int(max(kind.bit_width // 8, 0))
    except ValueError:  # not fixed-width: strings, binaries, lists
        return OFFSET
