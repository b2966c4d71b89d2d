"""Exports: the process manager that writes the file of each requested export.

It keeps in memory only the exports not yet completed or failed. The export is recorded under a command id
derived from it, and an export that is no longer ``requested`` is left alone, so a request seen twice (a restart
from an older checkpoint) writes nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from application.checkpoints import Fact
from application.commands import CommandContext
from application.pipeline import PipelineCompute, PipelineService
from domain.exports import Export
from domain.values import ExportStatus, TenantId, tenant_id_of
from eventstore.envelope import RecordedEvent

log = logging.getLogger(__name__)
ACTOR = "system:orchestrator"


class Exports:
    """Makes the file of each export requested, in request order."""

    name = "exports"

    def __init__(self, pipeline: PipelineService, compute: PipelineCompute) -> None:
        self.pipeline = pipeline
        self.compute = compute
        self.requested: dict[UUID, tuple[str, int]] = {}
        """Exports to make: their tenant and the position of their request."""

    def see(self, recorded: RecordedEvent) -> None:
        event, export_id = recorded.event, recorded.event.originator_id
        match event:
            case Export.Requested():
                self.requested[export_id] = (event.tenant_id, recorded.position)
            case Export.Completed() | Export.Failed():
                self.requested.pop(export_id, None)

    def saved(self) -> dict[str, Any]:
        return {str(export_id): list(request) for export_id, request in self.requested.items()}

    def restore(self, state: dict[str, Any]) -> None:
        self.requested = {UUID(export_id): (tenant, int(at)) for export_id, (tenant, at) in state.items()}

    def new_facts(self) -> list[Fact]:
        return []

    def work(self) -> int:
        """Makes every requested export, oldest first; the number made."""
        return sum(self.handle(export_id) for export_id in sorted(self.requested, key=lambda e: self.requested[e][1]))

    def handle(self, export_id: UUID) -> int:
        """Makes the export, if it is still to be made; 1 when it was (completed or failed), else 0."""
        request = self.requested.get(export_id)
        if request is None:
            return 0
        made = self.export(tenant_id_of(request[0]), export_id)
        self.requested.pop(export_id, None)  # after: an export that raised is tried again at the next pass
        return made

    def export(self, tenant_id: TenantId, export_id: UUID) -> int:
        job = self.pipeline.export(tenant_id, export_id)
        if job.status != ExportStatus.REQUESTED:
            return 0
        context = CommandContext(ACTOR, f"{export_id}|complete", str(export_id), str(export_id))
        try:
            product = self.pipeline.product(tenant_id, job.product)
            dataset = next(d for d in product.served(job.product_version) if d["name"] == job.dataset)
            file, rows = self.compute.export(tenant_id, dataset, job.format, job.filters, job.csv_formulas == "raw")
        except Exception as error:  # an export that cannot be made is recorded as failed, with why
            log.warning("export %s failed: %s", export_id, error)
            message = f"{type(error).__name__}: {error}"
            self.pipeline.record_export(context, export_id, lambda e: e.fail(message))
            return 1
        inputs = [dataset["served"]]
        self.pipeline.record_export(context, export_id, lambda e: e.complete(inputs, file, rows))
        return 1
