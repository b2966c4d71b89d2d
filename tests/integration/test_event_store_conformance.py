"""One conformance suite for the event-store port, run against every adapter.

memory and sqlite always run; postgres needs the PostgreSQL server; eventstoredb runs only when
EVENTSTOREDB_URI names a server. Tests never assume an empty log (an EventStoreDB server is shared):
they read after the position the log had when they began, and use fresh stream ids.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
from eventsourcing.domain import event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from application.tenants import TenantService
from domain.aggregate import Aggregate
from eventstore import codec
from eventstore.adapters import open_event_store
from eventstore.codec import MAX_EVENT_BYTES, EventTooLargeError, class_version, event_id_for
from eventstore.envelope import Metadata, RecordedEvent
from eventstore.port import ConcurrencyError, PendingEvent, Subscription
from eventstore.recorder_store import RecorderEventStore
from eventstore.snapshots import Snapshot, restore, state_of

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
WAIT = 5.0
"""Seconds any wait in this suite may take before the test fails (it never hangs)."""

ESDB_URI = os.environ.get("EVENTSTOREDB_URI", "")
ADAPTERS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param(
        "eventstoredb",
        id="eventstoredb",
        marks=[
            pytest.mark.eventstoredb,
            pytest.mark.skipif(
                not ESDB_URI, reason="EVENTSTOREDB_URI is not set: no EventStoreDB server on this machine"
            ),
        ],
    ),
]


def fixed_clock() -> datetime:
    return NOW


class Note(Aggregate):
    """A small test aggregate whose events carry free text (so their size is ours to choose)."""

    class Written(Aggregate.Created):
        text: str

    class Edited(Aggregate.Event):
        text: str

    @event(Written)
    def __init__(self, text: str) -> None:
        self.text = text

    @event(Edited)
    def edit(self, text: str) -> None:
        self.text = text


class Parcel(Aggregate):
    """The shape deployed now. Version 1 of ``Registered`` had no ``unit``: grams were implied."""

    class Registered(Aggregate.Created):
        class_version = 2
        weight: int
        unit: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["unit"] = "g"

    @event(Registered)
    def __init__(self, weight: int, unit: str) -> None:
        self.weight = weight
        self.unit = unit


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RecorderEventStore]:
    kind: str = request.param
    if kind == "postgres":
        url = request.getfixturevalue("pg_event_store_url")
    else:
        url = {"memory": "", "sqlite": str(tmp_path / "events.db"), "eventstoredb": ESDB_URI}[kind]
    opened = open_event_store(kind, url, poll_interval=0.01)
    yield opened
    opened.close()


def metadata_for(new_event: Any, *, command_id: str = "cmd-1", full: bool = True) -> Metadata:
    """Metadata with every field set (``full``) or with every optional field left empty."""
    return Metadata(
        event_id=str(event_id_for(new_event.originator_id, new_event.originator_version)),
        tenant_id=str(uuid4()) if full else None,
        actor="user:alice",
        command_id=command_id,
        correlation_id="corr-7",
        causation_id=str(uuid4()) if full else None,
        traceparent=TRACEPARENT if full else None,
        recorded_at=NOW.isoformat(),
        schema_version=class_version(type(new_event)),
        request_fingerprint="f" * 64 if full else None,
    )


def pending(events: Sequence[Any], command_id: str = "cmd-1") -> list[PendingEvent]:
    return [PendingEvent(e, metadata_for(e, command_id=command_id)) for e in events]


def append_note(store: RecorderEventStore, edits: int = 0) -> tuple[Note, list[int]]:
    """Writes a new note (and ``edits`` edits) in one append; returns it and the positions."""
    note = Note("draft")
    for n in range(edits):
        note.edit(f"edit {n}")
    return note, store.append(pending(note.collect_events()))


def strictly_increasing(positions: Sequence[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(positions))


def take(subscription: Subscription, count: int, timeout: float = WAIT) -> list[RecordedEvent]:
    """Up to ``count`` events from the subscription, waiting at most ``timeout`` seconds in all."""
    got: list[RecordedEvent] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and (left := deadline - time.monotonic()) > 0:
        got += subscription.next_batch(count - len(got), timeout=min(left, 0.5))
    return got


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Runs the calls in threads released at the same moment; each outcome is a result or the exception."""
    barrier = threading.Barrier(len(calls), timeout=WAIT)
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as error:  # the outcome under test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT * 2)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return outcomes


