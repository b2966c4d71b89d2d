"""Input formats: media types and suffixes, inspecting and streaming tiny CSV, NDJSON, Parquet and Arrow files.

The files are written under tmp_path; no server, no network.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import ipc

from adapters.datasets.formats import (
    FORMATS,
    MEDIA_TYPES,
    SUFFIX,
    FormatError,
    Inspection,
    UnsupportedFormatError,
    format_for,
    format_for_path,
    inspect,
    read_batches,
)

TABLE = pa.table({"id": [1, 2, 3], "name": ["a", "b", None]})


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def read_all(path: Path, fmt: str, **options: object) -> pa.Table:
    return pa.Table.from_batches(list(read_batches(path, fmt, **options)))  # type: ignore[arg-type]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    return write(tmp_path / "in.csv", 'id,name,note\n1,"Smith, Jane","says ""hi"""\n2,Zoë,\n3,"two\nlines",x\n')


@pytest.fixture
def parquet_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.parquet"
    pq.write_table(TABLE, path)
    return path


@pytest.fixture
def arrow_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.arrow"
    with ipc.new_file(path, TABLE.schema) as writer:
        writer.write_table(TABLE)
    return path


@pytest.fixture
def arrow_stream(tmp_path: Path) -> Path:
    path = tmp_path / "in.arrows"
    with ipc.new_stream(path, TABLE.schema) as writer:
        writer.write_table(TABLE, max_chunksize=2)
    return path


@pytest.mark.parametrize(
    ("content_type", "fmt"),
    [
        ("text/csv", "csv"),
        ("text/csv; charset=utf-8", "csv"),
        ("application/csv", "csv"),
        ("Application/X-NDJSON", "ndjson"),
        ("application/ndjson", "ndjson"),
        ("application/jsonl", "ndjson"),
        ("application/vnd.apache.parquet", "parquet"),
        ("application/x-parquet", "parquet"),
        ("application/vnd.apache.arrow.stream", "arrow"),
        ("application/vnd.apache.arrow.file", "arrow"),
    ],
)
def test_media_types_name_their_format(content_type: str, fmt: str) -> None:
    assert format_for(content_type) == fmt


@pytest.mark.parametrize("content_type", [None, "", "application/json", "text/plain", "csv"])
def test_other_media_types_are_refused_with_the_accepted_list(content_type: str | None) -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        format_for(content_type)
    assert "text/csv" in str(caught.value)
    assert "application/vnd.apache.arrow.stream" in str(caught.value)


def test_every_format_has_a_suffix_and_a_media_type() -> None:
    assert set(SUFFIX) == set(FORMATS) == set(MEDIA_TYPES.values())


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.ndjson", "ndjson"),
        ("a.jsonl", "ndjson"),
        ("a.parquet", "parquet"),
        ("a.arrow", "arrow"),
        ("a.arrows", "arrow"),
        ("a.feather", "arrow"),
        ("a.ipc", "arrow"),
    ],
)
def test_file_suffixes_name_their_format(name: str, fmt: str) -> None:
    assert format_for_path(Path(name)) == fmt


@pytest.mark.parametrize("name", ["a.json", "a.csv.gz", "a"])
def test_other_suffixes_are_refused(name: str) -> None:
    with pytest.raises(UnsupportedFormatError):
        format_for_path(Path(name))


def test_csv_is_inspected_by_its_header(csv_file: Path) -> None:
    assert inspect(csv_file, "csv") == Inspection(["id", "name", "note"], None)


def test_csv_values_are_read_as_raw_strings(csv_file: Path) -> None:
    table = read_all(csv_file, "csv")
    assert all(field.type == pa.string() for field in table.schema)
    assert table.to_pydict() == {
        "id": ["1", "2", "3"],
        "name": ["Smith, Jane", "Zoë", "two\nlines"],
        "note": ['says "hi"', "", "x"],
    }


