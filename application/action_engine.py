"""The action engine: the process manager that turns KPI builds into action runs and delivers their steps.

It follows the event log from its checkpoint (``application.following``): the playbooks as of each build, each
KPI series, what runs have work; finished runs are forgotten. Saving the checkpoint after the effects is safe, as
every effect is an idempotent command under an id derived from its cause. Triggers are found by ``TriggerFinder`` and
recorded under run ids derived from playbook, KPI version and dimensions: a replayed build finds its run and
starts nothing. Each run's steps go in order; a step that needs approval waits for a person (``ActionService``).

A step is rendered (sandboxed), its connector's secrets read at that moment, and sent through the ``ActionSender``
port with retries and exponential backoff; each failed attempt is an Attempted event, and the last (or the first
that cannot succeed by trying again: a template that does not render, a missing secret, a 4xx other than 429) a
Failed event, which becomes a dead letter (source ``action``). Attempts are recorded under command ids derived
from the run, step, revival and attempt, so a repeated pass records nothing twice; the receiver gets the same
idempotency key (run id and step) on every attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from application.action_triggers import Found, TriggerFinder, finder_from, finder_state
from application.actions import RENDERED_SETTINGS, ActionService, context_for
from application.checkpoints import Checkpoints, Fact
from application.commands import CommandContext
from application.following import Background, Follower
from application.webhook_dispatcher import DeadLetters
from domain.action_rules import secret_names
from domain.actions.runs import ActionRun, RunClosedError
from domain.deadletters import DeadLetter, dead_letter_id_for
from domain.errors import DomainError
from domain.values import TenantId, backoff_delay, tenant_id_of, tenant_id_or_none
from eventstore.codec import event_id_for
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

log = logging.getLogger(__name__)
ACTOR = "system:actions"


@dataclass(frozen=True)
class ActionRequest:
    """One delivery to make: the connector's settings, the secrets they name (read just now), the rendered body
    and templated settings, and the idempotency key the receiver sees on every attempt."""

    tenant_id: TenantId
    kind: str
    connector: Mapping[str, Any]
    secrets: Mapping[str, str]
    body: str
    rendered: Mapping[str, str]
    idempotency_key: str
    sent_at: datetime


@dataclass(frozen=True)
class ActionOutcome:
    """What came of one attempt; ``retryable`` False when trying again cannot help."""

    ok: bool
    status: int | None = None
    detail: str = ""
    retryable: bool = True


class ActionSender(Protocol):
    """Delivers one action; never raises for the target's faults (they are outcomes)."""

    def send(self, request: ActionRequest) -> ActionOutcome: ...


class Renderer(Protocol):
    """Renders a template in the sandbox; InvalidValueError for unknown variables or unsafe access."""

    def render(self, text: str, context: Mapping[str, Any]) -> str: ...


class SecretReader(Protocol):
    def reveal_secret(self, tenant_id: TenantId, name: str) -> str: ...


def _delivered(step: int, outcome: ActionOutcome) -> Callable[[ActionRun], None]:
    return lambda run: run.delivered(step, outcome.status, outcome.detail)


def _failed_attempt(step: int, outcome: ActionOutcome, delay: float | None) -> Callable[[ActionRun], None]:
    return lambda run: run.attempt_failed(step, outcome.status, outcome.detail, delay)


def step_label(step: int) -> str:
    """A step as dead letters name it (numbered from 1)."""
    return f"step-{step + 1}"


@dataclass(frozen=True)
class _Letter:
    """A failed run to report as a dead letter: the Failed event's id names the report, so it is made once."""

    event_id: str
    tenant_id: str | None
    run_id: str
    step: int
    error: str
    attempts: int


def _found(state: dict[str, Any]) -> Found:
    return Found(UUID(state["run_id"]), state["tenant_id"], state["trigger"], state["steps"], state["dimension_key"])


