"""Export jobs: what was asked for, by whom, and the file it produced (or why it failed), with downloads."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Integer, String, Table, Text, select

from domain.exports import Export
from domain.values import ExportStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata, plain

exports = Table(
    "exports",
    metadata,
    Column("export_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("product", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("dataset", String(16), nullable=False),
    Column("format", String(16), nullable=False),
    Column("filters", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", String(40), nullable=False),
    Column("completed_at", String(40)),
    Column("file", JSON),
    Column("rows", BigInteger),
    Column("error", Text),
    Column("downloads", Integer, nullable=False),
    Column("last_downloaded_at", String(40)),
    Column("position", BigInteger, nullable=False),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    if not isinstance(event, Export.Event):
        return []
    at = recorded.recorded_at.isoformat()
    key = {"export_id": str(event.originator_id)}
    stamp = {"position": recorded.position}
    match event:
        case Export.Requested():
            row = {
                "tenant_id": event.tenant_id,
                "product": event.product,
                "version": event.version,
                "dataset": event.dataset,
                "format": event.format,
                "filters": event.filters,
                "status": ExportStatus.REQUESTED,
                "requested_by": event.by,
                "requested_at": at,
                "downloads": 0,
            }
            return [Upsert(exports, key, row | stamp)]
        case Export.Completed():
            done = {"status": ExportStatus.COMPLETED, "completed_at": at, "file": dict(event.file), "rows": event.rows}
            return [Update(exports, key, done | stamp)]
        case Export.Failed():
            return [
                Update(exports, key, {"status": ExportStatus.FAILED, "completed_at": at, "error": event.error} | stamp)
            ]
        case Export.Downloaded():
            # Downloads are counted by the stream's version: Requested, Completed, then one event per download.
            downloads = {"downloads": event.originator_version - 1, "last_downloaded_at": at}
            return [Update(exports, key, downloads | stamp)]
    return []


projection = Projection("exports", (exports,), evolve)


class ExportView(msgspec.Struct, omit_defaults=True):
    """An export job as the API shows it; a completed one also carries its signed download link (the only fields
    left out while they are unset)."""

    export_id: str
    tenant_id: str
    product: str
    version: int
    dataset: str
    format: str
    filters: list[list[str]]
    status: str
    requested_by: str
    requested_at: str
    completed_at: str | None
    file: dict[str, Any] | None
    rows: int | None
    error: str | None
    downloads: int
    last_downloaded_at: str | None
    download_url: str | None = None
    download_expires_at: int | None = None


class ExportQueries:
    """The exports read model, read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest(self, tenant_id: str, limit: int) -> list[ExportView]:
        """A tenant's exports, newest first."""
        query = select(exports).where(exports.c.tenant_id == tenant_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(exports.c.position.desc()).limit(limit)).mappings().all()
        return [msgspec.convert(plain(row), ExportView) for row in rows]

    def export(self, tenant_id: str, export_id: str) -> ExportView | None:
        query = select(exports).where(exports.c.tenant_id == tenant_id, exports.c.export_id == export_id)
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else msgspec.convert(plain(row), ExportView)
