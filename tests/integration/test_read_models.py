"""The SQL read-model store and the projection worker, on SQLite and on PostgreSQL.

The tenant directory is the real read model under test. A second, test-only projection ("tally") counts
how many times each event was applied: re-applying an event is invisible in an idempotent table but shows
up here as a count of two.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, select
from sqlalchemy.exc import OperationalError

import projections
from adapters.parking import parked
from adapters.projection_worker import ProjectionWorker
from adapters.readmodels import ReadModelStore, sqlite_url
from application.commands import CommandContext, CommandResult, CommandRunner
from application.tenants import TenantService
from domain.errors import InvalidValueError
from domain.tenants import Tenant
from eventstore.adapters import open_event_store
from eventstore.envelope import RecordedEvent
from eventstore.recorder_store import RecorderEventStore
from projections.base import Change, EventView, Projection, Update, Upsert
from projections.tenant_directory import tenants as tenant_table

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
DIRECTORY = "tenant_directory"
TALLY = "tally"
WAIT = 5.0

tally_metadata = MetaData()
applied = Table(
    "test_applied_events",
    tally_metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("times", Integer, nullable=False, default=0),
)


def count_applications(recorded: EventView) -> list[Change]:
    key = {"position": recorded.position}
    return [Upsert(applied, key), Update(applied, key, {"times": applied.c.times + 1})]


tally = Projection(TALLY, (applied,), count_applications)


class Boom(RuntimeError):
    """Raised by a projection on purpose, half-way through a batch."""


def failing_on(position: int) -> Projection:
    """The tenant directory, except that its evolve fails on the event at ``position``."""

    def evolve(recorded: EventView) -> list[Change]:
        if recorded.position == position:
            raise Boom(position)
        return projections.tenant_directory.evolve(recorded)

    return Projection(DIRECTORY, projections.tenant_directory.projection.tables, evolve)


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def read_model_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database")
        return url
    return sqlite_url(tmp_path / "readmodels.db")


def open_read_models(url: str, *extra: Projection) -> ReadModelStore:
    store = ReadModelStore(url, [*projections.ALL, tally, *extra])
    tally_metadata.create_all(store.engine)
    return store


@pytest.fixture
def read_models(read_model_url: str) -> Iterator[ReadModelStore]:
    store = open_read_models(read_model_url)
    yield store
    store.close()


@pytest.fixture
def events() -> Iterator[RecorderEventStore]:
    store = open_event_store("memory")
    yield store
    store.close()


def context(command_id: str) -> CommandContext:
    return CommandContext(actor="user:admin", command_id=command_id, correlation_id="corr-rm")


def tenant_service(store: RecorderEventStore) -> TenantService:
    return TenantService(CommandRunner(store, lambda: NOW))


def tenant_history(store: RecorderEventStore) -> CommandResult:
    """Three tenants through every kind of tenant event; returns the last command's result."""
    service = tenant_service(store)
    acme = service.onboard_tenant(context("c1"), "acme", "Acme", "standard").aggregate_id
    beta = service.onboard_tenant(context("c2"), "beta", "Beta", "trial").aggregate_id
    service.onboard_tenant(context("c3"), "gamma", "Gamma", "enterprise")
    service.change_entitlements(context("c4"), acme, ["exports", "webhooks"], {"rows": 1000})
    service.suspend_tenant(context("c5"), acme, "unpaid")
    service.reinstate_tenant(context("c6"), acme)
    return service.offboard_tenant(context("c7"), beta, "left")


def rows(read_models: ReadModelStore) -> dict[str, dict[str, Any]]:
    with read_models.engine.connect() as connection:
        return {row.slug: dict(row._mapping) for row in connection.execute(select(tenant_table))}


def times_applied(read_models: ReadModelStore) -> dict[int, int]:
    with read_models.engine.connect() as connection:
        return {row.position: row.times for row in connection.execute(select(applied))}


# --- apply: exactly once, checkpoint in the same transaction ---------------------------------------------