class ActionEngine:
    """Starts action runs as KPI builds call for them and delivers their steps.

    Its checkpoint holds the trigger finder's knowledge (playbooks, KPI series, runs that may still build KPIs),
    the runs with work due and the dead letters to report; finished runs leave no trace in it."""

    name = "action_engine"

    def __init__(
        self,
        store: EventStore,
        actions: ActionService,
        renderer: Renderer,
        sender: ActionSender,
        secrets: SecretReader,
        dead_letters: DeadLetters,
        clock: Callable[[], datetime],
        attempts: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.store, self.actions, self.renderer, self.sender = store, actions, renderer, sender
        self.secrets, self.dead_letters, self.clock = secrets, dead_letters, clock
        self.attempts, self.backoff, self.sleep = attempts, backoff, sleep
        self.finder = TriggerFinder()
        self.pending: list[Found] = []
        self.due: dict[UUID, str] = {}
        """Runs with a step to deliver, and their tenant."""
        self.letters: dict[UUID, _Letter] = {}
        self.follower = Follower(store, [self], checkpoints)
        self._background = Background("action-engine", self.catch_up, interval=0.5)

    # --- the state

    def see(self, recorded: RecordedEvent) -> None:
        event, stream = recorded.event, recorded.event.originator_id
        self.pending.extend(self.finder.see(event, tenant_id_or_none(recorded.metadata.tenant_id)))
        match event:
            case ActionRun.Triggered():
                self.due[stream] = event.tenant_id
            case ActionRun.StepApproved() | ActionRun.Revived():
                self.due[stream] = recorded.metadata.tenant_id or ""
            case ActionRun.StepAwaitingApproval() | ActionRun.StepRejected():
                self.due.pop(stream, None)
            case ActionRun.Failed():
                self.due.pop(stream, None)
                letter = _Letter(
                    recorded.event_id, recorded.metadata.tenant_id, str(stream), event.step, event.error, event.attempts
                )
                self.letters[dead_letter_id_for("action", str(stream), step_label(event.step))] = letter
            case DeadLetter.Recorded() | DeadLetter.Reopened():
                self.letters.pop(stream, None)

    def saved(self) -> dict[str, Any]:
        return {
            "finder": finder_state(self.finder),
            "pending": [asdict(found) | {"run_id": str(found.run_id)} for found in self.pending],
            "due": {str(run_id): tenant for run_id, tenant in self.due.items()},
            "letters": {str(letter_id): asdict(letter) for letter_id, letter in self.letters.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.finder = finder_from(state.get("finder", {}))
        self.pending = [_found(found) for found in state.get("pending", [])]
        self.due = {UUID(run_id): tenant for run_id, tenant in state.get("due", {}).items()}
        self.letters = {UUID(letter_id): _Letter(**letter) for letter_id, letter in state.get("letters", {}).items()}

    def new_facts(self) -> list[Fact]:
        return []

    # --- the work

    def catch_up(self) -> int:
        """Reads the log to its end, starts the runs it calls for and works every run with work due."""
        return self.follower.catch_up()

    def work(self) -> int:
        progressed = self._start_runs() + self._send_dead_letters()
        for run_id, tenant in list(self.due.items()):
            progressed += self.advance(tenant_id_of(tenant), run_id)
        return progressed

    def start(self) -> None:
        """Catches up every 0.5 s on a thread of its own until stopped."""
        self._background.start()

    def stop(self) -> None:
        self._background.stop()

    def _start_runs(self) -> int:
        started = 0
        pending, self.pending = self.pending, []
        for found in pending:
            cause = found.trigger["pipeline_run_id"]
            context = CommandContext(ACTOR, f"{found.run_id}|trigger", cause, cause)
            if self.actions.start_run(context, found) is not None:
                started += 1
        return started

    def _send_dead_letters(self) -> int:
        sent = 0
        for letter_id, letter in list(self.letters.items()):
            context = CommandContext(ACTOR, f"dead-letter|{letter.event_id}", letter.run_id, letter.run_id)
            cause = (str(event_id_for(UUID(letter.run_id), 0)), "ActionRun.Triggered")
            tenant, step = tenant_id_or_none(letter.tenant_id), step_label(letter.step)
            self.dead_letters.record(
                context, tenant, "action", letter.run_id, step, letter.error, letter.attempts, cause
            )
            self.letters.pop(letter_id, None)
            sent += 1
        return sent

    # --- one run

    def advance(self, tenant_id: TenantId, run_id: UUID) -> int:
        """Works the run's steps in order until it waits for a person, fails or is done; the steps delivered, a
        wait or a failure recorded counting as one (so the follower reads what it recorded before it rests)."""
        done = 0
        run = self.actions.run(tenant_id, run_id)
        while (step := run.next_step) is not None:
            if run.needs_approval(step):
                self._record(run, f"await|{step}", lambda r: r.await_approval(step))
                done += 1
                break
            done += 1
            if not self._deliver(run, step):
                break
            run = self.actions.run(tenant_id, run_id)
        self.due.pop(run_id, None)
        return done

    def _deliver(self, run: ActionRun, step: int) -> bool:
        """One step with retries; True when it was delivered."""
        while True:
            outcome = self._attempt(run, step)
            name = f"r{run.revivals}|{step}|attempt|{run.next_attempt}"
            if outcome.ok:
                self._record(run, name, _delivered(step, outcome))
                return True
            last = not outcome.retryable or run.next_attempt >= self.attempts
            delay = None if last else backoff_delay(self.backoff, run.next_attempt)
            log.warning("action run %s step %d failed: %s", run.id, step + 1, outcome.detail)
            self._record(run, name, _failed_attempt(step, outcome, delay))
            if delay is None:
                return False
            self.sleep(delay)
            run = self.actions.run(run.tenant_id, run.id)

    def _attempt(self, run: ActionRun, step: int) -> ActionOutcome:
        planned = run.steps[step]
        template = self.actions.template(run.tenant_id, UUID(planned["template_id"]))
        spec = template.spec_of(planned["version"])
        connector = spec["connector"]
        context = context_for(str(run.id), step, run.trigger, planned["params"])
        try:
            body = self.renderer.render(spec["body"], context)
            rendered = {
                k: self.renderer.render(str(connector[k]), context) for k in RENDERED_SETTINGS if k in connector
            }
        except DomainError as error:
            return ActionOutcome(False, None, f"the template cannot be rendered: {error}", retryable=False)
        try:
            secrets = {name: self.secrets.reveal_secret(run.tenant_id, name) for name in secret_names(connector)}
        except DomainError as error:
            return ActionOutcome(False, None, f"a secret of the connector cannot be read: {error}", retryable=False)
        key = f"{run.id}:{step + 1}"
        request = ActionRequest(run.tenant_id, template.kind, connector, secrets, body, rendered, key, self.clock())
        try:
            return self.sender.send(request)
        except Exception as error:  # a sender's own fault is still an attempt that failed, with why
            return ActionOutcome(False, None, f"{type(error).__name__}: {error}")

    def _record(self, run: ActionRun, name: str, change: Callable[[ActionRun], None]) -> None:
        cause = run.trigger["pipeline_run_id"]
        context = CommandContext(ACTOR, f"{run.id}|{name}", cause, str(run.id))
        try:
            self.actions.record_run(context, run.id, change)
        except RunClosedError as error:  # another engine moved the run on first
            log.info("action run %s: %s", run.id, error)
