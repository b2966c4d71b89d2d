"""Running a command against one aggregate: load, decide, save, exactly once per command id.

A command's id travels in the metadata of every event it records. Running the same command id again
finds those events in the aggregate's stream and answers as the first run did, writing nothing; two
concurrent runs race on the stream version and the loser, on reload, finds the winner's events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

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
        """Runs a command that starts a new stream; raises ``exists()`` when the stream has begun."""

        def decide(current: A | None) -> A:
            if current is not None:
                raise exists()
            return make()

        return self._run(context, name, stream_id, decide, tenant_of)

    def update(
        self,
        context: CommandContext,
        name: str,
        stream_id: UUID,
        change: Callable[[A], None],
        tenant_of: Callable[[A], str | None],
        noun: str | None = None,
    ) -> CommandResult:
        """Runs a command on an existing aggregate; NotFoundError "no such <noun>" when there is none (the noun
        defaults to the command's object). A ``change`` that refuses another tenant's aggregate raises the same."""

        def decide(current: A | None) -> A:
            if current is None:
                msg = f"no such {noun or name.split('_', 1)[-1]}: {stream_id}"
                raise NotFoundError(msg)
            change(current)
            return current

        return self._run(context, name, stream_id, decide, tenant_of)

    def _run(
        self,
        context: CommandContext,
        name: str,
        stream_id: UUID,
        decide: Callable[[A | None], A],
        tenant_of: Callable[[A], str | None],
    ) -> CommandResult:
        with _tracer.start_as_current_span(f"command {name}", attributes={"platform.command_id": context.command_id}):
            for _ in range(MAX_ATTEMPTS):
                history = self.store.read_stream(stream_id)
                earlier = [r for r in history if r.metadata.command_id == context.command_id]
                if earlier:
                    _check_same_request(context, earlier[-1].metadata)
                    return CommandResult(stream_id, earlier[-1].position, replayed=True)
                aggregate = decide(replay(history))
                pending = aggregate.collect_events()
                if not pending:
                    return CommandResult(stream_id, history[-1].position if history else 0)
                try:
                    positions = self.store.append(self._with_metadata(context, pending, tenant_of(aggregate)))
                except ConcurrencyError:
                    continue
                return CommandResult(stream_id, positions[-1])
            msg = f"stream {stream_id} kept changing; try again"
            raise ConcurrencyError(msg)

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


def _check_same_request(context: CommandContext, earlier: Metadata) -> None:
    """A replay answers the request that used the key first; another request under that key is refused."""
    fingerprints = (context.request_fingerprint, earlier.request_fingerprint)
    if None not in fingerprints and fingerprints[0] != fingerprints[1]:
        msg = (
            f"the idempotency key {context.command_id!r} was used for another request (another method, path or "
            "body); a new request needs a new key"
        )
        raise IdempotencyKeyReusedError(msg)
