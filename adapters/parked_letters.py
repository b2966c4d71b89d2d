"""Parked events as dead letters: each is reported once (source ``projection``), and retried or discarded from there.

The dead letter names the read model (its subject) and the log position (its step); its cause is the parked event.
A retry re-applies the event to its read model at once (``ReadModelStore.reapply``) and so resolves the dead letter;
while the cause is not fixed it is refused (409) and the dead letter stays open. A discard leaves the event unapplied.

The dead-letter read model is a projection too. When it parks an event, that is reported like any other, unless
the event belongs to a ``projection`` dead letter itself (whichever read model parked it): reporting that one would
write another event the same broken read model may park, without end. It stays parked, and ``/ready`` names it.
"""

from __future__ import annotations

import logging

from adapters.parking import RESOLVED, ParkedEvent, status_of
from adapters.readmodels import ReadModelStore
from application.commands import CommandContext
from application.deadletters import DeadLetterService
from domain.deadletters import DeadLetter
from domain.errors import ConflictError, NotFoundError
from eventstore.port import EventStore

log = logging.getLogger(__name__)
SOURCE = "projection"
ACTOR = "system:projections"


class ParkedLetters:
    """Connects a read-model store's parked events with the dead letters."""

    def __init__(self, store: EventStore, read_models: ReadModelStore, dead_letters: DeadLetterService) -> None:
        self.store, self.read_models, self.dead_letters = store, read_models, dead_letters

    def wire(self) -> None:
        self.read_models.on_parked = self.report
        self.dead_letters.retry_handlers[SOURCE] = self.retry
        self.dead_letters.discard_handlers[SOURCE] = self.discard

    def report(self, found: ParkedEvent) -> None:
        """Records the parked event as a dead letter (once: the command id names the read model and position)."""
        if found.event_type.startswith("DeadLetter.") and self._is_projection_letter(found):
            log.error("%s parked a projection dead letter (at %d): not reported, or without end", *found.key)
            return
        name = f"park|{found.read_model}|{found.position}"
        context = CommandContext(ACTOR, name, correlation_id=found.event_id or name, causation_id=found.event_id)
        cause = (found.event_id, found.event_type) if found.event_id else None
        subject, step = found.read_model, str(found.position)
        self.dead_letters.record(context, None, SOURCE, subject, step, found.error, 1, cause)

    def _is_projection_letter(self, found: ParkedEvent) -> bool:
        first = self.store.read_all(found.position - 1, 1)
        if not first or not isinstance(first[0].event, DeadLetter.Event):
            return False
        history = self.store.read_stream(first[0].stream_id)
        return bool(history) and getattr(history[0].event, "source", None) == SOURCE

    def retry(self, _context: CommandContext, letter: DeadLetter) -> bool:
        """Re-applies the parked event; True: the work is done (StillFailingError while the cause is there)."""
        name, position = self._parked(letter)
        if status_of(self.read_models.engine, name, position) == RESOLVED:
            return True  # re-applied by an earlier retry whose dead letter was not updated
        first = self.store.read_all(position - 1, 1)
        if not first or first[0].position != position:
            raise NotFoundError(f"the log holds no event at {position}")
        later = [r for r in self.store.read_stream(first[0].stream_id) if r.position > position]
        self.read_models.reapply(name, position, [first[0], *later])
        return True

    def discard(self, letter: DeadLetter) -> None:
        self.read_models.discard_parked(*self._parked(letter))

    def _parked(self, letter: DeadLetter) -> tuple[str, int]:
        if letter.subject not in self.read_models.projections or not letter.step.isdigit():
            raise ConflictError(f"this process keeps no read model {letter.subject}")
        return letter.subject, int(letter.step)
