"""PostgreSQL appends commit in position order, so tailing the log never skips an event; the log reads right.

Positions come from a sequence; without the table lock in the append function, a writer could take
position p, another p+1 and commit first: a reader reading "after p+1" would then never see p. Here
writer threads append at once while a read_all reader and a subscriber tail the log; both must see every
event exactly once, in position order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.domain import event

from domain.aggregate import Aggregate
from eventstore import codec
from eventstore.adapters import open_event_store
from eventstore.codec import class_version, event_id_for
from eventstore.envelope import Metadata
from eventstore.port import PendingEvent
from eventstore.recorder_store import RecorderEventStore

pytestmark = pytest.mark.postgres

WRITERS = 4
APPENDS = 60
"""Appends per writer: single events and pairs (a pair keeps its transaction, and the lock, a little longer)."""


class Tally(Aggregate):
    class Started(Aggregate.Created):
        pass

    class Counted(Aggregate.Event):
        pass

    @event(Started)
    def __init__(self) -> None:
        pass

    @event(Counted)
    def count(self) -> None:
        pass


def pending(events: list[Any]) -> list[PendingEvent]:
    return [
        PendingEvent(
            e,
            Metadata(
                event_id=str(event_id_for(e.originator_id, e.originator_version)),
                tenant_id=None,
                actor="user:test",
                command_id="cmd",
                correlation_id="corr",
                causation_id=None,
                traceparent=None,
                recorded_at="2026-03-04T05:06:07+00:00",
                schema_version=class_version(type(e)),
            ),
        )
        for e in events
    ]


def append_tally(store: RecorderEventStore, counts: int = 0) -> list[int]:
    """Appends a new stream of 1 + ``counts`` events in one append; returns their positions."""
    tally = Tally()
    for _ in range(counts):
        tally.count()
    return store.append(pending(tally.collect_events()))


def take(subscription: Any, count: int, timeout: float) -> list[int]:
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and (left := deadline - time.monotonic()) > 0:
        got += [r.position for r in subscription.next_batch(count - len(got), timeout=min(left, 0.5))]
    return got


@pytest.fixture
def store(pg_event_store_url: str) -> Iterator[RecorderEventStore]:
    opened = open_event_store("postgres", pg_event_store_url, poll_interval=0.01)
    yield opened
    opened.close()


def write_concurrently(store: RecorderEventStore) -> list[int]:
    """Every writer appends APPENDS times, all released at once; returns every position written."""
    barrier = threading.Barrier(WRITERS)
    written: list[list[int]] = [[] for _ in range(WRITERS)]
    errors: list[BaseException] = []

    def write(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            for n in range(APPENDS):
                written[index] += append_tally(store, counts=n % 2)
        except BaseException as error:  # reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return sorted(p for positions in written for p in positions)


def test_readers_tailing_the_log_during_concurrent_appends_skip_nothing(store: RecorderEventStore) -> None:
    subscription = store.subscribe(0)
    tailed: list[int] = []
    writing = threading.Event()
    writing.set()

    def tail() -> None:
        after = 0
        while True:
            still_writing = writing.is_set()
            page = store.read_all(after, 7)
            tailed.extend(r.position for r in page)
            after = page[-1].position if page else after
            if not page and not still_writing:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    try:
        written = write_concurrently(store)
    finally:
        writing.clear()
        reader.join(timeout=30)
    try:
        subscribed = take(subscription, len(written), timeout=10)
    finally:
        subscription.stop()

    assert len(written) == WRITERS * APPENDS * 3 // 2
    assert [r.position for r in store.read_all(0, 10_000)] == written
    assert tailed == written
    assert subscribed == written


def test_the_append_function_is_created_again_when_a_second_store_opens_the_same_schema(
    store: RecorderEventStore, pg_event_store_url: str
) -> None:
    first = append_tally(store)
    second_store = open_event_store("postgres", pg_event_store_url)
    try:
        second = append_tally(second_store, counts=2)
    finally:
        second_store.close()
    third = append_tally(store)

    assert [r.position for r in store.read_all(0, 10)] == first + second + third


def test_read_all_through_the_adapters_select_reads_what_the_recorder_reads(store: RecorderEventStore) -> None:
    for counts in (0, 2, 1, 3):
        append_tally(store, counts)
    notifications = store.recorder.select_notifications(0, 100, inclusive_of_start=False)
    expected = [codec.decode(n.id, n) for n in notifications]
    assert len(expected) == 10

    assert store.read_all(0, 100) == expected
    assert store.read_all(expected[1].position, 3) == expected[2:5]
    assert store.read_all(expected[1].position, 100, until=expected[6].position) == expected[2:7]
    assert store.read_all(expected[-1].position, 100) == []
