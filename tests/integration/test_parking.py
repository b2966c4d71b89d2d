"""What is poison and what is not, how a parked event is described, when a read model is doubted or stuck, and
the dead letter's resolve rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError

import projections
from adapters.parking import ParkedEvent, describe, poisonous
from adapters.readmodel_health import AUTHORIZATION_READ_MODELS, ReadModelHealth, Soundness, Stall
from adapters.readmodels import ReadModelStore, sqlite_url
from application.commands import CommandContext, CommandRunner
from application.tenants import TenantService
from domain.deadletters import DeadLetter, DeadLetterClosedError
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore


def database_error(kind: type[DataError | IntegrityError | OperationalError | ProgrammingError]) -> Exception:
    return kind("INSERT ...", {}, Exception("refused"))


@pytest.mark.parametrize(
    ("error", "poison"),
    [
        (database_error(DataError), True),  # a NUL in a text column, a value too long
        (database_error(IntegrityError), True),  # a unique or not-null rule the event breaks
        (ValueError("the projection's code fails on it"), True),
        (database_error(OperationalError), False),  # the database is away, locked, or a serialization conflict
        (database_error(ProgrammingError), False),  # a missing table: the deployment, not the event
    ],
)
def test_only_the_event_itself_is_poison(error: Exception, poison: bool) -> None:
    assert poisonous(error) is poison


def test_a_lost_connection_is_never_poison_even_as_a_data_error() -> None:
    error = database_error(DataError)
    assert isinstance(error, DataError)
    error.connection_invalidated = True
    assert not poisonous(error)


def test_a_parked_event_is_described_on_one_safe_bounded_line() -> None:
    found = describe(ValueError("bad \x00 value\nsecond line"))
    assert found == "ValueError: bad ? value"
    assert len(describe(ValueError("x" * 5000))) == 2000


def parked_about(read_model: str, stream: str, tenant: str | None) -> ParkedEvent:
    return ParkedEvent(read_model, 7, "e", "Principal.RoleRevoked", stream, tenant, "boom", "parked")


def test_authentication_doubts_only_what_a_parked_event_is_about() -> None:
    soundness = Soundness((parked_about("access", "principal-1", "tenant-1"),))
    assert soundness.doubt(AUTHORIZATION_READ_MODELS, {"principal-1"})
    assert soundness.doubt(AUTHORIZATION_READ_MODELS, {"principal-2", "tenant-1"}) is None  # someone else's event
    about_tenant = Soundness((parked_about("tenant_directory", "tenant-1", "tenant-1"),))  # e.g. its suspension
    assert about_tenant.doubt(AUTHORIZATION_READ_MODELS, {"principal-2", "tenant-1"})
    assert (
        Soundness((parked_about("runs", "principal-1", None),)).doubt(AUTHORIZATION_READ_MODELS, {"principal-1"})
        is None
    )
    assert Soundness(stalled={"access": Stall(3, 20.0)}).doubt(AUTHORIZATION_READ_MODELS, {"anyone"})


def test_problems_name_each_read_model() -> None:
    soundness = Soundness((parked_about("access", "p", None),), {"pipeline_runs": Stall(4, 31.0)})
    assert soundness.problems() == (
        "read model access has 1 parked event(s), at 7",
        "read model pipeline_runs has not advanced for 31 s while 4 events behind",
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log() -> Iterator[RecorderEventStore]:
    store = open_event_store("memory")
    TenantService(CommandRunner(store, lambda: datetime(2026, 1, 1, tzinfo=UTC))).onboard_tenant(
        CommandContext("user:test", "c1", "c1"), "acme", "Acme", "trial"
    )
    yield store
    store.close()


def test_a_read_model_is_stuck_once_it_stays_behind_without_advancing(log: RecorderEventStore, tmp_path: Path) -> None:
    read_models = ReadModelStore(sqlite_url(tmp_path / "rm.db"), [projections.tenant_directory.projection])
    clock = Clock()
    health = ReadModelHealth(log, read_models, stall_after=10, now=clock)
    try:
        assert health.check().stalled == {}  # the first look starts its clock
        clock.now += 11
        assert set(health.check().stalled) == {"tenant_directory"}
        read_models.apply("tenant_directory", log.read_all(0, 10))
        clock.now += 11
        assert health.check().stalled == {}  # caught up: not stuck however long since it moved
    finally:
        read_models.close()


def test_a_dead_letter_is_resolved_only_after_a_retry() -> None:
    letter = DeadLetter.record(None, "projection", "access", "7", "boom", 1, None, None)
    with pytest.raises(DeadLetterClosedError):
        letter.resolve("user:ops")
    letter.retry("user:ops")
    letter.resolve("user:ops")
    assert letter.status == "resolved"
    with pytest.raises(DeadLetterClosedError):
        letter.retry("user:ops")
