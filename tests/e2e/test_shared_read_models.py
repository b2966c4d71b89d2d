"""Several feeder processes share the read models by lease, on PostgreSQL: `platform projections` workers, and
`platform consumers` fed from NATS. One is killed (SIGKILL) while events are appended; its read models move to
the others within PLATFORM_LEASE_TTL + a third of it, and every read model ends equal to a fresh replay of the
log: no event applied twice or skipped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import create_engine
from sqlalchemy.exc import ProgrammingError

import projections
from adapters.projection_worker import ProjectionWorker
from adapters.readmodel_leases import holders
from application.commands import CommandContext, CommandRunner
from application.tenants import TenantService
from interfaces.bootstrap import open_field_cipher, open_read_models, open_store
from interfaces.settings import Settings
from tests.conftest import new_pg_database
from tests.e2e.test_cli import start, stop

pytestmark = pytest.mark.postgres
TTL = 3.0
MOVED_WITHIN = TTL + TTL / 3
SLACK = 3.0
"""Seconds a loaded two-core machine may add to a round (a batch being applied, a process scheduled late)."""
NAMES = {p.name for p in projections.ALL}
STARTED_WITHIN = 120.0
"""Seconds for the processes to start and share the read models (slow on a loaded machine)."""


@pytest.fixture
def env(tmp_path: Path, pg_event_store_url: str, pg_database: str) -> dict[str, str]:
    return {
        **os.environ,
        "PLATFORM_EVENT_STORE": "postgres",
        "PLATFORM_EVENT_STORE_URL": pg_event_store_url,
        "PLATFORM_READ_MODEL_URL": pg_database,
        "PLATFORM_KEYS_DIR": str(tmp_path / "keys"),
        "PLATFORM_DATASETS": str(tmp_path / "datasets"),
        "PLATFORM_SCRATCH_DIR": str(tmp_path / "scratch"),
        "PLATFORM_LEASE_TTL": str(TTL),
        "PLATFORM_LOG_LEVEL": "WARNING",
    }


class Appender:
    """Appends tenant events from a thread of the test, as the API would, until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.cipher = open_field_cipher(settings)
        self.store = open_store(settings, self.cipher)
        self.tenants = TenantService(CommandRunner(self.store, lambda: datetime.now(UTC)))
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._append, daemon=True)

    def _append(self) -> None:
        while not self._stop.is_set():
            n = self.count
            context = CommandContext(actor="user:test", command_id=f"on-{n}", correlation_id=f"c-{n}")
            tenant = self.tenants.onboard_tenant(context, f"tenant-{n}", f"Tenant {n}", "trial").aggregate_id
            context = CommandContext(actor="user:test", command_id=f"ent-{n}", correlation_id=f"c-{n}")
            self.tenants.change_entitlements(context, tenant, ["exports"], {"rows": n})
            self.count += 1
            time.sleep(0.01)

    def __enter__(self) -> Appender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def __exit__(self, *_: object) -> None:
        self.stop()
        self.store.close()
        self.cipher.close()


def owners(settings: Settings) -> dict[str, str | None]:
    engine = create_engine(settings.read_model_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return holders(engine)
    except ProgrammingError:  # no feeder has made the table yet
        return {}
    finally:
        engine.dispose()


def pid_of(owner: str | None) -> int | None:
    return int(owner.split(":")[1]) if owner else None


def wait(check: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def shared_by(settings: Settings, processes: list[subprocess.Popen[str]]) -> bool:
    """Every read model held, each process holding some."""
    for process in processes:
        if process.poll() is not None:
            pytest.fail(f"a feeder exited: {stop(process)}")
    held = owners(settings)
    return (
        set(held) == NAMES and all(held.values()) and {pid_of(o) for o in held.values()} == {p.pid for p in processes}
    )


def kill_one_mid_stream(settings: Settings, feeders: list[subprocess.Popen[str]]) -> None:
    """Appends events, kills the first feeder while they flow, and checks its read models move in time."""
    with Appender(settings) as appender:
        wait(lambda: appender.count >= 20, 60, "events appended")
        victim = feeders[0]
        victims = {name for name, owner in owners(settings).items() if pid_of(owner) == victim.pid}
        assert victims
        victim.kill()
        victim.wait()
        moved = wait(
            lambda: all(pid_of(owners(settings)[name]) not in (None, victim.pid) for name in victims),
            MOVED_WITHIN + SLACK,
            "the killed feeder's read models move",
        )
        print(f"{len(victims)} read models moved {moved:.2f} s after the kill (stated: within {MOVED_WITHIN} s)")
        time.sleep(1.0)  # events keep coming to the new feeders
    assert appender.count > 20


def equal_to_a_replay(settings: Settings) -> None:
    cipher = open_field_cipher(settings)
    store = open_store(settings, cipher)
    live = open_read_models(settings, cipher)
    try:
        last = store.last_position()
        wait(lambda: all(live.checkpoint(name) == last for name in NAMES), 60, "every read model caught up")
        with new_pg_database() as url:
            reference = open_read_models(replace(settings, read_model_url=url), cipher)
            try:
                ProjectionWorker(store, reference).catch_up()
                for name in sorted(NAMES):
                    assert live.snapshot(name) == reference.snapshot(name), name
            finally:
                reference.close()
    finally:
        live.close()
        store.close()
        cipher.close()


def test_projection_workers_share_the_read_models_and_a_killed_ones_move(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    workers = [start(["projections"], env) for _ in range(2)]
    try:
        wait(lambda: shared_by(settings, workers), STARTED_WITHIN, "two workers share the read models")
        assert sorted(list(map(pid_of, owners(settings).values())).count(w.pid) for w in workers) == [7, 8]
        kill_one_mid_stream(settings, workers)
        equal_to_a_replay(settings)
    finally:
        for worker in workers:
            stop(worker)


@pytest.fixture
def nats_env(env: dict[str, str], nats_url: str, stream_name: str) -> Iterator[dict[str, str]]:
    yield env | {
        "PLATFORM_NATS_URL": nats_url,
        "PLATFORM_NATS_STREAM": stream_name,
        "PLATFORM_NATS_SUBJECT_PREFIX": stream_name.lower(),
    }

    async def delete() -> None:
        connection = await nats.connect(nats_url)
        with suppress(NotFoundError):
            await connection.jetstream().delete_stream(stream_name)
        await connection.close()

    asyncio.run(delete())


@pytest.mark.nats
def test_consumers_share_the_read_models_fed_from_nats_and_a_killed_ones_move(nats_env: dict[str, str]) -> None:
    settings = Settings.from_env(nats_env)
    relay = start(["relay"], nats_env)
    consumers = [start(["consumers"], nats_env) for _ in range(2)]
    try:
        wait(lambda: shared_by(settings, consumers), STARTED_WITHIN, "two consumers processes share the read models")
        kill_one_mid_stream(settings, consumers)
        equal_to_a_replay(settings)
    finally:
        for process in [*consumers, relay]:
            stop(process)
