"""Crypto-shredding on offboarding, on SQLite and on PostgreSQL (event store and key database alike).

A tenant offboarded with erasure loses its data key: its principals' names and subjects and its secret values
read as "[erased]" everywhere, while the log stays whole, readable and replayable, and other tenants and the
platform's own principals are untouched. The stored bytes never held those values in clear.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import psycopg
import pytest
from sqlalchemy import select

import projections
from adapters.keys import EnvelopeCipher, open_envelope_cipher
from adapters.keys.datakeys import data_keys
from adapters.keys.rowseal import RowSealer
from adapters.projection_worker import ProjectionWorker
from adapters.readmodels import ReadModelStore, sqlite_url
from application.access import AccessService
from application.commands import CommandContext, CommandRunner
from application.secrets import SecretErasedError, SecretService
from application.tenants import TenantService
from domain.access import principal_id_for
from domain.tenants import Tenant
from eventstore.adapters import open_event_store, postgres_env
from eventstore.cipher import FieldDecryptionError, KeyErasedError
from eventstore.codec import ERASED
from eventstore.recorder_store import RecorderEventStore
from projections import secrets as secret_directory
from projections import webhooks
from projections.access import memberships_query, principal_query, principals

ISSUER = "https://idp.example.com"
READ_MODELS = tuple({p.name: p for p in (*projections.ALL, secret_directory.projection)}.values())


def clock() -> datetime:
    return datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def ctx(command_id: str | None = None) -> CommandContext:
    command_id = command_id or secrets.token_hex(8)
    return CommandContext("user:test", command_id, command_id)


@dataclass
class World:
    """The write side with its cipher, a live read model, and a way to read the raw stored bytes."""

    store: RecorderEventStore
    cipher: EnvelopeCipher
    live: ReadModelStore
    raw_events: Callable[[], bytes]
    keys_dir: Path
    tmp_path: Path
    tenants: TenantService = field(init=False)
    access: AccessService = field(init=False)
    secrets: SecretService = field(init=False)

    def __post_init__(self) -> None:
        runner = CommandRunner(self.store, clock)
        self.tenants = TenantService(runner, self.cipher)
        self.access = AccessService(runner)
        self.secrets = SecretService(runner, self.cipher)


@dataclass
class Person:
    principal_id: UUID
    subject: str
    display_name: str


@dataclass
class Known:
    """The values the scenario wrote, by tenant slug ("" for the platform)."""

    tenant_ids: dict[str, UUID] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    secret_values: dict[str, dict[str, str]] = field(default_factory=dict)

    def clear_texts(self, slug: str) -> list[str]:
        person = self.people[slug]
        return [person.subject, person.display_name, *self.secret_values.get(slug, {}).values()]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    keys_dir = tmp_path / "keys"
    if request.param == "sqlite":
        cipher = open_envelope_cipher(str(keys_dir))
        store = open_event_store("sqlite", str(tmp_path / "events.db"), cipher=cipher)
        live = ReadModelStore(sqlite_url(tmp_path / "live.db"), READ_MODELS, RowSealer(cipher))
        raw = lambda: b"".join(p.read_bytes() for p in sorted(tmp_path.glob("events.db*")))  # noqa: E731
    else:
        database = request.getfixturevalue("pg_database")
        cipher = open_envelope_cipher(str(keys_dir), url=database)
        url = request.getfixturevalue("pg_event_store_url")
        store = open_event_store("postgres", url, cipher=cipher)
        live = ReadModelStore(database, READ_MODELS, RowSealer(cipher))
        raw = lambda: _postgres_states(url, store.recorder.events_table_name)  # noqa: E731
    yield World(store, cipher, live, raw, keys_dir, tmp_path)
    for closable in (live, store, cipher):
        closable.close()


def _postgres_states(url: str, table: str) -> bytes:
    env = postgres_env(url)
    with psycopg.connect(url.split("?", 1)[0]) as connection:
        rows = connection.execute(f'SELECT topic, state FROM "{env["POSTGRES_SCHEMA"]}"."{table}"').fetchall()
    return b"".join(topic.encode() + bytes(state) for topic, state in rows)


def populate(world: World) -> Known:
    """Two tenants, each with a person and secrets (one rotated), and a platform admin of no tenant."""
    known = Known()
    for slug in ("acme", "globex"):
        tenant_id = world.tenants.onboard_tenant(ctx(), slug, f"{slug.title()} Corp", "standard").aggregate_id
        known.tenant_ids[slug] = tenant_id
        known.people[slug] = register(world, str(tenant_id), "data-steward")
        values = {"webhook": secrets.token_urlsafe(24), "warehouse": secrets.token_urlsafe(24)}
        for name, value in values.items():
            world.secrets.put_secret(ctx(), tenant_id, name, value)
        values["webhook"] = secrets.token_urlsafe(24)
        world.secrets.rotate_secret(ctx(), tenant_id, "webhook", values["webhook"])
        known.secret_values[slug] = values
    known.people[""] = register(world, None, "platform-admin")
    ProjectionWorker(world.store, world.live).catch_up()
    return known


def register(world: World, tenant_id: str | None, role: str) -> Person:
    subject = f"user-{secrets.token_hex(6)}@example.com"
    display_name = f"Person {secrets.token_hex(6)}"
    world.access.register_principal(ctx(), "person", ISSUER, subject, display_name, tenant_id)
    principal_id = principal_id_for(ISSUER, subject, tenant_id)
    world.access.grant_role(ctx(), principal_id, role)
    return Person(principal_id, subject, display_name)


def erase(world: World, known: Known, command_id: str = "offboard-acme") -> None:
    world.tenants.offboard_tenant(ctx(command_id), known.tenant_ids["acme"], "right to erasure", erase=True)


def registered(world: World, person: Person) -> Any:
    [first, *_] = world.store.read_stream(person.principal_id)
    return first.event


def test_the_erased_tenants_personal_fields_and_secrets_read_as_erased(world: World) -> None:
    known = populate(world)

    erase(world, known)

    event = registered(world, known.people["acme"])
    assert (event.subject, event.display_name) == (ERASED, ERASED)
    assert (event.issuer, event.kind, event.tenant_id) == (ISSUER, "person", str(known.tenant_ids["acme"]))
    for name in known.secret_values["acme"]:
        with pytest.raises(SecretErasedError):
            world.secrets.reveal_secret(known.tenant_ids["acme"], name)
    history = world.store.read_stream(known.tenant_ids["acme"])
    assert isinstance(history[-2].event, Tenant.Offboarded)
    assert history[-2].event.erase is True
    # The erasure carried out is an event too, holding no key material: only what was done.
    assert isinstance(history[-1].event, Tenant.DataErased)
    assert (history[-1].event.data_key_destroyed, history[-1].event.files_deleted) == (True, 0)


def test_other_tenants_and_the_platform_are_untouched(world: World) -> None:
    known = populate(world)

    erase(world, known)

    for slug in ("globex", ""):
        event = registered(world, known.people[slug])
        assert (event.subject, event.display_name) == (known.people[slug].subject, known.people[slug].display_name)
    for name, value in known.secret_values["globex"].items():
        assert world.secrets.reveal_secret(known.tenant_ids["globex"], name) == value


def test_the_stored_bytes_never_held_personal_data_or_secret_values_in_clear(world: World) -> None:
    known = populate(world)
    raw_before = world.raw_events()

    erase(world, known)

    raw_after = world.raw_events()
    assert b"Person " not in raw_before  # the scan can see: display names all start like this
    for slug in ("acme", "globex", ""):
        for text in known.clear_texts(slug):
            assert text.encode() not in raw_before
            assert text.encode() not in raw_after
    assert b"Acme Corp" in raw_after  # a tenant's organisation name is not personal data: stored as it was


def test_every_event_is_still_readable_and_the_log_replays_into_fresh_read_models(world: World) -> None:
    known = populate(world)
    erase(world, known)
    every = world.store.read_all(0, 10_000)
    assert (
        len(every) == len({e.event_id for e in every}) == 16
    )  # 2 tenants, 3 principals, 6 secrets, 1 offboarding, its erasure

    fresh = ReadModelStore(sqlite_url(world.tmp_path / "replayed.db"), READ_MODELS, world.live.sealer)
    seen = ProjectionWorker(world.store, fresh).catch_up()

    assert seen == len(every)
    with fresh.engine.connect() as connection:
        opened = (fresh.opened(principals, row) for row in connection.execute(select(principals)))
        rows = {row["principal_id"]: SimpleNamespace(**row) for row in opened}
        listed = connection.execute(select(secret_directory.secrets)).all()
    acme, globex = (rows[str(known.people[slug].principal_id)] for slug in ("acme", "globex"))
    assert (acme.display_name, acme.subject) == (ERASED, ERASED)
    person = known.people["globex"]
    assert (globex.display_name, globex.subject) == (person.display_name, person.subject)
    acme_id = str(known.tenant_ids["acme"])
    erased = {(row.name, row.status, row.version) for row in listed if row.tenant_id == acme_id}
    assert erased == {("webhook", "erased", 2), ("warehouse", "erased", 1)}
    fresh.close()


def test_the_live_secret_directory_drops_the_erased_tenants_secrets(world: World) -> None:
    known = populate(world)
    erase(world, known)

    ProjectionWorker(world.store, world.live).catch_up()

    with world.live.engine.connect() as connection:
        acme = connection.execute(secret_directory.list_query(str(known.tenant_ids["acme"]), None, 10)).all()
        globex = connection.execute(secret_directory.list_query(str(known.tenant_ids["globex"]), None, 10)).all()
    assert acme == []
    assert [(row.name, row.version) for row in globex] == [("warehouse", 1), ("webhook", 2)]


def test_the_live_principal_directory_forgets_the_erased_tenants_names(world: World) -> None:
    known = populate(world)
    erase(world, known)

    ProjectionWorker(world.store, world.live).catch_up()

    with world.live.engine.connect() as connection:
        row = connection.execute(
            select(principals).where(principals.c.principal_id == str(known.people["acme"].principal_id))
        ).one()
    assert (row.display_name, row.subject, row.identity) == (ERASED, ERASED, None)
    assert world.live.opened(principals, row)["display_name"] == ERASED


def test_erasure_is_idempotent_and_nothing_new_is_sealed_for_the_tenant(world: World) -> None:
    known = populate(world)
    erase(world, known)
    position = world.store.last_position()

    erase(world, known)  # the same command again: answered as before, and the key stays destroyed

    assert world.store.last_position() == position
    with pytest.raises(KeyErasedError):
        world.access.register_principal(
            ctx(), "person", ISSUER, "late@example.com", "Late", str(known.tenant_ids["acme"])
        )
    assert world.store.last_position() == position
    with world.cipher.keys.engine.connect() as connection:
        row = connection.execute(select(data_keys).where(data_keys.c.owner == str(known.tenant_ids["acme"]))).one()
    assert (row.wrapped, row.kek_id, row.destroyed_at is not None) == (None, None, True)


def test_a_new_process_reads_the_same_erasure(world: World) -> None:
    known = populate(world)
    erase(world, known)

    world.cipher.keys.forget_cached()

    assert registered(world, known.people["acme"]).display_name == ERASED
    assert registered(world, known.people["globex"]).display_name == known.people["globex"].display_name


def test_offboarding_without_erasure_destroys_nothing(world: World) -> None:
    known = populate(world)

    world.tenants.offboard_tenant(ctx(), known.tenant_ids["globex"], "contract ended")

    world.cipher.keys.forget_cached()
    assert registered(world, known.people["globex"]).display_name == known.people["globex"].display_name
    assert world.store.read_stream(known.tenant_ids["globex"])[-1].event.erase is False


def _read_model_texts(world: World) -> bytes:
    """Every cell of the live principals and webhook tables as the database holds them, plus (SQLite) the files."""
    texts = []
    with world.live.engine.connect() as connection:
        for table in (principals, webhooks.endpoints):
            texts += [repr(tuple(row)) for row in connection.execute(select(table))]
    files = sorted(world.tmp_path.glob("live.db*"))
    return "\n".join(texts).encode() + b"".join(p.read_bytes() for p in files)


def test_read_models_keep_personal_fields_sealed_and_serve_them_opened(world: World) -> None:
    known = populate(world)

    stored = _read_model_texts(world)

    assert b"r1." in stored  # sealed cells are there to be seen
    for slug in ("acme", "globex", ""):
        for text in known.clear_texts(slug)[:2]:
            assert text.encode() not in stored
    with world.live.engine.connect() as connection:
        row = connection.execute(principal_query(str(known.people["globex"].principal_id))).one()
        digest = world.live.sealer.fingerprint(f"{ISSUER}|{known.people['globex'].subject}")  # type: ignore[union-attr]
        found = connection.execute(memberships_query(digest)).all()
    opened = world.live.opened(principals, row)
    person = known.people["globex"]
    assert (opened["subject"], opened["display_name"]) == (person.subject, person.display_name)
    assert [r.principal_id for r in found] == [str(known.people["globex"].principal_id)]


def test_a_sealed_cell_moved_to_another_row_does_not_open(world: World) -> None:
    known = populate(world)
    with world.live.engine.connect() as connection:
        acme, globex = (
            connection.execute(principal_query(str(known.people[slug].principal_id))).one()
            for slug in ("acme", "globex")
        )
    moved = {**globex._mapping, "display_name": globex.subject}  # another column of the same row
    with pytest.raises(FieldDecryptionError):
        world.live.opened(principals, moved)
    stolen = {**acme._mapping, "subject": globex.subject}  # another tenant's row
    with pytest.raises(FieldDecryptionError):
        world.live.opened(principals, stolen)


def test_sealed_cells_left_behind_read_erased_once_the_key_is_destroyed(world: World) -> None:
    known = populate(world)
    with world.live.engine.connect() as connection:
        before = connection.execute(principal_query(str(known.people["acme"].principal_id))).one()

    erase(world, known)
    world.cipher.keys.forget_cached()

    # a dead tuple, a WAL page or a backup still holding the sealed cell: it no longer opens
    assert world.live.opened(principals, before)["subject"] == ERASED


def test_a_replay_rebuilds_the_read_models_sealed_and_byte_identical(world: World) -> None:
    known = populate(world)
    erase(world, known)
    ProjectionWorker(world.store, world.live).catch_up()

    fresh = ReadModelStore(sqlite_url(world.tmp_path / "replayed.db"), READ_MODELS, world.live.sealer)
    ProjectionWorker(world.store, fresh).catch_up()

    for name in ("access", "webhooks"):
        assert fresh.snapshot(name) == world.live.snapshot(name)
    raw = b"".join(p.read_bytes() for p in world.tmp_path.glob("replayed.db*"))
    assert known.people["globex"].subject.encode() not in raw
    fresh.close()


def test_a_store_without_the_row_sealer_refuses_to_write_personal_fields_in_clear(tmp_path: Path) -> None:
    cipher = open_envelope_cipher(str(tmp_path / "keys"))
    store = open_event_store("sqlite", str(tmp_path / "events.db"), cipher=cipher)
    bare = ReadModelStore(sqlite_url(tmp_path / "bare.db"), READ_MODELS)
    AccessService(CommandRunner(store, clock)).register_principal(
        ctx(), "person", ISSUER, "someone@example.com", "Someone", None
    )

    ProjectionWorker(store, bare).catch_up()

    with bare.engine.connect() as connection:
        assert connection.execute(select(principals)).all() == []  # parked, not written in clear
    assert b"someone@example.com" not in (tmp_path / "bare.db").read_bytes()
    for closable in (bare, store, cipher):
        closable.close()
