"""Parked events, on SQLite and PostgreSQL: parked once whoever feeds the read model, reported once as a dead letter,
re-applied on retry, replayed the same way, and never an endless chain when the dead-letter read model fails too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from poison import NUL, Cause

import projections
from adapters.parked_letters import ParkedLetters
from adapters.parking import PARKED, RESOLVED, StillFailingError, parked, unreported
from adapters.projection_worker import ProjectionWorker
from adapters.readmodels import ReadModelStore, sqlite_url
from adapters.replay import replay
from application.commands import CommandContext, CommandRunner
from application.deadletters import DeadLetterService
from application.tenants import TenantService
from domain.deadletters import DeadLetter
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

DIRECTORY = "tenant_directory"


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        found: str = request.getfixturevalue("pg_database")
        return found
    return sqlite_url(tmp_path / "readmodels.db")


@pytest.fixture
def events() -> Iterator[RecorderEventStore]:
    store = open_event_store("memory")
    yield store
    store.close()


def runner(events: RecorderEventStore) -> CommandRunner:
    return CommandRunner(events, lambda: datetime(2026, 5, 6, tzinfo=UTC))


def command(name: str) -> CommandContext:
    return CommandContext("user:test", name, "parked")


def poisoned_log(events: RecorderEventStore) -> int:
    """Tenants a, p (its name holds a NUL), b; p suspended afterwards. Returns p's onboarding position."""
    tenants = TenantService(runner(events))
    tenants.onboard_tenant(command("a"), "a", "A", "trial")
    poison = tenants.onboard_tenant(command("p"), "p", f"P{NUL}", "trial")
    tenants.onboard_tenant(command("b"), "b", "B", "trial")
    tenants.suspend_tenant(command("s"), poison.aggregate_id, "unpaid")
    return poison.position


def open_guarded(url: str, cause: Cause | None = None) -> tuple[ReadModelStore, Cause]:
    store = ReadModelStore(url, projections.ALL)
    cause = cause or Cause(store)
    cause.guard(store, DIRECTORY)
    return store, cause


def letters(events: RecorderEventStore) -> list[DeadLetter.Recorded]:
    return [r.event for r in events.read_all(0, 10_000) if isinstance(r.event, DeadLetter.Recorded)]


def test_an_event_is_parked_once_whoever_feeds_the_read_model_and_after_restarts(
    url: str, events: RecorderEventStore
) -> None:
    position = poisoned_log(events)
    first, cause = open_guarded(url)
    second, _ = open_guarded(url, cause)
    for store in (first, second):
        store.on_parked = ParkedLetters(events, store, DeadLetterService(runner(events))).report
    try:
        log = events.read_all(0, 100)
        assert first.apply(DIRECTORY, log) == second.apply(DIRECTORY, log) == log[-1].position
        ProjectionWorker(events, second).catch_up()
        restarted, _ = open_guarded(url, cause)
        restarted.apply(DIRECTORY, log)
        restarted.close()

        assert [(p.position, p.status) for p in parked(first.engine, status=None)] == [(position, PARKED)]
        assert unreported(first.engine) == []
        [letter] = letters(events)
        assert (letter.source, letter.subject, letter.step) == ("projection", DIRECTORY, str(position))
    finally:
        first.close()
        second.close()


def test_a_report_that_failed_is_made_by_the_next_start_and_a_repeated_one_records_nothing(
    url: str, events: RecorderEventStore
) -> None:
    poisoned_log(events)
    store, _ = open_guarded(url)
    service = DeadLetterService(runner(events))
    bridge = ParkedLetters(events, store, service)

    def away(_found: object) -> None:
        raise ConnectionError("the event store is away")

    try:
        store.on_parked = away
        store.apply(DIRECTORY, events.read_all(0, 100))
        assert len(unreported(store.engine)) == 1
        store.on_parked = bridge.report
        store.report_parked()  # what ProjectionWorker.run does first
        bridge.report(parked(store.engine)[0])  # a crash after the dead letter, before the row said so
        assert unreported(store.engine) == []
        assert len(letters(events)) == 1
    finally:
        store.close()


def test_a_retry_applies_the_parked_event_and_the_later_ones_of_its_stream(
    url: str, events: RecorderEventStore
) -> None:
    position = poisoned_log(events)
    store, cause = open_guarded(url)
    service = DeadLetterService(runner(events))
    ParkedLetters(events, store, service).wire()
    try:
        ProjectionWorker(events, store).catch_up()
        letter_id = letters(events)[0].originator_id
        with pytest.raises(StillFailingError):
            service.retry(command("retry-1"), letter_id)
        assert service.get(letter_id).status == "open"

        cause.fixed = True
        service.retry(command("retry-2"), letter_id)

        assert service.get(letter_id).status == "resolved"
        assert [(p.position, p.status) for p in parked(store.engine, status=None)] == [(position, RESOLVED)]
        found = {r.slug: r for r in store_rows(store)}
        assert (found["p"].display_name, found["p"].status) == ("P", "suspended")  # the suspension came after it
    finally:
        store.close()


def store_rows(store: ReadModelStore) -> list[Any]:
    with store.engine.connect() as connection:
        return list(connection.execute(projections.tenant_directory.tenants.select()))


def test_a_discarded_dead_letter_leaves_the_event_unapplied_and_parked_no_more(
    url: str, events: RecorderEventStore
) -> None:
    poisoned_log(events)
    store, _ = open_guarded(url)
    service = DeadLetterService(runner(events))
    ParkedLetters(events, store, service).wire()
    try:
        ProjectionWorker(events, store).catch_up()
        service.discard(command("discard"), letters(events)[0].originator_id, "test data, never needed")
        assert parked(store.engine) == []
        assert {r.slug for r in store_rows(store)} == {"a", "b"}
    finally:
        store.close()


def test_replay_parks_in_its_own_database_and_applies_the_rest(url: str, events: RecorderEventStore) -> None:
    position = poisoned_log(events)
    target, _ = open_guarded(url)
    try:
        replay(events, target, {DIRECTORY: events.last_position()})
        assert [p.position for p in parked(target.engine)] == [position]
        assert {r.slug for r in store_rows(target)} == {"a", "b"}
    finally:
        target.close()


def test_the_dead_letter_read_model_parks_its_own_poison_and_never_without_end(
    url: str, events: RecorderEventStore
) -> None:
    service = DeadLetterService(runner(events))
    store = ReadModelStore(url, projections.ALL)
    cause = Cause(store)
    cause.guard(store, "dead_letters")
    ParkedLetters(events, store, service).wire()
    try:
        service.record(command("failed"), None, "pipeline", "run-1", "normalize", f"bad value {NUL}", 3)
        ProjectionWorker(events, store).catch_up()
        ProjectionWorker(events, store).catch_up()
        # the pipeline's dead letter is parked; the projection's own dead letter about it (its error made safe) is not
        assert [p.read_model for p in parked(store.engine)] == ["dead_letters"]
        with store.engine.connect() as connection:
            shown = connection.execute(projections.deadletters.list_query(None, None, None, None, 10)).all()
        assert [(r.source, r.subject) for r in shown] == [("projection", "dead_letters")]

        cause.fails_on = lambda recorded: isinstance(recorded.event, DeadLetter.Event)  # now it fails on every one
        service.record(command("failed-2"), None, "pipeline", "run-2", "normalize", "boom", 3)
        ProjectionWorker(events, store).catch_up()
        ProjectionWorker(events, store).catch_up()
        assert len(parked(store.engine)) == 3  # run-2's dead letter, and the projection's about it: no further
        assert store.checkpoint("dead_letters") == events.last_position()
    finally:
        store.close()
