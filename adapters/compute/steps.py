"""The pipeline's compute steps over the dataset store: normalize, build KPIs, publish, export.

Stateless: every input is a stored file named by its manifest (checked by SHA-256 when read), every output is
written through the dataset store (write-once, content-addressed), so a step can be re-run anywhere from
events and stored inputs and produces the same files.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from adapters.compute import kpis as kpi_build
from adapters.compute import rows
from adapters.compute.encodings import encode
from adapters.compute.masking import mask, personal_fields
from adapters.compute.normalize import normalize
from adapters.datasets.bounds import Bounds
from adapters.datasets.formats import FormatError, MalformedRow, read_batches
from adapters.datasets.scratch import work_directory
from adapters.datasets.store import DatasetStore, StoredFile
from application.pipeline import KpiBuild, Normalization, Target, UnprocessableBatchError
from domain.pipeline import Manifest, manifest
from domain.products import Dataset

EXPORT_MEDIA = {
    "csv": ("text/csv", ".csv"),
    "json": ("application/json", ".json"),
    "arrow": ("application/vnd.apache.arrow.stream", ".arrows"),
    "parquet": ("application/vnd.apache.parquet", ".parquet"),
}


def fingerprint(schema: pa.Schema) -> str:
    return hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()


def columns_of(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


class TableCache:
    """Stored Parquet files as Arrow tables, verified once when loaded; the least recently used go first.

    Safe because stored files never change (write-once); a file that fails its check is never cached.
    """

    def __init__(self, store: DatasetStore, size: int = 32) -> None:
        self.store = store
        self.size = size
        self._tables: OrderedDict[str, pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, file: Manifest) -> pa.Table | None:
        """The table if it is loaded already (no I/O), else None."""
        with self._lock:
            found = self._tables.get(file["sha256"])
            if found is not None:
                self._tables.move_to_end(file["sha256"])
            return found

    def load(self, file: Manifest) -> pa.Table:
        found = self.cached(file)
        if found is not None:
            return found
        with self.store.opened(file["key"], file["sha256"]) as stream:
            table = pq.read_table(stream)
        with self._lock:
            self._tables[file["sha256"]] = table
            while len(self._tables) > self.size:
                self._tables.popitem(last=False)
        return table


class ComputeSteps:
    """``application.pipeline.PipelineCompute`` over a DatasetStore, with pyarrow."""

    def __init__(
        self, store: DatasetStore, scratch: Path, salt_for: Callable[[str], bytes], bounds: Bounds | None = None
    ) -> None:
        self.store = store
        self.scratch = scratch
        self.salt_for = salt_for
        self.bounds = bounds or Bounds()
        self.tables = TableCache(store)

    def _workdir(self, tenant_id: str) -> AbstractContextManager[Path]:
        """A fresh working directory under scratch, held while in use (a sweep leaves it alone), then removed."""
        return work_directory(self.scratch, tenant_id)

    def _stored(self, file: StoredFile, rows: int | None, fmt: str, schema: str | None) -> Manifest:
        return manifest(file.key, file.sha256, file.bytes, rows, fmt, schema)

    def _write(self, table: pa.Table, tenant_id: str, stage: str) -> Manifest:
        """Writes a table as Parquet (deterministic bytes for the same table) into a stage."""
        with self._workdir(tenant_id) as work:
            path = work / "table.parquet"
            pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)
            stored = self.store.put_file(path, tenant_id, stage, ".parquet")
        return self._stored(stored, table.num_rows, "parquet", fingerprint(table.schema))

    def normalize(self, tenant_id: str, raw: Manifest, target: Target) -> Normalization:
        with (
            self._workdir(tenant_id) as work,
            self.store.verified(raw["key"], raw["sha256"]) as path,
        ):
            malformed: list[MalformedRow] = []
            batches = self.bounds.watch(read_batches(path, raw["format"], malformed=malformed.append), raw["bytes"])
            try:
                out = normalize(batches, target.object, target.rules, work, malformed)
            except FormatError as error:  # unreadable, or past a bound: the same bytes fail the same way again
                raise UnprocessableBatchError(str(error)) from error
            counts = {"rows_in": out.rows_in, "rows_out": out.rows_out, "rejected": out.rejected}
            counts["duplicates"] = out.duplicates
            quarantine = None
            if out.quarantine_path is not None:
                stored = self.store.put_file(out.quarantine_path, tenant_id, "quarantine", ".parquet")
                quarantine = self._stored(stored, out.rejected, "parquet", None)
            gdp = None
            if out.rows_out and not out.failures:
                stored = self.store.put_file(out.gdp_path, tenant_id, "gdp", ".parquet")
                gdp = self._stored(stored, out.rows_out, "parquet", out.schema_fingerprint)
        quality = [r.to_json() for r in out.quality]
        return Normalization(gdp, quarantine, counts, quality, list(out.failures))

    def _golden(self, gdp: list[Manifest], target: Target) -> pa.Table:
        tables = [self.tables.load(file) for file in gdp]
        return kpi_build.latest_rows(tables, target.object["primary_key"])

    def build_kpis(self, tenant_id: str, gdp: list[Manifest], target: Target) -> KpiBuild:
        table = kpi_build.build_kpis(self._golden(gdp, target), target.kpis)
        written = self._write(table, tenant_id, "kpi")
        return KpiBuild(written, table.num_rows, kpi_build.summarize(table))

    def publish(self, tenant_id: str, kpis: Manifest, gdp: list[Manifest], target: Target) -> list[Dataset]:
        personal = personal_fields(target.object)
        salt = self.salt_for(tenant_id)
        datasets = [self._dataset("kpis", self.tables.load(kpis), kpis, personal, salt, tenant_id)]
        if gdp:
            golden = self._golden(gdp, target)
            source = self._write(golden, tenant_id, "gdp")
            datasets.append(self._dataset("gdp", golden, source, personal, salt, tenant_id))
        return datasets

    def _dataset(
        self, name: str, table: pa.Table, source: Manifest, personal: list[str], salt: bytes, tenant_id: str
    ) -> Dataset:
        masked = [f for f in personal if f in table.column_names]
        served_table = mask(table, masked, salt) if masked else table
        served = self._write(served_table, tenant_id, "published")
        return Dataset(name=name, served=served, source=source, columns=columns_of(served_table.schema), masked=masked)

    def export(
        self, tenant_id: str, dataset: Dataset, fmt: str, filters: list[list[str]], raw_formulas: bool = False
    ) -> tuple[Manifest, int]:
        table = self.tables.load(dataset["served"])
        query = rows.parse_query([(name, value) for name, value in filters], table.schema, dataset["served"]["sha256"])
        selected = table.take(rows.matching_rows(table, query.filters)) if query.filters else table
        if query.fields is not None:
            selected = selected.select(query.fields)
        media, suffix = EXPORT_MEDIA[fmt]
        data = encode(selected, media, raw_formulas)
        with self._workdir(tenant_id) as work:
            path = work / f"export{suffix}"
            with io.FileIO(path, "w") as out:
                out.write(data)
            stored = self.store.put_file(path, tenant_id, "exports", suffix)
        return self._stored(stored, selected.num_rows, fmt, fingerprint(selected.schema)), selected.num_rows


def tenant_salts(secret: bytes) -> Callable[[str], bytes]:
    """A masking salt per tenant, derived from one platform secret: equal values stay equal within a tenant only."""

    def salt_for(tenant_id: str) -> bytes:
        return hmac.new(secret, f"masking|{tenant_id}".encode(), hashlib.sha256).digest()

    return salt_for