def test_applying_the_same_batch_twice_changes_nothing(read_models: ReadModelStore, events: RecorderEventStore) -> None:
    tenant_history(events)
    log = events.read_all(0, 100)

    assert read_models.apply(DIRECTORY, log) == log[-1].position
    read_models.apply(TALLY, log)
    directory, counted = read_models.snapshot(DIRECTORY), read_models.snapshot(TALLY)
    read_models.apply(DIRECTORY, log)
    read_models.apply(TALLY, log)
    read_models.apply(TALLY, log[2:5])

    assert read_models.snapshot(DIRECTORY) == directory
    assert read_models.snapshot(TALLY) == counted
    assert times_applied(read_models) == {r.position: 1 for r in log}
    assert directory[0] == read_models.checkpoint(DIRECTORY) == log[-1].position


def test_an_old_batch_applied_again_does_not_roll_the_rows_back(
    read_models: ReadModelStore, events: RecorderEventStore
) -> None:
    tenant_history(events)
    log = events.read_all(0, 100)
    suspended_at = next(i for i, r in enumerate(log) if isinstance(r.event, Tenant.Suspended))

    read_models.apply(DIRECTORY, log[: suspended_at + 1])
    assert rows(read_models)["acme"]["status"] == "suspended"
    read_models.apply(DIRECTORY, log[suspended_at + 1 :])
    read_models.apply(DIRECTORY, log[: suspended_at + 1])

    assert rows(read_models)["acme"]["status"] == "active"
    assert rows(read_models)["acme"]["position"] == log[suspended_at + 1].position


def test_a_failure_inside_evolve_parks_that_event_and_applies_the_others(
    read_model_url: str, read_models: ReadModelStore, events: RecorderEventStore
) -> None:
    tenant_history(events)
    log = events.read_all(0, 100)
    read_models.apply(DIRECTORY, log[:1])
    failing = open_read_models(read_model_url, failing_on(log[3].position))
    try:
        assert failing.apply(DIRECTORY, log) == log[-1].position
    finally:
        failing.close()

    assert [(p.read_model, p.position) for p in parked(read_models.engine)] == [(DIRECTORY, log[3].position)]
    assert read_models.checkpoint(DIRECTORY) == log[-1].position
    assert set(rows(read_models)) == {"acme", "beta", "gamma"}


def test_a_database_failure_leaves_neither_rows_nor_checkpoint_changed(
    read_model_url: str, read_models: ReadModelStore, events: RecorderEventStore
) -> None:
    tenant_history(events)
    log = events.read_all(0, 100)
    read_models.apply(DIRECTORY, log[:1])
    before = read_models.snapshot(DIRECTORY)

    def database_away(recorded: EventView) -> list[Change]:
        if recorded.position == log[3].position:
            raise OperationalError("apply", {}, Exception("the server closed the connection"))
        return projections.tenant_directory.evolve(recorded)

    failing = open_read_models(read_model_url, Projection(DIRECTORY, (tenant_table,), database_away))
    try:
        with pytest.raises(OperationalError):
            failing.apply(DIRECTORY, log, attempts=2)
    finally:
        failing.close()

    assert read_models.snapshot(DIRECTORY) == before
    assert read_models.checkpoint(DIRECTORY) == log[0].position
    assert parked(read_models.engine) == []
    read_models.apply(DIRECTORY, log)
    assert set(rows(read_models)) == {"acme", "beta", "gamma"}


def test_the_directory_holds_what_the_commands_did(read_models: ReadModelStore, events: RecorderEventStore) -> None:
    last = tenant_history(events)

    ProjectionWorker(events, read_models).catch_up()

    directory = rows(read_models)
    assert {slug: row["status"] for slug, row in directory.items()} == {
        "acme": "active",
        "beta": "offboarded",
        "gamma": "active",
    }
    assert directory["acme"]["features"] == ["exports", "webhooks"]
    assert directory["acme"]["quotas"] == {"rows": 1000}
    assert directory["beta"]["status_reason"] == "left"
    assert directory["beta"]["position"] == last.position
    assert directory["acme"]["updated_at"] == NOW.isoformat()


# --- rebuild ---------------------------------------------------------------------------------------------


def test_a_rebuild_from_zero_gives_the_same_snapshot(read_models: ReadModelStore, events: RecorderEventStore) -> None:
    tenant_history(events)
    worker = ProjectionWorker(events, read_models, batch=2)
    assert worker.catch_up() == len(events.read_all(0, 100))
    built = read_models.snapshot(DIRECTORY)

    read_models.reset(DIRECTORY)
    emptied = read_models.snapshot(DIRECTORY)
    ProjectionWorker(events, read_models, batch=500).catch_up()

    assert emptied[0] == 0
    assert emptied != built
    assert read_models.snapshot(DIRECTORY) == built
    assert built[0] == events.last_position()
    assert times_applied(read_models) == {r.position: 1 for r in events.read_all(0, 100)}