def test_csv_empty_values_stay_empty_strings_not_nulls(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", 'a,b\n,""\nNULL,NA\n')
    assert read_all(path, "csv").to_pydict() == {"a": ["", "NULL"], "b": ["", "NA"]}


def test_csv_with_a_byte_order_mark_keeps_its_first_column_name(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "\ufeffid,name\n1,a\n")
    assert inspect(path, "csv").columns == ["id", "name"]
    assert read_all(path, "csv").column_names == ["id", "name"]


def test_csv_selects_columns(csv_file: Path) -> None:
    assert read_all(csv_file, "csv", columns=["note", "id"]).column_names == ["note", "id"]


def test_csv_missing_column_is_a_format_error(csv_file: Path) -> None:
    with pytest.raises(FormatError, match="no column nope"):
        list(read_batches(csv_file, "csv", columns=["id", "nope"]))


def test_csv_in_small_blocks_yields_several_batches(tmp_path: Path) -> None:
    rows = "".join(f"{n},name {n}\n" for n in range(2000))
    path = write(tmp_path / "in.csv", "id,name\n" + rows)
    batches = list(read_batches(path, "csv", block_size=1024))
    assert len(batches) > 5
    assert sum(batch.num_rows for batch in batches) == 2000
    assert batches[-1].column("id")[-1].as_py() == "1999"


@pytest.mark.parametrize("text", ["", "id,name\n", "id,name\n\n\n", "\n\n"])
def test_csv_without_data_rows_is_empty(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "in.csv", text)
    with pytest.raises(FormatError, match="the file is empty"):
        inspect(path, "csv")
    with pytest.raises(FormatError, match="the file is empty"):
        list(read_batches(path, "csv"))


def test_csv_with_a_repeated_column_name_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "id,id\n1,2\n")
    with pytest.raises(FormatError, match="repeats"):
        inspect(path, "csv")


def test_csv_with_ragged_rows_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(FormatError, match="cannot be read as csv"):
        list(read_batches(path, "csv"))


def test_csv_that_is_not_utf8_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"\xff\xfei\x00d\x00\n\x001\x00\n")
    with pytest.raises(FormatError):
        inspect(path, "csv")


def test_ndjson_is_inspected_by_the_keys_of_its_first_line(tmp_path: Path) -> None:
    path = write(tmp_path / "in.ndjson", '\n{"id": 1, "name": "a"}\n{"id": 2, "name": "b", "extra": true}\n')
    assert inspect(path, "ndjson") == Inspection(["id", "name"], None)


def test_ndjson_is_read_with_its_json_types(tmp_path: Path) -> None:
    path = write(tmp_path / "in.ndjson", '{"id": 1, "name": "Zoë"}\n{"id": 2, "name": null}\n')
    table = read_all(path, "ndjson")
    assert table.to_pydict() == {"id": [1, 2], "name": ["Zoë", None]}
    assert read_all(path, "ndjson", columns=["name"]).column_names == ["name"]


def test_ndjson_in_small_blocks_yields_several_batches(tmp_path: Path) -> None:
    path = write(tmp_path / "in.ndjson", "".join(f'{{"id": {n}}}\n' for n in range(1000)))
    batches = list(read_batches(path, "ndjson", block_size=512))
    assert len(batches) > 5
    assert sum(batch.num_rows for batch in batches) == 1000


@pytest.mark.parametrize(("text", "message"), [("[1, 2]\n", "line 1 is not a JSON object"), ("{oops\n", "line 1")])
def test_ndjson_whose_first_line_is_not_an_object_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "in.ndjson", text)
    with pytest.raises(FormatError, match=message):
        inspect(path, "ndjson")
    with pytest.raises(FormatError, match=message):
        list(read_batches(path, "ndjson"))


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_ndjson_without_lines_is_empty(tmp_path: Path, text: str) -> None:
    with pytest.raises(FormatError, match="the file is empty"):
        inspect(write(tmp_path / "in.ndjson", text), "ndjson")


