"""Running a command against one aggregate: load, decide, save, exactly once per command id.

A command's id travels in the metadata of every event it records. Running the same command id again
finds those events in the aggregate's stream and answers as the first run did, writing nothing; two
concurrent runs race on the stream version and the loser, on reload, finds the winner's events.

Aggregates are loaded through a unit of work (application/unit_of_work.py). Each command opens its own, unless
its caller opened one for a request or a process-manager pass (``with runner.unit_of_work():``): then every
command and every read in it (``runner.get``) loads each aggregate once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from application.unit_of_work import Loaded, UnitOfWork
from domain.aggregate import Aggregate
from domain.errors import DomainError, NotFoundError
from eventstore.codec import class_version, event_id_for
from eventstore.envelope import Metadata, RecordedEvent
from eventstore.port import ConcurrencyError, EventStore, PendingEvent

A = TypeVar("A", bound=Aggregate)
Clock = Callable[[], datetime]

_tracer = trace.get_tracer("platform.application")
_propagator = TraceContextTextMapPropagator()
MAX_ATTEMPTS = 5
_current: ContextVar[UnitOfWork | None] = ContextVar("unit_of_work", default=None)


class IdempotencyKeyReusedError(DomainError):
    """The command's idempotency key was used before for another request: it is refused, not answered as that one."""


