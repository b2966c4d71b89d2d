"""The orchestrator over the in-memory event store with a fake compute: the order of the steps, retries with
backoff, dead letters, denied steps, KPI builds over every earlier batch, and a restart from the checkpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from application.pipeline import UnprocessableBatchError
from domain.deadletters import DeadLetter
from domain.pipeline import PipelineRun
from tests.unit.pipeline_world import TENANT, World, digest, file, world


@pytest.fixture
def pipeline() -> Iterator[World]:
    made = world()
    made.approve()
    yield made
    made.store.close()


def run_events(w: World, run_id: object) -> list[str]:
    return [type(r.event).__name__ for r in w.store.read_stream(run_id)]  # type: ignore[arg-type]


def test_a_batch_is_normalized_then_its_kpis_built_then_published(pipeline: World) -> None:
    run_id = pipeline.ingest("b1")

    assert pipeline.orchestrator().catch_up() == 3

    assert [step for step, _ in pipeline.compute.calls] == ["normalize", "build_kpis", "publish"]
    assert run_events(pipeline, run_id) == ["Ingested", "Normalized", "KpisBuilt", "Published"]
    assert pipeline.pipeline.run(TENANT, run_id).status == "succeeded"


def test_a_failing_step_is_retried_with_backoff_then_succeeds(pipeline: World) -> None:
    pipeline.compute.failures["build_kpis"] = [OSError("disk busy"), OSError("disk busy")]
    run_id = pipeline.ingest("b1")

    pipeline.orchestrator().catch_up()

    failed = pipeline.events(PipelineRun.StepFailed)
    assert [(f.step, f.attempt, f.retry_in) for f in failed] == [("build_kpis", 1, 0.5), ("build_kpis", 2, 1.0)]
    assert pipeline.sleeps == [0.5, 1.0]
    assert pipeline.pipeline.run(TENANT, run_id).status == "succeeded"
    assert pipeline.events(DeadLetter.Recorded) == []


def test_a_step_that_keeps_failing_is_dead_lettered_once(pipeline: World) -> None:
    pipeline.compute.failures["normalize"] = [OSError("gone")] * 5
    run_id = pipeline.ingest("b1")
    orchestrator = pipeline.orchestrator()

    orchestrator.catch_up()
    orchestrator.catch_up()

    assert [step for step, _ in pipeline.compute.calls] == ["normalize"] * 3
    [dead] = pipeline.events(PipelineRun.DeadLettered)
    assert (dead.step, dead.attempts) == ("normalize", 3)
    [letter] = pipeline.events(DeadLetter.Recorded)
    assert (letter.source, letter.subject, letter.step, letter.attempts) == ("pipeline", str(run_id), "normalize", 3)
    assert pipeline.pipeline.run(TENANT, run_id).status == "dead-lettered"


def test_an_input_that_can_never_be_processed_gets_one_attempt(pipeline: World) -> None:
    pipeline.compute.failures["normalize"] = [UnprocessableBatchError("not a CSV file")]
    pipeline.ingest("b1")

    pipeline.orchestrator().catch_up()

    assert [f.attempt for f in pipeline.events(PipelineRun.StepFailed)] == [1]
    assert pipeline.sleeps == []
    [letter] = pipeline.events(DeadLetter.Recorded)
    assert "not a CSV file" in letter.error


def test_a_refused_step_ends_the_run_denied_without_retry_or_dead_letter(pipeline: World) -> None:
    asked: list[tuple[str, str]] = []

    def refuse_kpis(tenant_id: str, action: str) -> list[str]:
        asked.append((tenant_id, action))
        return ["the tenant is suspended"] if action == "build_kpis" else []

    run_id = pipeline.ingest("b1")
    pipeline.orchestrator(authorize_step=refuse_kpis).catch_up()

    assert asked == [(TENANT, "normalize_batch"), (TENANT, "build_kpis")]
    [denied] = pipeline.events(PipelineRun.StepDenied)
    assert (denied.step, denied.reasons) == ("build_kpis", ["the tenant is suspended"])
    assert pipeline.pipeline.run(TENANT, run_id).status == "denied"
    assert [step for step, _ in pipeline.compute.calls] == ["normalize"]
    assert pipeline.events(PipelineRun.StepFailed) == []
    assert pipeline.events(DeadLetter.Recorded) == []


def test_kpis_are_built_over_every_earlier_batch_also_after_a_restart(pipeline: World) -> None:
    for name in ("b1", "b2"):
        pipeline.ingest(name)
    first = pipeline.orchestrator()
    first.catch_up()

    restarted = pipeline.orchestrator()
    pipeline.ingest("b3")
    restarted.catch_up()

    g1, g2, g3 = (file("gdp", digest(name))["sha256"] for name in ("b1", "b2", "b3"))
    assert pipeline.compute.kpi_inputs == [[g1], [g1, g2], [g1, g2, g3]]
    assert restarted.steps.facts == []


def test_a_restarted_orchestrator_resumes_from_its_checkpoint(pipeline: World) -> None:
    pipeline.ingest("b1")
    pipeline.orchestrator().catch_up()

    restarted = pipeline.orchestrator()

    assert restarted.follower.read() == 0  # nothing past the checkpoint: the log is not read again
    assert restarted.catch_up() == 0
    assert len(pipeline.compute.calls) == 3