# --- append and read -------------------------------------------------------------------------------------


def test_append_and_read_a_stream_starting_at_version_0(store: RecorderEventStore) -> None:
    note = Note("first")
    note.edit("second")
    note.edit("third")
    events = note.collect_events()
    metas = [metadata_for(events[0]), metadata_for(events[1], full=False), metadata_for(events[2])]

    positions = store.append([PendingEvent(e, m) for e, m in zip(events, metas, strict=True)])

    recorded = store.read_stream(note.id)
    assert [r.version for r in recorded] == [0, 1, 2]
    assert [r.position for r in recorded] == positions
    assert strictly_increasing(positions)
    assert all(r.stream_id == note.id for r in recorded)
    assert [r.type for r in recorded] == ["NoteWritten", "NoteEdited", "NoteEdited"]
    assert [r.data["text"] for r in recorded] == ["first", "second", "third"]
    assert [r.metadata for r in recorded] == metas
    assert all(r.recorded_at == NOW and r.event.timestamp == NOW for r in recorded)
    assert replay(recorded).text == "third"


def test_metadata_round_trips_field_by_field(store: RecorderEventStore) -> None:
    note = Note("x")
    [written] = note.collect_events()
    sent = metadata_for(written, command_id="cmd-meta")

    store.append([PendingEvent(written, sent)])

    [back] = store.read_stream(note.id)
    assert msgspec.structs.asdict(back.metadata) == {
        "event_id": str(event_id_for(note.id, 0)),
        "tenant_id": sent.tenant_id,
        "actor": "user:alice",
        "command_id": "cmd-meta",
        "correlation_id": "corr-7",
        "causation_id": sent.causation_id,
        "traceparent": TRACEPARENT,
        "recorded_at": NOW.isoformat(),
        "schema_version": 1,
        "request_fingerprint": "f" * 64,
    }
    assert back.event_id == str(event_id_for(note.id, 0))
    assert back.tenant_id == sent.tenant_id


def test_an_unknown_stream_reads_empty(store: RecorderEventStore) -> None:
    assert store.read_stream(uuid4()) == []


# --- optimistic concurrency ------------------------------------------------------------------------------


def test_a_stale_writer_gets_concurrency_error(store: RecorderEventStore) -> None:
    note, _ = append_note(store)
    stale = replay(store.read_stream(note.id))
    note.edit("first writer")
    store.append(pending(note.collect_events(), "cmd-a"))
    stale.edit("second writer")

    with pytest.raises(ConcurrencyError):
        store.append(pending(stale.collect_events(), "cmd-b"))

    assert [r.metadata.command_id for r in store.read_stream(note.id)] == ["cmd-1", "cmd-a"]


def test_two_concurrent_writers_at_the_same_version_exactly_one_wins(store: RecorderEventStore) -> None:
    note, _ = append_note(store)
    batches = {}
    for writer in ("writer-a", "writer-b"):
        copy = replay(store.read_stream(note.id))
        copy.edit(f"{writer} 1")
        copy.edit(f"{writer} 2")
        batches[writer] = pending(copy.collect_events(), writer)

    outcomes = dict(zip(batches, run_together(*(lambda b=b: store.append(b) for b in batches.values())), strict=True))

    winners = [w for w, outcome in outcomes.items() if isinstance(outcome, list)]
    losers = [w for w, outcome in outcomes.items() if isinstance(outcome, ConcurrencyError)]
    assert len(winners) == 1, outcomes
    assert len(losers) == 1, outcomes
    stream = store.read_stream(note.id)
    assert [r.version for r in stream] == [0, 1, 2]
    assert [r.metadata.command_id for r in stream[1:]] == [winners[0], winners[0]]
    assert [r.position for r in stream[1:]] == outcomes[winners[0]]


def test_appending_to_two_streams_in_one_call_is_refused(store: RecorderEventStore) -> None:
    first, second = Note("a"), Note("b")

    with pytest.raises(ValueError, match="one stream"):
        store.append(pending([*first.collect_events(), *second.collect_events()]))

    assert store.read_stream(first.id) == []
    assert store.read_stream(second.id) == []


# --- the global log --------------------------------------------------------------------------------------


