"""KEK rotation without downtime: rotate while events are written and read by another process's cipher;
every event still decrypts, then the old KEKs are retired and everything still reads from a fresh start."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.keys import EnvelopeCipher, KeyRingError, Rotation, open_envelope_cipher, retire_kek, rotate_kek
from adapters.keys.datakeys import data_keys
from application.access import AccessService
from application.commands import CommandContext, CommandRunner
from application.secrets import SecretService
from application.tenants import TenantService
from domain.access import Principal, principal_id_for
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

ISSUER = "https://idp.example.com"


def clock() -> datetime:
    return datetime.now(UTC)


def ctx() -> CommandContext:
    command_id = secrets.token_hex(8)
    return CommandContext("user:test", command_id, command_id)


def open_process(tmp_path: Path, keys_url: str) -> tuple[EnvelopeCipher, RecorderEventStore]:
    """What one platform process opens: its own cipher (no key cache, so every read unwraps) and event store."""
    cipher = open_envelope_cipher(str(tmp_path / "keys"), url=keys_url, cache_seconds=0)
    return cipher, open_event_store("sqlite", str(tmp_path / "events.db"), cipher=cipher, poll_interval=0.01)


class Load:
    """One process writes principals and secrets while another process reads the whole log back, checking names."""

    def __init__(self, tmp_path: Path, keys_url: str) -> None:
        self.writer_cipher, self.writer_store = open_process(tmp_path, keys_url)
        self.reader_cipher, self.reader_store = open_process(tmp_path, keys_url)
        runner = CommandRunner(self.writer_store, clock)
        self.access, self.vault = AccessService(runner), SecretService(runner, self.writer_cipher)
        tenants = TenantService(runner, self.writer_cipher)
        self.tenant_ids = [tenants.onboard_tenant(ctx(), f"t{i}", f"T{i}", "trial").aggregate_id for i in range(3)]
        self.names: dict[str, str] = {}
        self.values: dict[tuple[int, str], str] = {}
        self.counts = {"written": 0, "reads": 0, "checked": 0, "reads_after_rotation": 0}
        self.rotated = threading.Event()
        self.errors: list[BaseException] = []

    def write(self) -> None:
        i = self.counts["written"]
        tenant, secret_name = i % 3, f"s{i % 4}"
        subject, name = f"user-{i}@example.com", f"Person {secrets.token_hex(4)}"
        self.access.register_principal(ctx(), "person", ISSUER, subject, name, str(self.tenant_ids[tenant]))
        self.names[str(principal_id_for(ISSUER, subject, str(self.tenant_ids[tenant])))] = name
        value = secrets.token_urlsafe(16)
        self.vault.put_secret(ctx(), self.tenant_ids[tenant], secret_name, value)
        self.values[(tenant, secret_name)] = value
        self.counts["written"] += 1

    def read(self) -> None:
        for recorded in self.reader_store.read_all(0, 100_000):
            if isinstance(recorded.event, Principal.Registered) and str(recorded.stream_id) in self.names:
                assert recorded.event.display_name == self.names[str(recorded.stream_id)]
                self.counts["checked"] += 1
        self.counts["reads"] += 1
        self.counts["reads_after_rotation"] += self.rotated.is_set()

    def during(self, rotate: Callable[[], list[Rotation]]) -> list[Rotation]:
        """Runs ``rotate`` while writing and reading go on around it."""
        stop = threading.Event()
        threads = [self._background(self.write, stop), self._background(self.read, stop)]
        time.sleep(0.5)
        rotations = rotate()
        self.rotated.set()
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        return rotations

    def _background(self, work: Callable[[], None], stop: threading.Event) -> threading.Thread:
        def loop() -> None:
            while not stop.is_set():
                try:
                    work()
                except BaseException as error:  # handed to the test, which fails
                    self.errors.append(error)
                    return

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        for closable in (self.writer_store, self.reader_store, self.writer_cipher, self.reader_cipher):
            closable.close()


def rotate_twice(load: Load) -> list[Rotation]:
    first = rotate_kek(load.writer_cipher.keys)
    time.sleep(0.3)
    return [first, rotate_kek(load.reader_cipher.keys)]  # another process rotates again


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def keys_url(request: pytest.FixtureRequest) -> str:
    """The key database: the default SQLite file under the keys directory, or a PostgreSQL database."""
    return "" if request.param == "sqlite" else str(request.getfixturevalue("pg_database"))


def test_rotating_the_kek_under_load_loses_nothing_and_old_keks_can_be_retired(tmp_path: Path, keys_url: str) -> None:
    load = Load(tmp_path, keys_url)

    first, second = load.during(lambda: rotate_twice(load))

    assert load.errors == []
    assert load.counts["written"] >= 10
    assert load.counts["reads_after_rotation"] >= 1
    assert load.counts["checked"] > load.counts["written"]
    assert first.rewrapped >= 3
    assert second.previous == first.kek_id
    for retired in (first.previous, first.kek_id):
        retire_kek(load.writer_cipher.keys, retired)
    with pytest.raises(KeyRingError, match="current"):
        retire_kek(load.writer_cipher.keys, second.kek_id)
    load.close()
    assert_everything_reads_from_a_fresh_start(tmp_path, keys_url, load, second.kek_id)


def assert_everything_reads_from_a_fresh_start(tmp_path: Path, keys_url: str, load: Load, kek_id: str) -> None:
    cipher, store = open_process(tmp_path, keys_url)
    assert cipher.keys.keyring.ids() == [kek_id]
    with cipher.keys.engine.connect() as connection:
        assert {row.kek_id for row in connection.execute(select(data_keys))} == {kek_id}
    every = store.read_all(0, 100_000)
    registered = {str(r.stream_id): r.event.display_name for r in every if isinstance(r.event, Principal.Registered)}
    assert registered == load.names
    vault = SecretService(CommandRunner(store, clock), cipher)
    for (tenant, name), value in load.values.items():
        assert vault.reveal_secret(load.tenant_ids[tenant], name) == value
    store.close()
    cipher.close()