@dataclass(frozen=True)
class CommandContext:
    """Who asks, under which idempotency key, as part of which conversation.

    ``request_fingerprint`` identifies the request that sent the command under its key (see Metadata); a command
    whose key found earlier events replays them only when their fingerprint is the same."""

    actor: str
    command_id: str
    correlation_id: str
    causation_id: str | None = None
    request_fingerprint: str | None = None


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the aggregate it touched and the position of its last event."""

    aggregate_id: UUID
    position: int
    replayed: bool = False


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def replay(history: Sequence[RecordedEvent]) -> Any:
    aggregate = None
    for recorded in history:
        aggregate = recorded.event.mutate(aggregate)
    return aggregate


class CommandRunner:
    """Loads an aggregate, applies a decision to it and appends its new events."""

    def __init__(self, store: EventStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """Opens a unit of work for the commands and reads that follow (on this thread and the tasks and threads
        it starts), so each aggregate is loaded once; an inner call joins the unit already open over the same store."""
        unit = _current.get()
        if unit is not None and unit.store is self.store:
            yield unit
            return
        unit = UnitOfWork(self.store)
        token = _current.set(unit)
        try:
            yield unit
        finally:
            _current.reset(token)

    def get(self, stream_id: UUID, cls: type[A] | None = None) -> A | None:
        """The aggregate of a stream as its events say now (for decisions that must not wait for a read model);
        within a unit of work, loaded once."""
        with self.unit_of_work() as unit:
            return unit.get(stream_id, cls)

    def create(
        self,
        context: CommandContext,
        name: str,
        stream_id: UUID,
        *,
        make: Callable[[], A],
        tenant_of: Callable[[A], str | None],
        exists: Callable[[], DomainError],
    ) -> CommandResult:
        """Runs a command that starts a new stream; raises ``exists()`` when the stream has begun.

        A stream the unit has not loaded is taken to be new: its first event is appended at version 0, and only
        when that fails (the stream exists), or ``make`` names another stream, is it loaded, for the command's
        earlier events or ``exists()``."""

        def decide(current: A | None) -> A:
            if current is not None:
                raise exists()
            return make()

        return self._run(context, name, stream_id, decide, tenant_of, None, new=True)

    def update(
        self,
        context: CommandContext,
        name: str,
        stream_id: UUID,
        change: Callable[[A], None],
        tenant_of: Callable[[A], str | None],
        noun: str | None = None,
        aggregate: type[A] | None = None,
    ) -> CommandResult:
        """Runs a command on an existing aggregate; NotFoundError "no such <noun>" when there is none (the noun
        defaults to the command's object). A ``change`` that refuses another tenant's aggregate raises the same.
        ``aggregate`` names its class, so a snapshotted one loads from its snapshot."""

        def decide(current: A | None) -> A:
            if current is None:
                msg = f"no such {noun or name.split('_', 1)[-1]}: {stream_id}"
                raise NotFoundError(msg)
            change(current)
            return current

        return self._run(context, name, stream_id, decide, tenant_of, aggregate)

    def _run(
        self,
        context: CommandContext,
        name: str,
        stream_id: UUID,
        decide: Callable[[A | None], A],
        tenant_of: Callable[[A], str | None],
        cls: type[A] | None,
        new: bool = False,
    ) -> CommandResult:
        attributes = {"platform.command_id": context.command_id}
        with _tracer.start_as_current_span(f"command {name}", attributes=attributes), self.unit_of_work() as unit:
            loaded = Loaded(None, unread=True) if new and not unit.knows(stream_id) else unit.loaded(stream_id, cls)
            for _ in range(MAX_ATTEMPTS):
                result = self._attempt(context, stream_id, loaded, decide, tenant_of, unit)
                if result is not None:
                    return result
                loaded = unit.reload(stream_id, cls)
            msg = f"stream {stream_id} kept changing; try again"
            raise ConcurrencyError(msg)

    def _attempt(
        self,
        context: CommandContext,
        stream_id: UUID,
        loaded: Loaded,
        decide: Callable[[A | None], A],
        tenant_of: Callable[[A], str | None],
        unit: UnitOfWork,
    ) -> CommandResult | None:
        """Decides on the stream as loaded and appends; None when someone else wrote the stream first."""
        earlier = loaded.commands.get(context.command_id)
        if earlier is not None:
            _check_same_request(context, earlier[1])
            return CommandResult(stream_id, earlier[0], replayed=True)
        try:
            aggregate = decide(loaded.aggregate)
            if loaded.unread and aggregate.id != stream_id:
                return None  # made under another id than the stream's: read the stream and decide on what it holds
            pending = aggregate.collect_events()
            if not pending:
                return CommandResult(stream_id, loaded.position)
            tenant_id = tenant_of(aggregate)
            written = self._with_metadata(context, pending, tenant_id)
            try:
                positions = self.store.append(written)
            except ConcurrencyError:
                return None  # the caller loads the stream again
        except BaseException:
            unit.forget(stream_id)  # the command may have changed the aggregate before it refused or failed
            raise
        loaded.aggregate, loaded.unread = aggregate, False
        loaded.remember(context.command_id, positions[-1], context.request_fingerprint, tenant_id)
        unit.saved(stream_id, loaded, len(pending))
        unit.wrote(written, positions)
        return CommandResult(stream_id, positions[-1])

    def _with_metadata(
        self, context: CommandContext, events: Sequence[Any], tenant_id: str | None
    ) -> list[PendingEvent]:
        recorded_at = self.clock().isoformat()
        traceparent = current_traceparent()
        return [
            PendingEvent(
                event,
                Metadata(
                    event_id=str(event_id_for(event.originator_id, event.originator_version)),
                    tenant_id=tenant_id,
                    actor=context.actor,
                    command_id=context.command_id,
                    correlation_id=context.correlation_id,
                    causation_id=context.causation_id,
                    traceparent=traceparent,
                    recorded_at=recorded_at,
                    schema_version=class_version(type(event)),
                    request_fingerprint=context.request_fingerprint,
                ),
            )
            for event in events
        ]


def _check_same_request(context: CommandContext, earlier: str | None) -> None:
    """A replay answers the request that used the key first (its fingerprint ``earlier``); another request under
    that key is refused."""
    fingerprints = (context.request_fingerprint, earlier)
    if None not in fingerprints and fingerprints[0] != fingerprints[1]:
        msg = (
            f"the idempotency key {context.command_id!r} was used for another request (another method, path or "
            "body); a new request needs a new key"
        )
        raise IdempotencyKeyReusedError(msg)
