"""Pipeline steps are authorized: a tenant suspended while its run is between steps sees the run stop with a
StepDenied event (status "denied"), not an error, a retry or a dead letter. The orchestrator asks the platform's
one authorization path (Cedar, as the platform acting for the tenant, against the tenant as its events say now)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from litestar.testing import TestClient

from application.commands import CommandContext
from application.orchestrator import Orchestrator
from application.pipeline import Normalization, PipelineCompute, Target
from domain.deadletters import DeadLetter
from domain.pipeline import Manifest, PipelineRun
from interfaces.bootstrap import Platform, utc_now
from tests.e2e.test_pipeline_api import api, approve_contract, people, sample_csv, tenant, upload

__all__ = ["api", "people", "tenant"]  # fixtures shared with the pipeline tests


class SuspendedDuringNormalize:
    """The platform's compute, with the tenant suspended by its admin while the batch is being normalized."""

    def __init__(self, compute: PipelineCompute, platform: Platform) -> None:
        self.compute = compute
        self.platform = platform

    def normalize(self, tenant_id: str, raw: Manifest, target: Target) -> Normalization:
        out = self.compute.normalize(tenant_id, raw, target)
        context = CommandContext("user:admin", "suspend-during-normalize", "suspend")
        self.platform.tenants.suspend_tenant(context, UUID(tenant_id), "invoice overdue")
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.compute, name)


def test_a_tenant_suspended_between_steps_stops_its_run_with_a_denial(
    api: TestClient, platform: Platform, tenant: str, people: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    approve_contract(api, tenant, people)
    landed = upload(api, tenant, sample_csv(tmp_path), people["data-engineer"])
    assert landed.status_code == 202, landed.text
    run_id = landed.json()["run_id"]
    compute = SuspendedDuringNormalize(platform.compute, platform)
    authorize = platform.authorization.authorize_step
    orchestrator = Orchestrator(
        platform.store, platform.pipeline, compute, platform.dead_letters, utc_now, authorize_step=authorize
    )

    orchestrator.catch_up()
    platform.worker.catch_up()

    history = [r.event for r in platform.store.read_stream(UUID(run_id))]
    assert [type(e).__name__ for e in history] == ["Ingested", "Normalized", "StepDenied"]
    denied = history[-1]
    assert isinstance(denied, PipelineRun.StepDenied)
    assert denied.step == "build_kpis"
    assert denied.reasons[0] == "the tenant is suspended, so it accepts no changes until it is reinstated"
    assert "forbidden by pipeline-steps-run-only-for-an-active-tenant" in denied.reasons
    run = api.get(f"/v1/tenants/{tenant}/runs/{run_id}")
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "denied"
    assert not [
        r
        for r in platform.store.read_all(0, 100_000)
        if isinstance(r.event, (DeadLetter.Event, PipelineRun.StepFailed))
    ]
    assert orchestrator.catch_up() == 0  # nothing is retried
