"""The raw stage as ingestion sees it (``application.ingestion.RawStore``): a staging file per batch, landed at
its content-addressed key under ``<tenant>/raw/``."""

from __future__ import annotations

from pathlib import Path

from adapters.datasets.formats import SUFFIX
from adapters.datasets.store import DatasetStore, StoredFile, Upload


class StagedBatch:
    """A batch being received; leaving it discards the staging file unless it has landed."""

    def __init__(self, datasets: DatasetStore, upload: Upload, tenant_id: str) -> None:
        self.datasets = datasets
        self.upload = upload
        self.tenant_id = tenant_id

    @property
    def path(self) -> Path:
        return self.upload.path

    @property
    def size(self) -> int:
        return self.upload.bytes

    def write(self, chunk: bytes) -> None:
        self.upload.write(chunk)

    def finish(self) -> None:
        self.upload.finish()

    def land(self, fmt: str) -> StoredFile:
        return self.datasets.land(self.upload, self.tenant_id, "raw", SUFFIX[fmt])

    def __enter__(self) -> StagedBatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.upload.landed:
            self.upload.discard()


class RawBatches:
    """Receives batches into staging files under scratch and lands them in the raw stage."""

    def __init__(self, datasets: DatasetStore) -> None:
        self.datasets = datasets

    def receive(self, tenant_id: str, max_bytes: int) -> StagedBatch:
        return StagedBatch(self.datasets, self.datasets.receive(max_bytes, tenant_id), tenant_id)