def test_read_all_in_global_order_after_a_position(store: RecorderEventStore) -> None:
    base = store.last_position()
    if store.name != "eventstoredb":  # a shared server is never empty
        assert base == 0
    first = Note("first")
    first.edit("second")
    first_events = pending(first.collect_events())
    positions = store.append(first_events)
    with pytest.raises(ConcurrencyError):  # a refused write may use up positions (PostgreSQL): gaps are allowed
        store.append(first_events)
    for _ in range(2):
        positions += append_note(store, edits=1)[1]

    assert strictly_increasing([base, *positions])
    assert store.last_position() == positions[-1]
    everything = store.read_all(base, 100)
    assert [r.position for r in everything] == positions
    assert everything[0].stream_id == first.id
    assert [r.version for r in everything] == [0, 1, 0, 1, 0, 1]
    assert [r.position for r in store.read_all(positions[2], 100)] == positions[3:]
    assert [r.position for r in store.read_all(base, 2)] == positions[:2]
    assert [r.position for r in store.read_all(base, 100, until=positions[3])] == positions[:4]
    assert [r.position for r in store.read_all(positions[1], 100, until=positions[3])] == positions[2:4]
    assert store.read_all(positions[-1], 100) == []


def test_paging_after_the_last_position_read_sees_every_event_once(store: RecorderEventStore) -> None:
    base = store.last_position()
    positions: list[int] = []
    for _ in range(4):
        positions += append_note(store, edits=1)[1]

    seen: list[int] = []
    after = base
    while page := store.read_all(after, 3):
        seen += [r.position for r in page]
        after = page[-1].position  # never after + 1: positions may have gaps
        assert len(seen) <= len(positions), "paging did not end"

    assert seen == positions


def test_read_raw_gives_each_stored_record_byte_for_byte_in_log_order(store: RecorderEventStore) -> None:
    base = store.last_position()
    note, positions = append_note(store, edits=2)
    positions += append_note(store)[1]

    raw = store.read_raw(base, 100)

    assert [r[0] for r in raw] == positions
    assert [(r[1], r[2], r[3]) for r in raw[:3]] == [
        (note.id.hex, 0, get_topic(Note.Written)),
        (note.id.hex, 1, get_topic(Note.Edited)),
        (note.id.hex, 2, get_topic(Note.Edited)),
    ]
    stored = store.recorder.select_notifications(base, 100, inclusive_of_start=False)
    assert [r[4] for r in raw] == [bytes(n.state) for n in stored]
    assert all(type(r[1]) is str and type(r[4]) is bytes for r in raw)
    decoded = [codec.decode_row(r[0], UUID(hex=r[1]), r[2], r[3], r[4]) for r in raw]
    assert [(d.position, d.event_id, d.data) for d in decoded] == [
        (r.position, r.event_id, r.data) for r in store.read_all(base, 100)
    ]
    assert [r[0] for r in store.read_raw(positions[0], 2)] == positions[1:3]
    assert [r[0] for r in store.read_raw(base, 100, until=positions[1])] == positions[:2]
    assert store.read_raw(positions[-1], 100) == []


# --- subscriptions ---------------------------------------------------------------------------------------


def test_a_subscription_resumes_from_its_checkpoint_missing_and_repeating_nothing(
    store: RecorderEventStore,
) -> None:
    base = store.last_position()
    before = [append_note(store)[1][0] for _ in range(5)]

    subscription = store.subscribe(base)
    try:
        consumed = take(subscription, 3)
    finally:
        subscription.stop()
    assert [r.position for r in consumed] == before[:3]
    checkpoint = consumed[-1].position

    after_restart = [append_note(store)[1][0] for _ in range(3)]
    subscription = store.subscribe(checkpoint)
    try:
        rest = take(subscription, 5)
        assert [r.position for r in rest] == before[3:] + after_restart
        assert subscription.next_batch(10, timeout=0.3) == [], "a resumed subscription repeated or invented events"

        live = [append_note(store)[1][0] for _ in range(2)]
        assert [r.position for r in take(subscription, 2)] == live
    finally:
        subscription.stop()


def test_a_subscription_delivers_whole_events_in_order(store: RecorderEventStore) -> None:
    base = store.last_position()
    note, positions = append_note(store, edits=2)

    subscription = store.subscribe(base)
    try:
        got = take(subscription, 3)
    finally:
        subscription.stop()

    assert [(r.position, r.stream_id, r.version) for r in got] == [(p, note.id, v) for v, p in enumerate(positions)]
    assert got == store.read_stream(note.id)


