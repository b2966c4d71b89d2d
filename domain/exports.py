"""Exports: a product version (with filters) written to a file in the exports area, downloaded through a link
that expires. Requested, completed (or failed) and each download are events.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.pipeline import Manifest
from domain.values import ExportStatus, TenantId

EXPORT_NAMESPACE = UUID("c4b1e7a9-2d53-4f86-9e0a-71b3d5c8f260")
EXPORT_FORMATS = ("csv", "parquet", "arrow", "json")
MAX_FILTERS = 50
CSV_FORMULAS = ("neutralise", "raw")
"""How a CSV export writes text cells a spreadsheet would read as formulas: quoted with a leading ' (the default),
or as they are (``raw``, for consumers that are not spreadsheets)."""


def export_id_for(tenant_id: TenantId, command_id: str) -> UUID:
    """An export is named by the command that asked for it, so a retried request starts one job."""
    return uuid5(EXPORT_NAMESPACE, f"{tenant_id}|{command_id}")


class ExportNotReadyError(ConflictError):
    """The export has not completed (it is still running, or it failed)."""


class Export(Aggregate):
    class Requested(Aggregate.Created):
        tenant_id: TenantId
        product: str
        version: int
        dataset: str
        format: str
        filters: list[list[str]]
        by: str
        csv_formulas: str
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Exports requested before formulas were neutralised were written raw."""
            state["csv_formulas"] = "raw"

    class Completed(Aggregate.Event):
        inputs: list[Manifest]
        file: Manifest
        rows: int

    class Failed(Aggregate.Event):
        error: str

    class Downloaded(Aggregate.Event):
        by: str

    @classmethod
    def request(
        cls,
        tenant_id: TenantId,
        command_id: str,
        product: str,
        version: int,
        dataset: str,
        fmt: str,
        filters: list[list[str]],
        by: str,
        csv_formulas: str = "neutralise",
    ) -> Export:
        if fmt not in EXPORT_FORMATS:
            raise InvalidValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
        if csv_formulas not in CSV_FORMULAS:
            msg = f"csv_formulas must be one of {', '.join(CSV_FORMULAS)}"
            raise InvalidValueError(msg, field="/csv_formulas")
        if len(filters) > MAX_FILTERS or any(len(pair) != 2 for pair in filters):
            raise InvalidValueError(f"filters are up to {MAX_FILTERS} [parameter, value] pairs")
        return cls._create(
            cls.Requested,
            id=export_id_for(tenant_id, command_id),
            tenant_id=tenant_id,
            product=product,
            version=version,
            dataset=dataset,
            format=fmt,
            filters=filters,
            by=by,
            csv_formulas=csv_formulas,
        )

    def __init__(
        self,
        tenant_id: TenantId,
        product: str,
        version: int,
        dataset: str,
        format: str,
        filters: list[list[str]],
        by: str,
        csv_formulas: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.product = product
        self.product_version = version
        self.dataset = dataset
        self.format = format
        self.filters = filters
        self.csv_formulas = csv_formulas
        self.status = ExportStatus.REQUESTED
        self.file: Manifest | None = None

    def complete(self, inputs: list[Manifest], file: Manifest, rows: int) -> None:
        if self.status != ExportStatus.REQUESTED:
            return
        self._completed(inputs, file, rows)

    @event(Completed)
    def _completed(self, inputs: list[Manifest], file: Manifest, rows: int) -> None:
        self.status = ExportStatus.COMPLETED
        self.file = file

    def fail(self, error: str) -> None:
        if self.status != ExportStatus.REQUESTED:
            return
        self._failed(error[:2000])

    @event(Failed)
    def _failed(self, error: str) -> None:
        self.status = ExportStatus.FAILED

    def download(self, by: str) -> Manifest:
        if self.status != ExportStatus.COMPLETED or self.file is None:
            raise ExportNotReadyError(f"export {self.id} is {self.status}")
        self._downloaded(by)
        return self.file

    @event(Downloaded)
    def _downloaded(self, by: str) -> None:
        pass
