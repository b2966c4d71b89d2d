"""Orchestration: four process managers over one read of the log per pass.

``PipelineSteps`` drives each run raw -> normalized -> KPIs -> published, ``Exports`` writes export files,
``DeadLetterForwarding`` gives dead-lettered steps their dead letters and ``Compensations`` retracts versions whose
required notification failed (``application/process_managers/``). Each keeps its own checkpoint and only its
unfinished work; one ``Follower`` reads the log for all four and saves their checkpoints after each pass. Saving
after the effects are recorded is safe: every effect is an idempotent command under an id derived from its cause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from application.checkpoints import Checkpoints, MemoryCheckpoints
from application.deadletters import DeadLetterService
from application.following import Background, Follower, ProcessManager
from application.pipeline import PipelineCompute, PipelineService
from application.process_managers.compensations import Compensations
from application.process_managers.dead_letters import DeadLetterForwarding
from application.process_managers.exports import Exports
from application.process_managers.pipeline_steps import AuthorizeStep, PipelineSteps, allow_every_step
from eventstore.port import EventStore


class Orchestrator:
    """Runs pending pipeline steps, export jobs, dead-letter forwarding and compensations as the log says."""

    def __init__(
        self,
        store: EventStore,
        pipeline: PipelineService,
        compute: PipelineCompute,
        dead_letters: DeadLetterService,
        clock: Callable[[], datetime],
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        authorize_step: AuthorizeStep = allow_every_step,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        checkpoints = checkpoints if checkpoints is not None else MemoryCheckpoints()
        self.steps = PipelineSteps(pipeline, compute, checkpoints, clock, attempts, backoff, sleep, authorize_step)
        self.exports = Exports(pipeline, compute)
        self.letters = DeadLetterForwarding(dead_letters)
        self.compensations = Compensations(store, pipeline)
        members: list[ProcessManager] = [self.letters, self.compensations, self.steps, self.exports]
        self.follower = Follower(store, members, checkpoints, unit_of_work=pipeline.runner.unit_of_work)
        self._background = Background("orchestrator", self.catch_up, interval=0.2)

    def catch_up(self) -> int:
        """Reads the log to its end and does everything that is due; the number of steps and jobs done."""
        return self.follower.catch_up()

    def handle(self, stream_id: UUID) -> int:
        """Does the work one event points at (its run's due steps, or its export), as a work-queue consumer does
        when several processes share the events: the log is read to its end first, so the state is current."""
        with self.follower.lock, self.follower.unit_of_work() as unit:
            self.follower.read()
            done = self.letters.work() + self.compensations.work()
            done += self.steps.handle(stream_id) + self.exports.handle(stream_id)
            self.follower.read_on(self.follower.written(unit))
            done += self.letters.work()
            self.follower.save()
            return done

    def start(self) -> None:
        """Catches up every 0.2 s on a thread of its own until stopped."""
        self._background.start()

    def stop(self) -> None:
        self._background.stop()
