"""Dead-letter forwarding: the process manager that gives each dead-lettered pipeline step its dead letter.

It keeps in memory only the dead-lettered steps whose dead letter the log does not show yet. The dead letter is
recorded under a command id derived from the DeadLettered event, so a step seen twice gets one dead letter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from application.checkpoints import Fact
from application.commands import CommandContext
from application.deadletters import DeadLetterService
from domain.deadletters import DeadLetter, dead_letter_id_for
from domain.pipeline import PipelineRun
from domain.values import tenant_id_or_none
from eventstore.codec import event_id_for
from eventstore.envelope import RecordedEvent

ACTOR = "system:orchestrator"


@dataclass(frozen=True)
class Letter:
    """A dead-lettered step to report: the DeadLettered event's id names the report, so it is made once."""

    event_id: str
    tenant_id: str | None
    run_id: str
    step: str
    error: str
    attempts: int


class DeadLetterForwarding:
    """Records a dead letter for each pipeline step that ended in the dead letters."""

    name = "dead_letters"

    def __init__(self, dead_letters: DeadLetterService) -> None:
        self.dead_letters = dead_letters
        self.letters: dict[UUID, Letter] = {}
        """Dead-lettered steps whose dead letter the log does not show yet, by the dead letter's id."""

    def see(self, recorded: RecordedEvent) -> None:
        event, stream = recorded.event, recorded.event.originator_id
        match event:
            case PipelineRun.DeadLettered():
                letter = Letter(
                    recorded.event_id, recorded.metadata.tenant_id, str(stream), event.step, event.error, event.attempts
                )
                self.letters[dead_letter_id_for("pipeline", str(stream), event.step)] = letter
            case DeadLetter.Recorded() | DeadLetter.Reopened():
                self.letters.pop(stream, None)

    def saved(self) -> dict[str, Any]:
        return {str(letter_id): asdict(letter) for letter_id, letter in self.letters.items()}

    def restore(self, state: dict[str, Any]) -> None:
        self.letters = {UUID(letter_id): Letter(**letter) for letter_id, letter in state.items()}

    def new_facts(self) -> list[Fact]:
        return []

    def work(self) -> int:
        """Records each dead letter due; the number recorded."""
        sent = 0
        for letter_id, letter in list(self.letters.items()):
            context = CommandContext(ACTOR, f"dead-letter|{letter.event_id}", letter.run_id, letter.run_id)
            cause = (str(event_id_for(UUID(letter.run_id), 0)), "PipelineRun.Ingested")
            self.dead_letters.record(
                context,
                tenant_id_or_none(letter.tenant_id),
                "pipeline",
                letter.run_id,
                letter.step,
                letter.error,
                letter.attempts,
                cause,
            )
            self.letters.pop(letter_id, None)
            sent += 1
        return sent
