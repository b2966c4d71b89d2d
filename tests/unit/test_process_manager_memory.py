"""A process manager keeps only unfinished work: after 10,000 completed runs (1,000 published, 9,000 rejected by a
quality rule), the pipeline-steps manager holds no state for them, in memory or in its checkpoint; the golden data
that later KPI builds read is kept as facts beside the checkpoint."""

from __future__ import annotations

from application.checkpoints import MemoryCheckpoints
from domain.pipeline import PipelineRun
from tests.unit.pipeline_world import TENANT, world

CONTRACTS, PUBLISHED_ROUNDS, ROUNDS = 100, 10, 100


def test_after_ten_thousand_completed_runs_the_pipeline_steps_manager_holds_nothing_for_them() -> None:
    w = world()
    w.compute.remember = False
    keys = [f"c{n}" for n in range(CONTRACTS)]
    for key in keys:
        w.approve(key)
    orchestrator = w.orchestrator()
    for batch in range(ROUNDS):
        w.compute.reject = batch >= PUBLISHED_ROUNDS
        for key in keys:
            w.ingest(f"{key}-{batch}", key)
        orchestrator.catch_up()

    assert len(w.events(PipelineRun.Published)) + len(w.events(PipelineRun.Rejected)) == 10_000
    steps = orchestrator.steps
    assert steps.due == {}
    assert steps.open == {}
    assert steps.facts == []
    assert orchestrator.letters.letters == {}
    assert orchestrator.exports.requested == {}
    assert orchestrator.compensations.notifying == {}
    assert orchestrator.compensations.undelivered == {}
    checkpoints = w.checkpoints
    assert isinstance(checkpoints, MemoryCheckpoints)
    saved = checkpoints.load(steps.name)
    assert saved is not None
    assert saved.state == {"due": {}, "open": {}}
    assert len(checkpoints.facts(steps.name, f"{TENANT}|c7|1.0.0|orders")) == PUBLISHED_ROUNDS
    w.store.close()
