"""Dead letters: failed work by source, with its error, attempts, cause and what operators did with it."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import BigInteger, Column, Engine, Integer, Select, String, Table, Text, select

from domain.deadletters import DeadLetter
from domain.values import DeadLetterStatus
from projections.base import Change, EventView, Projection, Update, Upsert, metadata, plain

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("dead_letter_id", String(36), primary_key=True),
    Column("tenant_id", String(36), index=True),
    Column("source", String(16), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("step", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("cause_event_id", String(36)),
    Column("cause_type", String(200)),
    Column("last_action_by", String(200)),
    Column("reason", Text),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    if not isinstance(event, DeadLetter.Event):
        return []
    at = recorded.recorded_at.isoformat()
    key = {"dead_letter_id": str(event.originator_id)}
    stamp = {"updated_at": at, "position": recorded.position}
    match event:
        case DeadLetter.Recorded():
            row = {
                "tenant_id": event.tenant_id,
                "source": event.source,
                "subject": event.subject,
                "step": event.step,
                "status": DeadLetterStatus.OPEN,
                "error": event.error,
                "attempts": event.attempts,
                "cause_event_id": event.cause_event_id,
                "cause_type": event.cause_type,
                "created_at": at,
            }
            return [Upsert(dead_letters, key, row | stamp)]
        case DeadLetter.Reopened():
            again = {"status": DeadLetterStatus.OPEN, "error": event.error, "attempts": event.attempts, "reason": None}
            return [Update(dead_letters, key, again | stamp)]
        case DeadLetter.RetryRequested():
            return [
                Update(dead_letters, key, {"status": DeadLetterStatus.RETRYING, "last_action_by": event.by} | stamp)
            ]
        case DeadLetter.Resolved():
            return [
                Update(dead_letters, key, {"status": DeadLetterStatus.RESOLVED, "last_action_by": event.by} | stamp)
            ]
        case DeadLetter.Discarded():
            discarded = {"status": DeadLetterStatus.DISCARDED, "last_action_by": event.by, "reason": event.reason}
            return [Update(dead_letters, key, discarded | stamp)]
    return []


projection = Projection("dead_letters", (dead_letters,), evolve)


def list_query(
    tenant_id: str | None, source: str | None, status: str | None, before: int | None, limit: int
) -> Select[Any]:
    """Dead letters newest first; a tenant's (or all, None), by source and status, keyset-paged by position."""
    query = select(dead_letters)
    if tenant_id is not None:
        query = query.where(dead_letters.c.tenant_id == tenant_id)
    if source:
        query = query.where(dead_letters.c.source == source)
    if status:
        query = query.where(dead_letters.c.status == status)
    if before is not None:
        query = query.where(dead_letters.c.position < before)
    return query.order_by(dead_letters.c.position.desc()).limit(limit)


def get_query(dead_letter_id: str) -> Select[Any]:
    return select(dead_letters).where(dead_letters.c.dead_letter_id == dead_letter_id)


class DeadLetterView(msgspec.Struct):
    """A dead letter: the failed work, its error and attempts, the event that caused it, and what was done."""

    dead_letter_id: str
    tenant_id: str | None
    source: str
    subject: str
    step: str
    status: str
    error: str
    attempts: int
    cause_event_id: str | None
    cause_type: str | None
    last_action_by: str | None
    reason: str | None
    created_at: str
    updated_at: str
    position: int


class DeadLetterPage(msgspec.Struct):
    """A page of dead letters, newest first; ``next_before`` asks for the next page (None on the last)."""

    dead_letters: list[DeadLetterView]
    next_before: int | None


class DeadLetterQueries:
    """The dead-letter read model, read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(
        self, tenant_id: str | None, source: str | None, status: str | None, before: int | None, limit: int
    ) -> DeadLetterPage:
        """Dead letters of a tenant (None: of all), by source and status, older than position ``before``."""
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_id, source, status, before, limit)).mappings().all()
        found = [msgspec.convert(plain(row), DeadLetterView) for row in rows]
        return DeadLetterPage(found, found[-1].position if len(found) == limit else None)

    def dead_letter(self, dead_letter_id: str) -> DeadLetterView | None:
        with self.engine.connect() as connection:
            row = connection.execute(get_query(dead_letter_id)).mappings().first()
        return None if row is None else msgspec.convert(plain(row), DeadLetterView)
