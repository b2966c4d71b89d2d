"""Dead letters: work that failed its last attempt, kept with its error, attempt count and the event that caused it.

A dead letter is named by what failed (its source, the subject and the step), so the same failure recorded twice
is one dead letter, and a failure that comes back after a retry reopens it. Operators list and inspect them,
retry them (the source's own process picks the work up again) or discard them with a reason; each is an event.
A retry whose work is done at once (a parked event re-applied to its read model) also resolves the dead letter.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import DeadLetterStatus, TenantId

DEAD_LETTER_NAMESPACE = UUID("5e0c7a2b-91d4-4f38-b6e1-3a8d2c9f7b14")
SOURCES = ("pipeline", "webhook", "consumer", "action", "projection")
MAX_ERROR = 2000
MAX_REASON = 1000


def dead_letter_id_for(source: str, subject: str, step: str) -> UUID:
    return uuid5(DEAD_LETTER_NAMESPACE, f"{source}|{subject}|{step}")


class DeadLetterClosedError(ConflictError):
    """The dead letter was retried or discarded already; only an open one can be."""


class DeadLetter(Aggregate):
    class Recorded(Aggregate.Created):
        tenant_id: TenantId | None
        source: str
        subject: str
        step: str
        error: str
        attempts: int
        cause_event_id: str | None
        cause_type: str | None

    class Reopened(Aggregate.Event):
        error: str
        attempts: int

    class RetryRequested(Aggregate.Event):
        by: str

    class Discarded(Aggregate.Event):
        by: str
        reason: str

    class Resolved(Aggregate.Event):
        by: str

    @classmethod
    def record(
        cls,
        tenant_id: TenantId | None,
        source: str,
        subject: str,
        step: str,
        error: str,
        attempts: int,
        cause_event_id: str | None,
        cause_type: str | None,
    ) -> DeadLetter:
        if source not in SOURCES:
            raise InvalidValueError(f"source must be one of {', '.join(SOURCES)}")
        return cls._create(
            cls.Recorded,
            id=dead_letter_id_for(source, subject, step),
            tenant_id=tenant_id,
            source=source,
            subject=subject,
            step=step,
            error=error[:MAX_ERROR],
            attempts=attempts,
            cause_event_id=cause_event_id,
            cause_type=cause_type,
        )

    def __init__(
        self,
        tenant_id: TenantId | None,
        source: str,
        subject: str,
        step: str,
        error: str,
        attempts: int,
        cause_event_id: str | None,
        cause_type: str | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.source = source
        self.subject = subject
        self.step = step
        self.status = DeadLetterStatus.OPEN

    def reopen(self, error: str, attempts: int) -> None:
        """The same work failed again after a retry: open once more (an open one stays as it is)."""
        if self.status != DeadLetterStatus.OPEN:
            self._reopened(error[:MAX_ERROR], attempts)

    @event(Reopened)
    def _reopened(self, error: str, attempts: int) -> None:
        self.status = DeadLetterStatus.OPEN

    def retry(self, by: str) -> None:
        self._open()
        self._retry_requested(by)

    @event(RetryRequested)
    def _retry_requested(self, by: str) -> None:
        self.status = DeadLetterStatus.RETRYING

    def resolve(self, by: str) -> None:
        """The retried work is done (a parked event now applied): nothing is left to do."""
        if self.status != DeadLetterStatus.RETRYING:
            raise DeadLetterClosedError(f"dead letter {self.id} is {self.status}, not retrying")
        self._resolved(by)

    @event(Resolved)
    def _resolved(self, by: str) -> None:
        self.status = DeadLetterStatus.RESOLVED

    def discard(self, by: str, reason: str) -> None:
        cleaned = reason.strip()
        if not cleaned or len(cleaned) > MAX_REASON:
            raise InvalidValueError(f"a reason is 1-{MAX_REASON} characters")
        self._open()
        self._discarded(by, cleaned)

    @event(Discarded)
    def _discarded(self, by: str, reason: str) -> None:
        self.status = DeadLetterStatus.DISCARDED

    def _open(self) -> None:
        if self.status != DeadLetterStatus.OPEN:
            raise DeadLetterClosedError(f"dead letter {self.id} is {self.status}")