# --- idempotent commands ---------------------------------------------------------------------------------


def tenant_service(store: RecorderEventStore) -> TenantService:
    return TenantService(CommandRunner(store, fixed_clock))


def command(command_id: str | None = None) -> CommandContext:
    return CommandContext(actor="user:alice", command_id=command_id or f"cmd-{uuid4()}", correlation_id="corr-1")


def unique_slug() -> str:
    return f"acme-{uuid4().hex[:10]}"


def test_the_same_command_id_twice_records_one_set_of_events(store: RecorderEventStore) -> None:
    tenants = tenant_service(store)
    slug = unique_slug()
    onboard, suspend = command(), command()

    first = tenants.onboard_tenant(onboard, slug, "Acme", "standard")
    again = tenants.onboard_tenant(onboard, slug, "Acme", "standard")
    suspended = tenants.suspend_tenant(suspend, first.aggregate_id, "unpaid")
    suspended_again = tenants.suspend_tenant(suspend, first.aggregate_id, "unpaid")

    assert not first.replayed
    assert again == CommandResult(first.aggregate_id, first.position, replayed=True)
    assert not suspended.replayed
    assert suspended_again == replace(suspended, replayed=True)
    stream = store.read_stream(first.aggregate_id)
    assert [r.type for r in stream] == ["TenantOnboarded", "TenantSuspended"]
    assert [r.position for r in stream] == [first.position, suspended.position]
    assert [r.metadata.command_id for r in stream] == [onboard.command_id, suspend.command_id]
    assert all(r.metadata.recorded_at == NOW.isoformat() for r in stream)
    assert all(r.metadata.tenant_id == str(first.aggregate_id) for r in stream)


def test_a_double_submission_from_two_threads_records_one_set_of_events(store: RecorderEventStore) -> None:
    tenants = tenant_service(store)
    slug, onboard = unique_slug(), command()

    results = run_together(*[lambda: tenants.onboard_tenant(onboard, slug, "Acme", "trial")] * 2)

    assert all(isinstance(r, CommandResult) for r in results), results
    assert sorted(r.replayed for r in results) == [False, True]
    assert results[0].position == results[1].position
    stream = store.read_stream(results[0].aggregate_id)
    assert [r.position for r in stream] == [results[0].position]

    suspend = command()
    results = run_together(*[lambda: tenants.suspend_tenant(suspend, stream[0].stream_id, "unpaid")] * 2)

    assert all(isinstance(r, CommandResult) for r in results), results
    assert sorted(r.replayed for r in results) == [False, True]
    assert [r.type for r in store.read_stream(stream[0].stream_id)] == ["TenantOnboarded", "TenantSuspended"]


def test_two_different_commands_racing_for_one_slug_onboard_it_once(store: RecorderEventStore) -> None:
    tenants = tenant_service(store)
    slug = unique_slug()

    def onboard(context: CommandContext) -> Callable[[], CommandResult]:
        return lambda: tenants.onboard_tenant(context, slug, "Acme", "trial")

    results = run_together(onboard(command()), onboard(command()))

    assert sorted(type(r).__name__ for r in results) == ["CommandResult", "SlugTakenError"], results
    winner = next(r for r in results if isinstance(r, CommandResult))
    assert len(store.read_stream(winner.aggregate_id)) == 1


# --- event size ------------------------------------------------------------------------------------------


def test_an_event_over_the_size_limit_is_refused_and_nothing_is_written(store: RecorderEventStore) -> None:
    base = store.last_position()
    huge = Note("x" * (MAX_EVENT_BYTES + 1))
    mixed = Note("small")
    mixed.edit("y" * MAX_EVENT_BYTES)

    with pytest.raises(EventTooLargeError):
        store.append(pending(huge.collect_events()))
    with pytest.raises(EventTooLargeError):
        store.append(pending(mixed.collect_events()))

    assert store.read_stream(huge.id) == []
    assert store.read_stream(mixed.id) == []
    assert store.read_all(base, 10) == []


def test_an_event_just_under_the_size_limit_is_stored(store: RecorderEventStore) -> None:
    note = Note("z" * (MAX_EVENT_BYTES - 2048))

    store.append(pending(note.collect_events()))

    assert store.read_stream(note.id)[0].event.text == note.text


# --- upcasting -------------------------------------------------------------------------------------------


