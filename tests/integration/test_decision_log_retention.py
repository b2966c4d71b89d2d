"""The decision log keeps decisions for PLATFORM_DECISION_LOG_RETENTION_DAYS: a sweep deletes older ones and keeps
the rest, on SQLite and PostgreSQL; the writer thread sweeps when it starts; the setting is checked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from adapters.auth.decision_log import DecisionLog, decisions
from adapters.readmodels import ReadModelStore, sqlite_url
from application.authorization import Decision, Identity, Resource
from interfaces.bootstrap import open_decision_log
from interfaces.settings import Settings, SettingsError

START = datetime(2026, 1, 1, tzinfo=UTC)
READER = Identity("p-1", "person", "t-1", ("analyst",), "jwt")
TENANT = Resource.tenant("t-1", "active", [])
ALLOWED = Decision(True, ("members-read-their-tenant",), ())


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def read_models(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadModelStore]:
    url = request.getfixturevalue("pg_database") if request.param == "postgres" else sqlite_url(tmp_path / "rm.db")
    store = ReadModelStore(url, [])
    yield store
    store.close()


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(decisions)).scalar_one())


def decided_at(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(select(decisions.c.decided_at).order_by(decisions.c.decided_at))]


def record_days(log: DecisionLog, clock: Clock, days: list[int]) -> None:
    for day in days:
        clock.now = START + timedelta(days=day)
        log.record(READER, "read_tenant", TENANT, ALLOWED)
        log.flush()


def test_a_sweep_deletes_decisions_older_than_the_retention_and_keeps_recent_ones(
    read_models: ReadModelStore,
) -> None:
    clock = Clock()
    log = DecisionLog(read_models.engine, clock, timedelta(days=30))
    try:
        record_days(log, clock, [0, 10, 39, 40, 41, 69])
        clock.now = START + timedelta(days=70)  # keeps what was decided at day 40 or later
        assert log.sweep() == 3
        kept = decided_at(read_models.engine)
        assert [datetime.fromisoformat(at) - START for at in kept] == [timedelta(days=d) for d in (40, 41, 69)]
        assert log.sweep() == 0
    finally:
        log.close()


def test_the_writer_sweeps_when_it_starts_and_no_retention_keeps_everything(read_models: ReadModelStore) -> None:
    clock = Clock()
    keeper = DecisionLog(read_models.engine, clock, None)
    record_days(keeper, clock, [0, 1, 2])
    clock.now = START + timedelta(days=3650)
    assert keeper.sweep() == 0
    keeper.close()
    assert count(read_models.engine) == 3

    sweeper = DecisionLog(read_models.engine, clock, timedelta(days=1))
    try:
        sweeper.record(READER, "read_tenant", TENANT, ALLOWED)  # starts the writer, which sweeps first
        sweeper.flush()
        assert decided_at(read_models.engine) == [(START + timedelta(days=3650)).isoformat(timespec="microseconds")]
    finally:
        sweeper.close()


def test_the_setting_is_read_from_the_environment_and_zero_keeps_forever(read_models: ReadModelStore) -> None:
    assert Settings().decision_log_retention_days == 365
    settings = Settings.from_env({"PLATFORM_DECISION_LOG_RETENTION_DAYS": "7"})
    assert settings.decision_log_retention_days == 7
    with pytest.raises(SettingsError, match="PLATFORM_DECISION_LOG_RETENTION_DAYS"):
        Settings.from_env({"PLATFORM_DECISION_LOG_RETENTION_DAYS": "-1"})
    with pytest.raises(SettingsError, match="not a valid int"):
        Settings.from_env({"PLATFORM_DECISION_LOG_RETENTION_DAYS": "a week"})
    assert open_decision_log(settings.telemetry, read_models).retention == timedelta(days=7)
    forever = Settings.from_env({"PLATFORM_DECISION_LOG_RETENTION_DAYS": "0"})
    assert open_decision_log(forever.telemetry, read_models).retention is None