def test_ndjson_with_a_bad_later_line_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.ndjson", '{"id": 1}\n{"id": \n')
    with pytest.raises(FormatError, match="cannot be read as ndjson"):
        list(read_batches(path, "ndjson"))


def test_parquet_is_inspected_from_its_metadata(parquet_file: Path) -> None:
    found = inspect(parquet_file, "parquet")
    assert (found.columns, found.rows) == (["id", "name"], 3)
    # At least 8 bytes per int64 and a 4-byte offset per string, whatever the encoding on disk.
    assert found.decoded_bytes is not None
    assert found.decoded_bytes >= 3 * (8 + 4)


def test_parquet_is_read_with_its_own_types(parquet_file: Path) -> None:
    assert read_all(parquet_file, "parquet").equals(TABLE)
    assert read_all(parquet_file, "parquet", columns=["name"]).to_pydict() == {"name": ["a", "b", None]}


def test_parquet_without_rows_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pq.write_table(TABLE.slice(0, 0), path)
    with pytest.raises(FormatError, match="the file is empty"):
        inspect(path, "parquet")


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_garbage_is_a_format_error_not_a_pyarrow_error(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "in.bin"
    path.write_bytes(b"this is not a columnar file at all" * 20)
    with pytest.raises(FormatError, match=f"cannot be read as {fmt}") as caught:
        inspect(path, fmt)
    assert not isinstance(caught.value, pa.ArrowException)
    with pytest.raises(FormatError):
        list(read_batches(path, fmt))


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_arrow_stream_is_a_format_error(arrow_stream: Path, damage: str) -> None:
    data = arrow_stream.read_bytes()
    data = data[:-20] if damage == "truncated" else data[:100] + b"\xff" * 50 + data[150:]
    arrow_stream.write_bytes(data)
    # pyarrow says so with an OSError that has no errno; a stream declares nothing, so reading it finds out
    with pytest.raises(FormatError, match="cannot be read as arrow"):
        list(read_batches(arrow_stream, "arrow"))


def test_an_arrow_file_is_inspected_from_its_footer(arrow_file: Path) -> None:
    assert inspect(arrow_file, "arrow") == Inspection(["id", "name"], 3, 3 * (8 + 4))
    assert read_all(arrow_file, "arrow").equals(TABLE)


def test_an_arrow_stream_is_read_batch_by_batch(arrow_stream: Path) -> None:
    assert inspect(arrow_stream, "arrow") == Inspection(["id", "name"], None)
    batches = list(read_batches(arrow_stream, "arrow", columns=["id"]))
    assert [batch.num_rows for batch in batches] == [2, 1]
    assert pa.Table.from_batches(batches).to_pydict() == {"id": [1, 2, 3]}


def test_an_arrow_stream_without_rows_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "in.arrows"
    with ipc.new_stream(path, TABLE.schema):
        pass
    with pytest.raises(FormatError, match="the file is empty"):
        inspect(path, "arrow")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_zero_byte_file_is_empty_in_every_format(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "empty"
    path.touch()
    with pytest.raises(FormatError, match="the file is empty"):
        inspect(path, fmt)
    with pytest.raises(FormatError, match="the file is empty"):
        list(read_batches(path, fmt))


def test_an_unknown_format_name_is_refused(csv_file: Path) -> None:
    with pytest.raises(UnsupportedFormatError):
        inspect(csv_file, "xlsx")


def test_csv_values_spanning_lines_survive_small_blocks(tmp_path: Path) -> None:
    rows = "".join(f'{n},"line one\nline {n}"\n' for n in range(300))
    path = write(tmp_path / "in.csv", "id,text\n" + rows)
    table = read_all(path, "csv", block_size=256)
    assert table.num_rows == 300
    assert table.column("text")[299].as_py() == "line one\nline 299"
