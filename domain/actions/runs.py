"""An action run: one firing of a playbook, from its trigger through approvals and attempts to delivered or failed."""

from __future__ import annotations

from typing import Any, TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.action_rules import Condition
from domain.actions import ACTIONS_NAMESPACE
from domain.actions.playbooks import Step
from domain.aggregate import Aggregate
from domain.errors import ConflictError
from domain.lineage import ACTION_DELIVERED
from domain.values import ActionRunStatus, TenantId

MAX_ERROR = 2000


def run_id_for(playbook_id: UUID | str, kpi_sha256: str, dimension_key: str) -> UUID:
    """One run per playbook, KPI version and dimension combination: a replayed build finds the run it made."""
    return uuid5(ACTIONS_NAMESPACE, f"{playbook_id}|{kpi_sha256}|{dimension_key}")


class RunClosedError(ConflictError):
    """The action run has ended (delivered, failed or rejected), or is not at that step."""


class Trigger(TypedDict):
    """The decision's data: which build, which value, which rule, and why it fired."""

    playbook_id: str
    playbook: str
    contract: str
    kpi: str
    kpi_sha256: str
    pipeline_run_id: str
    period_start: str
    dimensions: dict[str, Any]
    value: float
    previous: float | None
    condition: Condition
    reason: str
    at: str


class ActionRun(Aggregate):
    """One firing of a playbook: its steps in order, each approved where required, delivered with retries."""

    class Triggered(Aggregate.Created):
        tenant_id: TenantId
        trigger: Trigger
        steps: list[Step]

    class StepAwaitingApproval(Aggregate.Event):
        step: int

    class StepApproved(Aggregate.Event):
        step: int
        by: str

    class StepRejected(Aggregate.Event):
        step: int
        by: str
        reason: str

    class Attempted(Aggregate.Event):
        step: int
        attempt: int
        status: int | None
        error: str
        retry_in: float

    class Delivered(Aggregate.Event):
        """The step's action reached its target; cites the KPI version it acted on (lineage obligation O3)."""

        lineage_subject = ACTION_DELIVERED
        step: int
        attempt: int
        status: int | None
        detail: str
        kpi_sha256: str
        final: bool
        """True on the run's last step: the run is delivered."""

    class Failed(Aggregate.Event):
        step: int
        attempts: int
        error: str

    class Revived(Aggregate.Event):
        step: int
        by: str

    @classmethod
    def start(cls, tenant_id: TenantId, trigger: Trigger, steps: list[Step], dimension_key: str) -> ActionRun:
        run_id = run_id_for(trigger["playbook_id"], trigger["kpi_sha256"], dimension_key)
        return cls._create(cls.Triggered, id=run_id, tenant_id=tenant_id, trigger=trigger, steps=steps)

    def __init__(self, tenant_id: TenantId, trigger: Trigger, steps: list[Step]) -> None:
        self.tenant_id, self.trigger, self.steps = tenant_id, trigger, steps
        self.step = 0
        self.status = ActionRunStatus.RUNNING
        self.attempts = 0
        self.revivals = 0
        self.approved: set[int] = set()
        self.awaiting: int | None = None

    @property
    def next_attempt(self) -> int:
        """The number of the current step's next delivery attempt (1 for the first)."""
        return self.attempts + 1

    @property
    def next_step(self) -> int | None:
        """The step to work on now, or None when the run waits for a person or has ended."""
        return self.step if self.status == ActionRunStatus.RUNNING else None

    def needs_approval(self, step: int) -> bool:
        return self.steps[step]["requires_approval"] and step not in self.approved

    def _expect(self, step: int, status: ActionRunStatus = ActionRunStatus.RUNNING) -> None:
        if self.status != status or self.step != step:
            raise RunClosedError(
                f"action run {self.id} is {self.status} at step {self.step + 1}, not at step {step + 1}"
            )

    def await_approval(self, step: int) -> None:
        self._expect(step)
        self._awaiting(step)

    @event(StepAwaitingApproval)
    def _awaiting(self, step: int) -> None:
        self.status, self.awaiting = ActionRunStatus.AWAITING_APPROVAL, step

    def approve(self, step: int, by: str) -> None:
        self._expect(step, ActionRunStatus.AWAITING_APPROVAL)
        self._approved(step, by)

    @event(StepApproved)
    def _approved(self, step: int, by: str) -> None:
        self.status, self.awaiting = ActionRunStatus.RUNNING, None
        self.approved.add(step)

    def reject(self, step: int, by: str, reason: str) -> None:
        self._expect(step, ActionRunStatus.AWAITING_APPROVAL)
        self._rejected(step, by, reason[:MAX_ERROR])

    @event(StepRejected)
    def _rejected(self, step: int, by: str, reason: str) -> None:
        self.status, self.awaiting = ActionRunStatus.REJECTED, None

    def attempt_failed(self, step: int, status: int | None, error: str, retry_in: float | None) -> None:
        """Records a failed attempt; ``retry_in`` None means it was the last: the run fails with its reason."""
        self._expect(step)
        attempt = self.next_attempt
        self._attempted(step, attempt, status, error[:MAX_ERROR], retry_in or 0.0)
        if retry_in is None:
            self._failed(step, attempt, error[:MAX_ERROR])

    @event(Attempted)
    def _attempted(self, step: int, attempt: int, status: int | None, error: str, retry_in: float) -> None:
        self.attempts = attempt

    @event(Failed)
    def _failed(self, step: int, attempts: int, error: str) -> None:
        self.status = ActionRunStatus.FAILED

    def delivered(self, step: int, status: int | None, detail: str) -> None:
        self._expect(step)
        final = step + 1 >= len(self.steps)
        self._delivered(step, self.attempts + 1, status, detail[:MAX_ERROR], self.trigger["kpi_sha256"], final)

    @event(Delivered)
    def _delivered(
        self, step: int, attempt: int, status: int | None, detail: str, kpi_sha256: str, final: bool
    ) -> None:
        self.step, self.attempts = step + 1, 0
        if final:
            self.status = ActionRunStatus.DELIVERED

    def revive(self, step: int, by: str) -> None:
        """A failed step gets its attempts back (a retry from the dead letters)."""
        self._expect(step, ActionRunStatus.FAILED)
        self._revived(step, by)

    @event(Revived)
    def _revived(self, step: int, by: str) -> None:
        self.status, self.attempts = ActionRunStatus.RUNNING, 0
        self.revivals += 1
