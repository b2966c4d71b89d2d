"""Following the log without reading what it wrote itself: after a round whose events directly follow the last read,
the follower hands them on as a read would; when another writer interleaved, it reads. The pipeline-steps manager
builds a run it saw ingested from the log and hands it to the pass's unit of work instead of reading its stream."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from application.commands import CommandContext
from application.pipeline import Normalization, Target
from application.process_managers.pipeline_steps import ACTOR
from domain.pipeline import Manifest, PipelineRun
from domain.values import tenant_id_of
from tests.unit.pipeline_world import TENANT, FakeCompute, World, file, world


@dataclass
class Reads:
    """The store's reads, counted as the flow benchmark counts them: streams read, and reads of the log to its end."""

    streams: list[UUID] = field(default_factory=list)
    scans: int = 0


def counted(w: World) -> Reads:
    reads, store = Reads(), w.store
    read_stream, read_all = store.read_stream, store.read_all

    def counted_stream(stream_id: UUID, after_version: int | None = None) -> Any:
        reads.streams.append(stream_id)
        return read_stream(stream_id, after_version)

    def counted_all(after: int, limit: int, until: int | None = None) -> Any:
        events = read_all(after, limit, until)
        reads.scans += len(events) < limit
        return events

    store.read_stream, store.read_all = counted_stream, counted_all  # type: ignore[method-assign]
    return reads


class MeanwhileCompute(FakeCompute):
    """The fake compute that, during the first normalization, lets another writer (a thread of its own, so in no
    unit of work of the orchestrator) do ``meanwhile`` before the step is recorded."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        super().__init__()
        self.meanwhile: Callable[[], object] | None = meanwhile

    def normalize(self, tenant_id: str, raw: Manifest, target: Target) -> Normalization:
        if self.meanwhile is not None:
            writer = threading.Thread(target=self.meanwhile)
            self.meanwhile = None
            writer.start()
            writer.join()
        return super().normalize(tenant_id, raw, target)


@pytest.fixture
def w() -> Iterator[World]:
    made = world()
    made.approve()
    yield made
    made.store.close()


def test_after_a_round_that_wrote_only_its_own_events_the_log_is_not_read_again(w: World) -> None:
    w.ingest("b1")
    orchestrator = w.orchestrator()
    reads = counted(w)

    assert orchestrator.catch_up() == 3

    assert reads.scans == 1
    end = w.store.last_position()
    assert set(orchestrator.follower.positions.values()) == {end}  # past its own events, as a read would be
    saved = w.checkpoints.load(orchestrator.steps.name)
    assert saved is not None
    assert saved.position == end


def test_when_another_writer_appended_between_its_events_the_follower_reads_and_sees_it(w: World) -> None:
    w.compute = MeanwhileCompute(lambda: w.ingest("b2"))
    first = w.ingest("b1")
    orchestrator = w.orchestrator()
    reads = counted(w)

    assert orchestrator.catch_up() == 6  # the batch that landed meanwhile is done in the same catch-up

    assert reads.scans == 2
    second = next(r.originator_id for r in w.events(PipelineRun.Ingested) if r.originator_id != first)
    for run_id in (first, second):
        assert w.pipeline.run(tenant_id_of(TENANT), run_id).status == "succeeded"
    assert set(orchestrator.follower.positions.values()) == {w.store.last_position()}


def test_a_run_seen_ingested_is_built_from_the_log_not_read_from_its_stream(w: World) -> None:
    run_id = w.ingest("b1")
    orchestrator = w.orchestrator()
    reads = counted(w)

    orchestrator.catch_up()

    assert run_id not in reads.streams
    assert w.pipeline.run(tenant_id_of(TENANT), run_id).status == "succeeded"
    assert orchestrator.steps.whole == {}


def test_a_run_due_at_a_restart_is_read_from_its_stream(w: World) -> None:
    run_id = w.ingest("b1")
    first = w.orchestrator()
    first.follower.read()  # the run is due, and that is all the checkpoint says of it
    first.follower.save()
    restarted = w.orchestrator()
    reads = counted(w)

    assert restarted.catch_up() == 3

    assert reads.streams.count(run_id) == 1


def test_a_run_another_orchestrator_moved_on_after_the_read_is_read_again_and_not_stepped_twice(w: World) -> None:
    def normalized_elsewhere() -> None:
        [ingested] = w.events(PipelineRun.Ingested)
        run_id, raw = ingested.originator_id, ingested.raw
        done = CommandContext(ACTOR, f"{run_id}|normalize", str(run_id), str(run_id))
        counts = {"rows_in": 2, "rows_out": 2, "rejected": 0, "duplicates": 0}
        gdp = file("gdp", raw["sha256"])
        w.pipeline.record_step(done, run_id, lambda r: r.normalized(gdp, None, counts, [], "t1", "t2"))

    w.compute = MeanwhileCompute(normalized_elsewhere)
    run_id = w.ingest("b1")

    w.orchestrator().catch_up()

    events = [type(r.event).__name__ for r in w.store.read_stream(run_id)]
    assert events == ["Ingested", "Normalized", "KpisBuilt", "Published"]
    assert w.pipeline.run(tenant_id_of(TENANT), run_id).status == "succeeded"
