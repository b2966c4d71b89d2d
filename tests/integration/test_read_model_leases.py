"""Read-model leases on SQLite and PostgreSQL: fair shares, expiry, hand-over, and the fence in apply.

Time is a test clock, so expiry is exact and nothing sleeps.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import projections
from adapters.projection_worker import ProjectionWorker
from adapters.readmodel_leases import LeaseLostError, ReadModelLeases, holders
from adapters.readmodels import ReadModelStore, sqlite_url
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore
from tests.conftest import new_pg_database
from tests.integration.test_read_models import (
    DIRECTORY,
    TALLY,
    context,
    open_read_models,
    rows,
    tenant_history,
    tenant_service,
    times_applied,
)

NAMES = tuple(p.name for p in projections.ALL)
TTL = 9.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_read_models(backend: str, folder: Path, name: str) -> Iterator[ReadModelStore]:
    if backend == "sqlite":
        store = open_read_models(sqlite_url(folder / f"{name}.db"))
        yield store
        store.close()
        return
    with new_pg_database() as url:
        store = open_read_models(url)
        yield store
        store.close()


@pytest.fixture
def read_models(backend: str, tmp_path: Path) -> Iterator[ReadModelStore]:
    yield from new_read_models(backend, tmp_path, "readmodels")


@pytest.fixture
def reference(backend: str, tmp_path: Path) -> Iterator[ReadModelStore]:
    yield from new_read_models(backend, tmp_path, "reference")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def feeder(read_models: ReadModelStore, owner: str, clock: Clock) -> ReadModelLeases:
    return ReadModelLeases(read_models.engine, NAMES, owner, TTL, clock)


def test_a_lone_feeder_holds_every_read_model(read_models: ReadModelStore, clock: Clock) -> None:
    alone = feeder(read_models, "a", clock)
    holding = alone.keep()
    assert holding.held == NAMES
    assert holding.gained == NAMES
    assert alone.keep().gained == ()
    assert holders(read_models.engine, clock.now) == dict.fromkeys(NAMES, "a")


def test_feeders_share_the_read_models_fairly_and_never_both_hold_one(
    read_models: ReadModelStore, clock: Clock
) -> None:
    first = feeder(read_models, "a", clock)
    first.keep()
    others = [feeder(read_models, "b", clock), feeder(read_models, "c", clock)]
    for _ in range(3):  # rounds: the newcomers beat, the first lets go of its excess, the newcomers claim it
        for each in [first, *others]:
            each.keep()
    shares = [set(each.held) for each in [first, *others]]
    assert [len(share) for share in shares] == [5, 5, 5]
    assert set.union(*shares) == set(NAMES)
    assert sum(len(share) for share in shares) == len(NAMES)


def test_a_silent_feeders_read_models_move_once_its_lease_expires(read_models: ReadModelStore, clock: Clock) -> None:
    survivor, victim = feeder(read_models, "a", clock), feeder(read_models, "b", clock)
    for _ in range(2):
        survivor.keep()
        victim.keep()
    taken = set(victim.held)
    assert len(taken) == len(NAMES) - math.ceil(len(NAMES) / 2)

    clock.now += TTL - 0.1  # the victim stops renewing; the survivor renews every third of the TTL
    assert set(survivor.keep().held).isdisjoint(taken)
    clock.now += 0.1
    holding = survivor.keep()
    assert holding.held == NAMES
    assert set(holding.gained) == taken


def test_a_feeder_that_stops_hands_its_read_models_over_at_once(read_models: ReadModelStore, clock: Clock) -> None:
    staying, leaving = feeder(read_models, "a", clock), feeder(read_models, "b", clock)
    for _ in range(2):
        staying.keep()
        leaving.keep()
    leaving.release()
    assert staying.keep().held == NAMES


def test_a_late_renewal_finds_its_lease_taken_and_keeps_nothing_of_it(
    read_models: ReadModelStore, clock: Clock
) -> None:
    paused, other = feeder(read_models, "a", clock), feeder(read_models, "b", clock)
    paused.keep()
    clock.now += TTL  # paused past its TTL (a long GC, a stopped VM)
    other.keep()
    holding = paused.keep()
    assert set(holding.lost) == set(other.held)
    assert set(paused.held).isdisjoint(other.held)


def test_apply_writes_nothing_for_a_feeder_without_the_lease(
    read_models: ReadModelStore, events: RecorderEventStore, clock: Clock
) -> None:
    tenant_history(events)
    log = events.read_all(0, 100)
    paused, other = feeder(read_models, "a", clock), feeder(read_models, "b", clock)
    paused.keep()
    read_models.apply(DIRECTORY, log[:2], holder="a")
    clock.now += TTL
    other.keep()  # takes every lease of the paused feeder

    with pytest.raises(LeaseLostError):
        read_models.apply(DIRECTORY, log, holder="a")
    assert read_models.checkpoint(DIRECTORY) == log[1].position
    assert set(rows(read_models)) == {"acme", "beta"}

    assert read_models.apply(DIRECTORY, log, holder="b") == log[-1].position
    assert set(rows(read_models)) == {"acme", "beta", "gamma"}


def test_apply_moves_the_checkpoint_through_what_a_batch_read(
    read_models: ReadModelStore, events: RecorderEventStore
) -> None:
    tenant_history(events)
    log = events.read_all(0, 100)
    assert read_models.apply(DIRECTORY, log[:3], through=log[-1].position) == log[-1].position
    assert read_models.apply(DIRECTORY, log) == log[-1].position  # the rest is taken as seen
    assert set(rows(read_models)) == {"acme", "beta", "gamma"}


@pytest.fixture
def events() -> Iterator[RecorderEventStore]:
    store = open_event_store("memory")
    yield store
    store.close()


def test_two_workers_share_the_read_models_and_build_what_one_would(
    read_models: ReadModelStore, events: RecorderEventStore, reference: ReadModelStore
) -> None:
    tenant_history(events)
    fed = (*NAMES, TALLY)  # the tally counts how often each event was applied
    workers = [
        ProjectionWorker(events, read_models, leases=ReadModelLeases(read_models.engine, fed, f"w{n}", 0.6))
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 20
        while not (caught_up(read_models, events, fed) and split_between(workers, fed)):
            assert time.monotonic() < deadline, "the workers did not catch up and split the read models"
            time.sleep(0.05)
    finally:
        stopping = [threading.Thread(target=worker.stop) for worker in workers]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()
    ProjectionWorker(events, reference).catch_up()
    for name in NAMES:
        assert read_models.snapshot(name) == reference.snapshot(name), name
    assert times_applied(read_models) == {e.position: 1 for e in events.read_all(0, 100)}
    assert holders(read_models.engine) == dict.fromkeys(fed)  # both stopped: every lease given back


def caught_up(read_models: ReadModelStore, events: RecorderEventStore, names: tuple[str, ...]) -> bool:
    return all(read_models.checkpoint(name) == events.last_position() for name in names)


def split_between(workers: list[ProjectionWorker], names: tuple[str, ...]) -> bool:
    shares = [set(worker.leases.held) for worker in workers if worker.leases is not None]
    return all(shares) and set.union(*shares) == set(names) and not set.intersection(*shares)


def test_a_worker_gone_silent_mid_stream_hands_over_without_doubling_or_skipping(
    read_models: ReadModelStore, events: RecorderEventStore, reference: ReadModelStore
) -> None:
    fed = (*NAMES, TALLY)
    first, second = (
        ProjectionWorker(events, read_models, leases=ReadModelLeases(read_models.engine, fed, name, 0.6))
        for name in ("first", "second")
    )
    tenants = tenant_service(events)
    onboard = [tenants.onboard_tenant(context(f"on-{n}"), f"t-{n}", "T", "trial") for n in range(10)]
    first.start()
    second.start()
    try:
        wait_until(lambda: caught_up(read_models, events, fed) and split_between([first, second], fed))
        first._stop.set()  # it dies as a killed process would: no goodbye, its leases left to expire
        assert first._thread is not None
        first._thread.join()
        onboard += [tenants.onboard_tenant(context(f"on-{n}"), f"t-{n}", "T", "trial") for n in range(10, 30)]
        wait_until(
            lambda: caught_up(read_models, events, fed) and second.leases is not None and second.leases.held == fed
        )
    finally:
        second.stop()
    ProjectionWorker(events, reference).catch_up()
    for name in NAMES:
        assert read_models.snapshot(name) == reference.snapshot(name), name
    assert times_applied(read_models) == {e.position: 1 for e in events.read_all(0, 100)}


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)
