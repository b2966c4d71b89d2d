"""The platform's jobs over the in-memory event store: a scheduled export names the latest served version and is
requested once per run; jobs of an inactive tenant, or of a kind nothing is wired for, are refused with why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.commands import CommandContext, CommandRunner
from application.contracts import ContractService
from application.jobs import JobCall, JobUnavailableError, PlatformJobs, TenantNotActiveError, perform
from application.pipeline import PipelineService, Target
from application.tenants import TenantService
from domain.errors import NotFoundError
from domain.exports import Export
from domain.pipeline import manifest
from domain.products import Dataset
from domain.schedules import check_job
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


@pytest.fixture
def runner(store: RecorderEventStore) -> CommandRunner:
    return CommandRunner(store, lambda: NOW)


@pytest.fixture
def pipeline(runner: CommandRunner) -> PipelineService:
    return PipelineService(runner, ContractService(runner))


@pytest.fixture
def tenants(runner: CommandRunner) -> TenantService:
    return TenantService(runner)


def context(command_id: str | None = None) -> CommandContext:
    return CommandContext("user:erin", command_id or f"cmd-{uuid4()}", "corr")


@pytest.fixture
def tenant_id(tenants: TenantService) -> str:
    return str(tenants.onboard_tenant(context(), "retail", "Retail Co", "standard").aggregate_id)


def publish(pipeline: PipelineService, tenant_id: str, versions: int) -> None:
    target = Target(tenant_id, "retail-sales", "1.0.0", {"name": "sales"}, [], [], "Retail", None, None, False)  # type: ignore[typeddict-item]
    served = manifest("kpis.parquet", "ab" * 32, 10, 5, "parquet")
    dataset = Dataset(name="kpis", served=served, source=served, columns=[], masked=[])
    for _ in range(versions):
        pipeline.publish(context(), target, uuid4(), [dataset], [])


def call(tenant_id: str, run_id: UUID | None = None) -> JobCall:
    run_id = run_id or uuid4()
    return JobCall(tenant_id, uuid4(), run_id, NOW, CommandContext("system:scheduler", f"{run_id}|job", str(run_id)))


def test_a_scheduled_export_requests_the_latest_served_version_once_per_run(
    pipeline: PipelineService, tenants: TenantService, tenant_id: str, store: RecorderEventStore
) -> None:
    publish(pipeline, tenant_id, versions=3)
    pipeline.retract(context(), tenant_id, "retail-sales", 3, "wrong feed")
    jobs = PlatformJobs(pipeline, tenants)
    job = check_job({"kind": "export", "product": "retail-sales", "format": "json", "filters": {"kpi": "orders"}})
    run = call(tenant_id)
    outcome = perform(jobs, run, job)
    assert (outcome["product"], outcome["version"], outcome["dataset"]) == ("retail-sales", 2, "kpis")
    assert perform(jobs, run, job) == outcome  # the run again (retaken after a crash): the same export
    [requested] = [r.event for r in store.read_all(0, 100) if isinstance(r.event, Export.Requested)]
    assert str(requested.originator_id) == outcome["export_id"]
    assert (requested.version, requested.format, requested.filters) == (2, "json", [["kpi", "orders"]])
    pinned = perform(jobs, call(tenant_id), job | {"version": 1})
    assert pinned["version"] == 1
    assert pinned["export_id"] != outcome["export_id"]


def test_an_export_of_a_product_with_nothing_served_fails(
    pipeline: PipelineService, tenants: TenantService, tenant_id: str
) -> None:
    job = check_job({"kind": "export", "product": "retail-sales"})
    with pytest.raises(NotFoundError, match="no such product"):
        perform(PlatformJobs(pipeline, tenants), call(tenant_id), job)
    publish(pipeline, tenant_id, versions=1)
    pipeline.retract(context(), tenant_id, "retail-sales", 1, "wrong feed")
    with pytest.raises(NotFoundError, match="no version being served"):
        perform(PlatformJobs(pipeline, tenants), call(tenant_id), job)


def test_kinds_go_to_the_callables_wired_for_them_and_fail_without(
    pipeline: PipelineService, tenants: TenantService, tenant_id: str
) -> None:
    seen: list[Any] = []
    wired = PlatformJobs(
        pipeline,
        tenants,
        rebuild_kpis=lambda c, contract: seen.append(("kpi", contract)) or {"contract": contract},
        checkpoint_ledger=lambda c: seen.append(("ledger", c.tenant_id)) or {"tree_size": 7},
    )
    assert perform(wired, call(tenant_id), {"kind": "kpi_rebuild", "contract": "retail-sales"}) == {
        "contract": "retail-sales"
    }
    assert perform(wired, call(tenant_id), {"kind": "ledger_checkpoint"}) == {"tree_size": 7}
    assert seen == [("kpi", "retail-sales"), ("ledger", tenant_id)]
    bare = PlatformJobs(pipeline, tenants)
    with pytest.raises(JobUnavailableError, match="KPI rebuilds"):
        perform(bare, call(tenant_id), {"kind": "kpi_rebuild", "contract": "retail-sales"})
    with pytest.raises(JobUnavailableError, match="ledger checkpoints"):
        perform(bare, call(tenant_id), {"kind": "ledger_checkpoint"})


def test_jobs_of_a_tenant_that_is_not_active_are_refused(
    pipeline: PipelineService, tenants: TenantService, tenant_id: str
) -> None:
    seen: list[str] = []
    jobs = PlatformJobs(pipeline, tenants, rebuild_kpis=lambda c, contract: seen.append(contract) or {})
    tenants.suspend_tenant(context(), UUID(tenant_id), "unpaid invoice")
    with pytest.raises(TenantNotActiveError, match="suspended"):
        perform(jobs, call(tenant_id), {"kind": "kpi_rebuild", "contract": "retail-sales"})
    with pytest.raises(TenantNotActiveError, match="gone"):
        perform(jobs, call(str(uuid4())), {"kind": "kpi_rebuild", "contract": "retail-sales"})
    assert seen == []


def test_an_outcome_is_made_plain_json_for_its_event(
    pipeline: PipelineService, tenants: TenantService, tenant_id: str
) -> None:
    run_id = uuid4()
    jobs = PlatformJobs(pipeline, tenants, rebuild_kpis=lambda c, contract: {"run": run_id, "at": NOW, "rows": 3})
    outcome = perform(jobs, call(tenant_id), {"kind": "kpi_rebuild", "contract": "retail-sales"})
    assert outcome == {"run": str(run_id), "at": str(NOW), "rows": 3}