def test_catch_up_stops_at_until(read_models: ReadModelStore, events: RecorderEventStore) -> None:
    tenant_history(events)
    third = events.read_all(0, 100)[2].position

    ProjectionWorker(events, read_models).catch_up(until=third)

    assert read_models.checkpoint(DIRECTORY) == third
    assert set(rows(read_models)) == {"acme", "beta", "gamma"}
    assert rows(read_models)["acme"]["status"] == "active"


# --- the worker in-process -------------------------------------------------------------------------------


def test_a_started_worker_follows_new_events(read_models: ReadModelStore, events: RecorderEventStore) -> None:
    service = tenant_service(events)
    worker = ProjectionWorker(events, read_models)
    worker.start()
    try:
        onboarded = service.onboard_tenant(context("w1"), "delta", "Delta", "trial")
        assert read_models.wait_for(onboarded.position, [DIRECTORY], timeout=WAIT)
        assert rows(read_models)["delta"]["status"] == "active"

        suspended = service.suspend_tenant(context("w2"), onboarded.aggregate_id, "audit")
        assert read_models.wait_for(suspended.position, [DIRECTORY, TALLY], timeout=WAIT)
        assert rows(read_models)["delta"]["status"] == "suspended"

        started = time.monotonic()
        assert not read_models.wait_for(suspended.position + 1000, [DIRECTORY], timeout=0.3)
        assert time.monotonic() - started < 2.0
    finally:
        worker.stop()


def test_two_workers_on_one_read_model_database_apply_each_event_once(
    read_model_url: str, read_models: ReadModelStore, events: RecorderEventStore
) -> None:
    second = open_read_models(read_model_url)
    workers = [ProjectionWorker(events, read_models, batch=3), ProjectionWorker(events, second, batch=3)]
    service = tenant_service(events)
    for worker in workers:
        worker.start()
    try:
        last = CommandResult(tenant_history(events).aggregate_id, 0)
        for n in range(12):
            last = service.onboard_tenant(context(f"t{n}"), f"tenant-{n}", f"Tenant {n}", "trial")
        assert read_models.wait_for(last.position, [DIRECTORY, TALLY], timeout=WAIT)
        assert second.wait_for(last.position, [DIRECTORY, TALLY], timeout=WAIT)
    finally:
        for worker in workers:
            worker.stop()
        second.close()

    assert times_applied(read_models) == {r.position: 1 for r in events.read_all(0, 100)}
    assert len(rows(read_models)) == 15


# --- what the event log can hand a read model ------------------------------------------------------------


def test_positions_beyond_32_bits_are_stored(read_models: ReadModelStore, events: RecorderEventStore) -> None:
    """EventStoreDB positions are commit positions (byte offsets in its log): they pass 2**31 quickly."""
    tenant_service(events).onboard_tenant(context("big"), "omega", "Omega", "trial")
    [onboarded] = events.read_all(0, 1)
    far: RecordedEvent = replace(onboarded, position=5_000_000_000)

    read_models.apply(DIRECTORY, [far])
    read_models.apply(TALLY, [far])

    assert read_models.checkpoint(DIRECTORY) == 5_000_000_000
    assert read_models.checkpoint(TALLY) == 5_000_000_000
    assert rows(read_models)["omega"]["position"] == 5_000_000_000


@pytest.mark.parametrize("command", ["suspend_tenant", "offboard_tenant"])
def test_any_reason_the_domain_accepts_fits_the_directory(
    read_models: ReadModelStore, events: RecorderEventStore, command: str
) -> None:
    """A reason too long for its column would stop the read model for good: every retry fails again."""
    service = tenant_service(events)
    acme = service.onboard_tenant(context("r1"), "acme", "Acme", "trial").aggregate_id
    try:
        getattr(service, command)(context("r2"), acme, "r" * 5000)
    except InvalidValueError:
        return  # the domain refuses it: fine too
    log = events.read_all(0, 100)

    read_models.apply(DIRECTORY, log)

    assert rows(read_models)["acme"]["status_reason"] == "r" * 5000
