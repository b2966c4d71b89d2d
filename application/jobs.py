"""The jobs a schedule can run: the port the scheduler calls (one method per kind) and the platform's binding.

A job runs under a command context derived from its run (``<run id>|<kind>``), so whatever it records is
recorded once even when the run is retaken after a crash: a scheduled export, for instance, is the export named
by that command id. A job returns references to what it did (ids, versions), never data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from application.commands import CommandContext
from application.pipeline import PipelineService
from application.tenants import TenantService
from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.values import ProductVersionStatus, TenantId, TenantStatus


class TenantNotActiveError(ConflictError):
    """The tenant is suspended or offboarded: its scheduled jobs do not run."""


class JobUnavailableError(ConflictError):
    """This platform has nothing wired to run this kind of job."""


@dataclass(frozen=True)
class JobCall:
    """One run of a job: whose, which schedule and slot, and the command context its effects are recorded under."""

    tenant_id: TenantId
    schedule_id: UUID
    run_id: UUID
    slot: datetime
    context: CommandContext


class JobRunner(Protocol):
    """What each kind of job does. Each returns a small dict of references, recorded with the run's success."""

    def rebuild_kpis(self, call: JobCall, contract: str) -> dict[str, Any]: ...

    def export(
        self, call: JobCall, product: str, version: int | None, dataset: str, fmt: str, filters: list[list[str]]
    ) -> dict[str, Any]: ...

    def checkpoint_ledger(self, call: JobCall) -> dict[str, Any]: ...


def perform(jobs: JobRunner, call: JobCall, job: dict[str, Any]) -> dict[str, Any]:
    """Runs the job (its stored form, as ``domain.schedules.check_job`` gives it) through the runner; its outcome
    as plain JSON values (anything else as text), fit for an event."""
    return _plain(_dispatch(jobs, call, job))


def _dispatch(jobs: JobRunner, call: JobCall, job: dict[str, Any]) -> dict[str, Any]:
    match job["kind"]:
        case "kpi_rebuild":
            return jobs.rebuild_kpis(call, job["contract"])
        case "export":
            filters = [[name, value] for name, value in job["filters"].items()]
            return jobs.export(call, job["product"], job["version"], job["dataset"], job["format"], filters)
        case "ledger_checkpoint":
            return jobs.checkpoint_ledger(call)
    raise InvalidValueError(f"unknown job kind {job['kind']!r}")


def _plain(outcome: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(outcome, default=str))
    return plain


RebuildKpis = Callable[[JobCall, str], dict[str, Any]]
CheckpointLedger = Callable[[JobCall], dict[str, Any]]


class PlatformJobs:
    """The platform's jobs: exports through PipelineService; KPI rebuilds and ledger checkpoints through the
    callables the composition root gives (a kind it gives none for fails its runs, saying so). Jobs of a tenant
    that is not active are refused: the run fails with why."""

    def __init__(
        self,
        pipeline: PipelineService,
        tenants: TenantService,
        rebuild_kpis: RebuildKpis | None = None,
        checkpoint_ledger: CheckpointLedger | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.tenants = tenants
        self._rebuild_kpis = rebuild_kpis
        self._checkpoint_ledger = checkpoint_ledger

    def _require_active(self, call: JobCall) -> None:
        tenant = self.tenants.current_tenant(call.tenant_id)
        status = "gone" if tenant is None else tenant.status
        if status != TenantStatus.ACTIVE:
            raise TenantNotActiveError(f"tenant {call.tenant_id} is {status}: its scheduled jobs do not run")

    def rebuild_kpis(self, call: JobCall, contract: str) -> dict[str, Any]:
        self._require_active(call)
        if self._rebuild_kpis is None:
            raise JobUnavailableError("KPI rebuilds are not available on this platform")
        return self._rebuild_kpis(call, contract)

    def export(
        self, call: JobCall, product: str, version: int | None, dataset: str, fmt: str, filters: list[list[str]]
    ) -> dict[str, Any]:
        """Requests the export (the orchestrator writes the file); ``version`` None is the latest served one."""
        self._require_active(call)
        chosen = version if version is not None else self._latest(call.tenant_id, product)
        result = self.pipeline.request_export(call.context, call.tenant_id, product, chosen, dataset, fmt, filters)
        return {"export_id": str(result.aggregate_id), "product": product, "version": chosen, "dataset": dataset}

    def checkpoint_ledger(self, call: JobCall) -> dict[str, Any]:
        self._require_active(call)
        if self._checkpoint_ledger is None:
            raise JobUnavailableError("ledger checkpoints are not available on this platform")
        return self._checkpoint_ledger(call)

    def _latest(self, tenant_id: TenantId, product: str) -> int:
        found = self.pipeline.product(tenant_id, product)
        served = [number for number, status in found.versions.items() if status == ProductVersionStatus.PUBLISHED]
        if not served:
            raise NotFoundError(f"product {product} has no version being served")
        return max(served)
