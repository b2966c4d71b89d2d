"""CommandRunner over the in-memory event store: not found, rejected commands, retries, metadata."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from application.commands import (
    MAX_ATTEMPTS,
    CommandContext,
    CommandResult,
    CommandRunner,
    IdempotencyKeyReusedError,
)
from application.tenants import SlugTakenError, TenantService
from domain.errors import InvalidValueError, NotFoundError
from domain.tenants import Tenant, TenantNotActiveError
from eventstore.adapters import open_event_store
from eventstore.codec import event_id_for
from eventstore.port import ConcurrencyError, EventStore, PendingEvent
from eventstore.recorder_store import RecorderEventStore

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def fixed_clock() -> datetime:
    return NOW


def context(command_id: str | None = None, causation_id: str | None = None) -> CommandContext:
    return CommandContext(
        actor="user:alice",
        command_id=command_id or f"cmd-{uuid4()}",
        correlation_id="corr-1",
        causation_id=causation_id,
    )


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


@pytest.fixture
def tenants(store: RecorderEventStore) -> TenantService:
    return TenantService(CommandRunner(store, fixed_clock))


class Interrupted:
    """The real store, except that another writer gets in just before each of the first ``times`` appends."""

    def __init__(self, inner: RecorderEventStore, interloper: Callable[[], Any], times: int = 1) -> None:
        self.inner = inner
        self.name = inner.name
        self.interloper = interloper
        self.times = times
        self.appends = 0

    def append(self, events: Sequence[PendingEvent]) -> list[int]:
        self.appends += 1
        if self.times > 0:
            self.times -= 1
            self.interloper()
        return self.inner.append(events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def service_over(store: Any) -> TenantService:
    return TenantService(CommandRunner(store, fixed_clock))


def types(store: EventStore, stream_id: UUID) -> list[str]:
    return [r.type for r in store.read_stream(stream_id)]


# --- not found and rejected ------------------------------------------------------------------------------

UPDATES: list[tuple[str, Callable[[TenantService, UUID], CommandResult]]] = [
    ("change_entitlements", lambda s, i: s.change_entitlements(context(), i, ["exports"], {})),
    ("suspend_tenant", lambda s, i: s.suspend_tenant(context(), i, "unpaid")),
    ("reinstate_tenant", lambda s, i: s.reinstate_tenant(context(), i)),
    ("offboard_tenant", lambda s, i: s.offboard_tenant(context(), i, "gone")),
]


@pytest.mark.parametrize(("name", "run"), UPDATES, ids=[name for name, _ in UPDATES])
def test_a_command_on_an_unknown_id_is_not_found(
    store: RecorderEventStore, tenants: TenantService, name: str, run: Callable[[TenantService, UUID], CommandResult]
) -> None:
    unknown = uuid4()
    with pytest.raises(NotFoundError, match=str(unknown)):
        run(tenants, unknown)
    assert store.last_position() == 0


def test_a_rejected_onboarding_writes_no_event(store: RecorderEventStore, tenants: TenantService) -> None:
    with pytest.raises(InvalidValueError):
        tenants.onboard_tenant(context(), "Not A Slug", "Acme", "trial")
    with pytest.raises(InvalidValueError):
        tenants.onboard_tenant(context(), "acme", "Acme", "platinum")
    assert store.last_position() == 0


def test_a_slug_is_onboarded_once(store: RecorderEventStore, tenants: TenantService) -> None:
    first = tenants.onboard_tenant(context(), "acme", "Acme", "trial")
    with pytest.raises(SlugTakenError):
        tenants.onboard_tenant(context(), "acme", "Another Acme", "standard")
    assert store.last_position() == first.position


def test_a_command_the_tenant_refuses_writes_no_event(store: RecorderEventStore, tenants: TenantService) -> None:
    acme = tenants.onboard_tenant(context(), "acme", "Acme", "trial").aggregate_id
    tenants.offboard_tenant(context(), acme, "gone")
    refused = context()

    with pytest.raises(TenantNotActiveError):
        tenants.reinstate_tenant(refused, acme)
    with pytest.raises(TenantNotActiveError):  # the same command id again: still refused, never "replayed"
        tenants.reinstate_tenant(refused, acme)

    assert types(store, acme) == ["TenantOnboarded", "TenantOffboarded"]


def test_a_command_that_decides_nothing_writes_nothing(store: RecorderEventStore) -> None:
    runner = CommandRunner(store, fixed_clock)
    onboarded = TenantService(runner).onboard_tenant(context(), "acme", "Acme", "trial")

    result = runner.update(context(), "touch_tenant", onboarded.aggregate_id, lambda t: None, lambda t: str(t.id))

    assert result == CommandResult(onboarded.aggregate_id, onboarded.position)
    assert store.last_position() == onboarded.position


# --- retries on ConcurrencyError -------------------------------------------------------------------------


def test_a_concurrent_write_is_retried_on_the_new_state(store: RecorderEventStore, tenants: TenantService) -> None:
    acme = tenants.onboard_tenant(context(), "acme", "Acme", "trial").aggregate_id
    interrupted = Interrupted(store, lambda: tenants.change_entitlements(context("other"), acme, ["exports"], {}))

    result = service_over(interrupted).suspend_tenant(context("mine"), acme, "unpaid")

    assert interrupted.appends == 2
    assert types(store, acme) == ["TenantOnboarded", "TenantEntitlementsChanged", "TenantSuspended"]
    assert [r.metadata.command_id for r in store.read_stream(acme)][1:] == ["other", "mine"]
    assert result == CommandResult(acme, store.last_position())


def test_a_retry_decides_again_and_may_refuse(store: RecorderEventStore, tenants: TenantService) -> None:
    acme = tenants.onboard_tenant(context(), "acme", "Acme", "trial").aggregate_id
    interrupted = Interrupted(store, lambda: tenants.suspend_tenant(context("other"), acme, "audit"))

    with pytest.raises(TenantNotActiveError):
        service_over(interrupted).offboard_tenant(context("mine"), acme, "gone")

    assert types(store, acme) == ["TenantOnboarded", "TenantSuspended"]


def test_a_retry_that_finds_its_own_command_answers_replayed(store: RecorderEventStore, tenants: TenantService) -> None:
    same = context("cmd-twice")
    interrupted = Interrupted(store, lambda: tenants.onboard_tenant(same, "acme", "Acme", "trial"))

    result = service_over(interrupted).onboard_tenant(same, "acme", "Acme", "trial")

    assert result.replayed
    assert result.position == store.last_position()
    assert types(store, result.aggregate_id) == ["TenantOnboarded"]


def test_a_stream_that_keeps_changing_gives_up_after_max_attempts(
    store: RecorderEventStore, tenants: TenantService
) -> None:
    acme = tenants.onboard_tenant(context(), "acme", "Acme", "trial").aggregate_id
    features = iter(range(100))
    interrupted = Interrupted(
        store,
        lambda: tenants.change_entitlements(context(), acme, [f"feature-{next(features)}"], {}),
        times=MAX_ATTEMPTS,
    )

    with pytest.raises(ConcurrencyError, match="kept changing"):
        service_over(interrupted).suspend_tenant(context("mine"), acme, "unpaid")

    assert interrupted.appends == MAX_ATTEMPTS
    assert "TenantSuspended" not in types(store, acme)


def keyed(key: str, fingerprint: str | None) -> CommandContext:
    return CommandContext("user:alice", key, "corr-1", request_fingerprint=fingerprint)


def test_a_key_with_the_same_request_replays_and_with_another_is_refused(
    store: RecorderEventStore, tenants: TenantService
) -> None:
    acme = tenants.onboard_tenant(context(), "acme", "Acme", "trial").aggregate_id
    first = tenants.change_entitlements(keyed("k-1", "f-a"), acme, ["exports"], {})
    again = tenants.change_entitlements(keyed("k-1", "f-a"), acme, ["exports"], {})
    assert (again.replayed, again.position) == (True, first.position)

    with pytest.raises(IdempotencyKeyReusedError, match="'k-1' was used for another request"):
        tenants.change_entitlements(keyed("k-1", "f-b"), acme, ["webhooks"], {})
    with pytest.raises(IdempotencyKeyReusedError):  # another command on the same stream under the key
        tenants.suspend_tenant(keyed("k-1", "f-c"), acme, "unpaid")
    assert store.last_position() == first.position
    assert store.read_stream(acme)[-1].metadata.request_fingerprint == "f-a"


def test_without_a_fingerprint_on_either_side_a_key_replays_as_before(
    store: RecorderEventStore, tenants: TenantService
) -> None:
    acme = tenants.onboard_tenant(context(), "acme", "Acme", "trial").aggregate_id
    first = tenants.change_entitlements(keyed("k-2", None), acme, ["exports"], {})
    assert tenants.change_entitlements(keyed("k-2", "f-a"), acme, ["webhooks"], {}).replayed
    assert tenants.change_entitlements(keyed("k-2", None), acme, ["webhooks"], {}).position == first.position
    stored = store.read_stream(acme)[-1].metadata
    assert stored.request_fingerprint is None
    assert b"request_fingerprint" not in msgspec.json.encode(stored)  # events without one are stored as before


# --- metadata --------------------------------------------------------------------------------------------


def test_events_carry_the_command_metadata(store: RecorderEventStore, tenants: TenantService) -> None:
    onboarded = tenants.onboard_tenant(context("cmd-on", causation_id="event-9"), "acme", "Acme", "trial")
    tenants.suspend_tenant(context("cmd-sus"), onboarded.aggregate_id, "unpaid")

    first, second = store.read_stream(onboarded.aggregate_id)

    for recorded, command_id in ((first, "cmd-on"), (second, "cmd-sus")):
        meta = recorded.metadata
        assert meta.event_id == str(event_id_for(onboarded.aggregate_id, recorded.version))
        assert meta.tenant_id == str(onboarded.aggregate_id)
        assert (meta.actor, meta.command_id, meta.correlation_id) == ("user:alice", command_id, "corr-1")
        assert meta.recorded_at == NOW.isoformat()
        assert meta.schema_version == 1
    assert (first.metadata.causation_id, second.metadata.causation_id) == ("event-9", None)
    assert isinstance(first.event, Tenant.Onboarded)


def test_events_carry_the_callers_trace(store: RecorderEventStore, tenants: TenantService) -> None:
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    caller = NonRecordingSpan(SpanContext(trace_id, 0x00F067AA0BA902B7, is_remote=True, trace_flags=TraceFlags(1)))

    with trace.use_span(caller):
        onboarded = tenants.onboard_tenant(context(), "acme", "Acme", "trial")

    [recorded] = store.read_stream(onboarded.aggregate_id)
    assert recorded.metadata.traceparent is not None
    version, trace_hex, _span, _flags = recorded.metadata.traceparent.split("-")
    assert (version, trace_hex) == ("00", f"{trace_id:032x}")
