"""The decision log: every authorization decision, appended to one SQL table in the read-model database.

Each row keeps what the decision was made on (the principal's id, kind, tenant and roles; the action; the
resource's type, id and attributes), its outcome, the deciding policies and the time, so a proposed policy set
can be replayed over a past period (``simulate``). It is not a projection: it is not derived from the event log,
so it is declared on its own MetaData and never reset or rebuilt by ``platform replay``; rows are appended, never
updated, and deleted only once older than the retention period. ``record`` only queues the row; a writer thread
inserts queued rows in batches, one transaction each, so the guard never waits on the database. Rows of a crash's
last moments may be lost: denials of commands are events too (``DenialRecorded``) and stay the audit trail of
record, and so are unmasked reads of personal data (``PersonalDataAccessRecorded``).

Retention (PLATFORM_DECISION_LOG_RETENTION_DAYS): ``sweep`` deletes decisions older than that; the writer thread
sweeps when it starts and then every ``SWEEP_EVERY`` seconds, and `platform serve` sweeps once at start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Engine, Index, Integer, MetaData, String, Table, delete, insert, select

from adapters.auth.cedar import Decide
from adapters.sql_schema import create_tables
from application.authorization import Decision, Identity, Resource

log = logging.getLogger(__name__)
BATCH = 500
LINGER = 0.2
"""Seconds the writer waits for more decisions before writing a batch."""
SWEEP_EVERY = 3600.0
"""Seconds between two retention sweeps of the writer thread."""

decision_metadata = MetaData()
decisions = Table(
    "authorization_decisions",
    decision_metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("decided_at", String(40), nullable=False),
    Column("principal_id", String(64), nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("principal_tenant_id", String(36)),
    Column("principal_roles", JSON, nullable=False),
    Column("action", String(100), nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("resource_attrs", JSON, nullable=False),
    Column("allowed", Boolean, nullable=False),
    Column("policy_ids", JSON, nullable=False),
    Column("errors", JSON, nullable=False),
    Index("ix_decisions_time", "decided_at"),
    Index("ix_decisions_resource_time", "resource_id", "decided_at"),
)


def stamp(at: datetime) -> str:
    """A UTC time in one fixed-width form, so text order is time order on every database."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class RecordedDecision:
    """A past decision with what it was made on."""

    decision_id: int
    decided_at: str
    identity: Identity
    action: str
    resource: Resource
    allowed: bool
    policy_ids: tuple[str, ...]

    @classmethod
    def from_row(cls, row: Any) -> RecordedDecision:
        identity = Identity(
            row.principal_id, row.principal_kind, row.principal_tenant_id, tuple(row.principal_roles), ""
        )
        resource = Resource(row.resource_type, row.resource_id, dict(row.resource_attrs))
        return cls(row.decision_id, row.decided_at, identity, row.action, resource, row.allowed, tuple(row.policy_ids))


@dataclass(frozen=True)
class ChangedDecision:
    """A past decision a proposed policy set would take differently."""

    past: RecordedDecision
    now: Decision


class DecisionLog:
    """Appends decisions through a batching writer thread; reads them back by period."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], retention: timedelta | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.retention = retention
        """How long a decision is kept; None keeps every decision."""
        create_tables(engine, decision_metadata)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._starting = threading.Lock()

    def record(self, identity: Identity, action: str, resource: Resource, decision: Decision) -> None:
        """Queues the decision for the writer (cheap: no I/O on the caller's thread)."""
        self._start()
        self._queue.put(
            {
                "decided_at": stamp(self.clock()),
                "principal_id": identity.principal_id,
                "principal_kind": identity.kind,
                "principal_tenant_id": identity.tenant_id,
                "principal_roles": list(identity.roles),
                "action": action,
                "resource_type": resource.type,
                "resource_id": resource.id,
                "resource_attrs": resource.attrs,
                "allowed": decision.allowed,
                "policy_ids": list(decision.policy_ids),
                "errors": list(decision.errors),
            }
        )

    def flush(self) -> None:
        """Waits until every decision queued so far is in the table."""
        if self._writer is not None:
            self._queue.join()

    def between(
        self, start: datetime, end: datetime, tenant_id: str | None = None
    ) -> Generator[RecordedDecision, None, None]:
        """Decisions from ``start`` up to ``end``, oldest first; with a tenant, only its principals' on it."""
        query = select(decisions).where(decisions.c.decided_at >= stamp(start), decisions.c.decided_at < stamp(end))
        if tenant_id is not None:
            query = query.where(decisions.c.resource_id == tenant_id, decisions.c.principal_tenant_id == tenant_id)
        with self.engine.connect() as connection:
            for row in connection.execute(query.order_by(decisions.c.decision_id)).yield_per(BATCH):
                yield RecordedDecision.from_row(row)

    def sweep(self) -> int:
        """Deletes the decisions older than the retention period; returns how many went."""
        if self.retention is None:
            return 0
        cutoff = stamp(self.clock() - self.retention)
        with self.engine.begin() as connection:
            return connection.execute(delete(decisions).where(decisions.c.decided_at < cutoff)).rowcount or 0

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=10)
            self._writer = None

    def _start(self) -> None:
        if self._writer is None:
            with self._starting:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write, daemon=True, name="decision-log")
                    self._writer.start()

    def _write(self) -> None:
        swept = -SWEEP_EVERY
        while True:
            if time.monotonic() - swept >= SWEEP_EVERY:
                self._sweep_logged()
                swept = time.monotonic()
            try:
                rows = [self._queue.get(timeout=SWEEP_EVERY)]
            except queue.Empty:
                continue
            deadline = time.monotonic() + LINGER  # gather a batch: one transaction for many decisions
            while len(rows) < BATCH and rows[-1] is not None:
                try:
                    rows.append(self._queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            try:
                batch = [row for row in rows if row is not None]
                if batch:
                    with self.engine.begin() as connection:
                        connection.execute(insert(decisions), batch)
            except Exception:
                log.exception("could not record %d authorization decisions", len(rows))
            finally:
                for _ in rows:
                    self._queue.task_done()
            if None in rows:
                return

    def _sweep_logged(self) -> None:
        try:
            removed = self.sweep()
        except Exception:
            log.exception("could not sweep the decision log")
            return
        if removed:
            log.info("removed %d authorization decisions older than the retention period", removed)


def simulate(past: Iterator[RecordedDecision], decide: Decide, limit: int) -> tuple[int, list[ChangedDecision]]:
    """Replays past decisions through ``decide``: how many were replayed, and (up to ``limit``) those that flip."""
    replayed, changed = 0, []
    for decision in past:
        replayed += 1
        now = decide(decision.identity, decision.action, decision.resource)
        if now.allowed != decision.allowed:
            changed.append(ChangedDecision(decision, now))
            if len(changed) >= limit:
                break
    return replayed, changed