def store_version_1_registered(store: RecorderEventStore, parcel_id: UUID, weight: int) -> None:
    """Writes the bytes the version-1 deployment wrote for ``Parcel.Registered`` (no ``unit`` field)."""
    meta = Metadata(
        event_id=str(event_id_for(parcel_id, 0)),
        tenant_id=None,
        actor="user:old-deployment",
        command_id="cmd-v1",
        correlation_id="corr-v1",
        causation_id=None,
        traceparent=None,
        recorded_at=NOW.isoformat(),
        schema_version=1,
    )
    state = msgspec.json.encode({"meta": meta, "data": {"originator_topic": get_topic(Parcel), "weight": weight}})
    stored = StoredEvent(originator_id=parcel_id, originator_version=0, topic=get_topic(Parcel.Registered), state=state)
    store.recorder.insert_events([stored])


def test_a_version_1_event_is_read_back_as_version_2(store: RecorderEventStore) -> None:
    base = store.last_position()
    parcel_id = uuid4()
    store_version_1_registered(store, parcel_id, weight=1200)

    [recorded] = store.read_stream(parcel_id)
    [from_log] = store.read_all(base, 10)

    for read in (recorded, from_log):
        assert isinstance(read.event, Parcel.Registered)
        assert read.data == {"originator_topic": get_topic(Parcel), "weight": 1200, "unit": "g"}
        assert read.event.unit == "g"
    parcel = replay([recorded])
    assert (parcel.id, parcel.weight, parcel.unit) == (parcel_id, 1200, "g")


def test_a_version_2_event_is_not_upcast_again(store: RecorderEventStore) -> None:
    parcel = Parcel(weight=3, unit="kg")
    events = parcel.collect_events()

    store.append(pending(events))

    [recorded] = store.read_stream(parcel.id)
    assert recorded.metadata.schema_version == 2
    assert (recorded.event.weight, recorded.event.unit) == (3, "kg")


# --- snapshots -------------------------------------------------------------------------------------------


def snapshot_of(note: Note, position: int, commands: dict[str, tuple[int, str | None]] | None = None) -> Snapshot:
    topic = get_topic(Note)
    return Snapshot(
        note.id, note.version, position, topic, None, state_of(note), commands or {"cmd-1": (position, None)}
    )


def test_a_stream_reads_after_a_version(store: RecorderEventStore) -> None:
    note, positions = append_note(store, edits=3)

    after = store.read_stream(note.id, after_version=1)

    assert [(r.version, r.position) for r in after] == [(2, positions[2]), (3, positions[3])]
    assert store.read_stream(note.id, after_version=3) == []
    assert [r.version for r in store.read_stream(note.id, after_version=None)] == [0, 1, 2, 3]


def test_a_snapshot_loads_as_it_was_saved_and_the_newest_wins(store: RecorderEventStore) -> None:
    note, positions = append_note(store, edits=1)
    assert store.load_snapshot(note.id) is None

    assert store.save_snapshot(snapshot_of(note, positions[-1]))
    note.edit("later")
    later = store.append(pending(note.collect_events(), "cmd-2"))
    assert store.save_snapshot(
        snapshot_of(note, later[-1], {"cmd-1": (positions[-1], None), "cmd-2": (later[-1], "f")})
    )

    loaded = store.load_snapshot(note.id)
    assert loaded is not None
    assert (loaded.version, loaded.position, loaded.topic) == (2, later[-1], get_topic(Note))
    assert loaded.commands == {"cmd-1": (positions[-1], None), "cmd-2": (later[-1], "f")}
    restored = restore(Note, loaded)
    assert (restored.id, restored.version, restored.text) == (note.id, note.version, "later")
    assert restored.modified_on == note.modified_on


def test_snapshots_are_not_in_the_log(store: RecorderEventStore) -> None:
    before = store.last_position()
    note, positions = append_note(store)

    assert store.save_snapshot(snapshot_of(note, positions[-1]))

    assert store.last_position() == positions[-1]
    assert [r.position for r in store.read_all(before, 100)] == positions
    assert [r[0] for r in store.read_raw(before, 100)] == positions
    assert [r.version for r in store.read_stream(note.id)] == [0]


def test_a_second_snapshot_of_the_same_version_is_not_kept(store: RecorderEventStore) -> None:
    note, positions = append_note(store)

    assert store.save_snapshot(snapshot_of(note, positions[-1]))
    assert not store.save_snapshot(snapshot_of(note, positions[-1]))
