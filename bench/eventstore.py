"""Event-store figures: single-event appends through the port and projection catch-up, against raw drivers.

Appends: ``open_event_store(kind, url).append([one PendingEvent])`` on new streams, against the raw driver's
INSERT + COMMIT of the same bytes at the same durability setting (read back from both connections).
Catch-up: ``ProjectionWorker(store, ReadModelStore(url, projections.ALL)).catch_up()`` over pre-written tenant
histories into a fresh read-model database, against an ordered batched scan of the same table plus msgspec
decoding of each state.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, cast

import projections
from adapters.projection_worker import BATCH, ProjectionWorker
from adapters.readmodels import ReadModelStore, sqlite_url
from bench import events, rawdb
from bench.harness import Config, Pair, Sample, Trial, each, figure, timed
from eventstore import codec
from eventstore.adapters import open_event_store
from eventstore.port import EventStore
from eventstore.recorder_store import RecorderEventStore

APPEND_AIM = 0.6
CATCHUP_AIM = 0.5
WARMUP = 50
CATCHUP_EVENTS = 15_000
SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


# --- appends


def port_appends(store: EventStore, count: int) -> Trial:
    """Appends ``count`` pre-built events one per append, each on a new stream."""

    def trial() -> Sample:
        batches = [[pending] for pending in events.onboardings(count)]
        return timed(each(batches, store.append))

    return trial


def raw_inserts(insert: Callable[[Any], object], bind: Callable[[list[events.Row]], list[Any]], count: int) -> Trial:
    """Inserts the stored form of ``count`` fresh events, one transaction each."""

    def trial() -> Sample:
        rows = bind(events.stored_rows(events.onboardings(count)))
        return timed(each(rows, insert))

    return trial


def _warm(*steps: Callable[[], object]) -> Callable[[], None]:
    """A warm-up running each step once (pools opened, statements prepared, pages cached), results unused."""

    def run() -> None:
        for step in steps:
            step()

    return run


@figure("append.sqlite", aim=APPEND_AIM, description="single-event appends, SQLite file vs sqlite3 INSERT+COMMIT")
@contextmanager
def append_sqlite(config: Config) -> Iterator[Pair]:
    count = config.size(3000, 100)
    with ExitStack() as stack:
        store = _sqlite_store(stack, config.workdir / "append-sqlite" / "events.db")
        journal_mode, synchronous = _store_sqlite_durability(store)
        raw = rawdb.RawSqlite(config.workdir / "append-sqlite" / "raw.db", journal_mode, synchronous)
        stack.callback(raw.close)
        _same("sqlite durability", (journal_mode, synchronous), raw.durability())
        yield Pair(
            port_appends(store, count),
            raw_inserts(raw.insert, rawdb.sqlite_rows, count),
            note=f"{count}/round, journal_mode={journal_mode} synchronous={SYNCHRONOUS.get(synchronous, synchronous)}",
            warmup=_warm(port_appends(store, WARMUP), raw_inserts(raw.insert, rawdb.sqlite_rows, WARMUP)),
        )


@figure("append.postgres", aim=APPEND_AIM, description="single-event appends, PostgreSQL vs psycopg INSERT+COMMIT")
@contextmanager
def append_postgres(config: Config) -> Iterator[Pair]:
    count = config.size(2000, 100)
    url = rawdb.libpq_url(config.postgres_url)
    with ExitStack() as stack:
        schema = stack.enter_context(rawdb.postgres_schema(url, f"{config.run_id}_append"))
        store = open_event_store("postgres", f"{url}?schema={schema}")
        stack.callback(store.close)
        raw = rawdb.RawPostgres(url, schema)
        stack.callback(raw.close)
        synchronous_commit = _store_synchronous_commit(store)
        _same("synchronous_commit", synchronous_commit, raw.synchronous_commit())
        yield Pair(
            port_appends(store, count),
            raw_inserts(raw.insert, list, count),
            note=f"{count}/round, synchronous_commit={synchronous_commit}",
            warmup=_warm(port_appends(store, WARMUP), raw_inserts(raw.insert, list, WARMUP)),
        )


# --- catch-up


def catch_up(store: EventStore, read_model_url: str, expected: int | None, until: int | None = None) -> Sample:
    """Catches every projection up from nothing into the (empty) read-model database at the URL."""
    read_models = ReadModelStore(read_model_url, projections.ALL)
    try:
        worker = ProjectionWorker(store, read_models)
        sample = timed(lambda: worker.catch_up(until=until))
    finally:
        read_models.close()
    if expected is not None:
        _same("events caught up", expected, sample.count)
    return sample


def raw_scan(scan: Callable[[], int], expected: int) -> Trial:
    def trial() -> Sample:
        sample = timed(scan)
        _same("events scanned", expected, sample.count)
        return sample

    return trial


def write_histories(store: RecorderEventStore, count: int, chunk: int = 1_000) -> None:
    """Writes ``count`` events as tenant lifecycles (setup, not measured).

    The bytes are the port's own (codec.encode), but many streams go in one recorder insert, since the port's
    one-stream-per-append would spend most of the run's time budget on setup.
    """
    pending = [event for history in events.histories(count) for event in history]
    for start in range(0, count, chunk):
        store.recorder.insert_events([codec.encode(p.event, p.metadata) for p in pending[start : start + chunk]])
    _same("events written", count, store.last_position())


@figure("catchup.sqlite", aim=CATCHUP_AIM, description="projection catch-up from SQLite vs raw ordered scan + decode")
@contextmanager
def catchup_sqlite(config: Config) -> Iterator[Pair]:
    count = config.size(CATCHUP_EVENTS, 1_000)
    folder = config.workdir / "catchup-sqlite"
    with ExitStack() as stack:
        store = _sqlite_store(stack, folder / "events.db")
        write_histories(store, count)
        connection = sqlite3.connect(folder / "events.db", check_same_thread=False)
        stack.callback(connection.close)
        fresh = (sqlite_url(folder / f"readmodels-{n}.db") for n in itertools.count())
        baseline = raw_scan(rawdb.scan_sqlite(connection, _table(store), BATCH), count)
        yield Pair(
            lambda: catch_up(store, next(fresh), count),
            baseline,
            note=f"{count} events, batch {BATCH}, {_projected()}; read models: SQLite file per round",
            warmup=_warm(lambda: catch_up(store, next(fresh), None, until=2 * BATCH), baseline),
        )


@figure("catchup.postgres", aim=CATCHUP_AIM, description="projection catch-up from PostgreSQL vs raw scan + decode")
@contextmanager
def catchup_postgres(config: Config) -> Iterator[Pair]:
    count = config.size(CATCHUP_EVENTS, 1_000)
    url = rawdb.libpq_url(config.postgres_url)
    with ExitStack() as stack:
        schema = stack.enter_context(rawdb.postgres_schema(url, f"{config.run_id}_catchup"))
        read_schema = stack.enter_context(rawdb.postgres_schema(url, f"{config.run_id}_catchup_rm"))
        store = open_event_store("postgres", f"{url}?schema={schema}")
        stack.callback(store.close)
        write_histories(store, count)
        connection = stack.enter_context(rawdb.connect_postgres(url))
        baseline = raw_scan(rawdb.scan_postgres(connection, schema, _table(store), BATCH), count)
        read_model_url = f"{url}?options=-csearch_path%3D{read_schema}"

        def fresh() -> str:
            rawdb.recreate_schema(url, read_schema)
            return read_model_url

        yield Pair(
            lambda: catch_up(store, fresh(), count),
            baseline,
            note=f"{count} events, batch {BATCH}, {_projected()}; read models: PostgreSQL, schema emptied per round",
            warmup=_warm(lambda: catch_up(store, fresh(), None, until=2 * BATCH), baseline),
        )


# --- helpers


def _sqlite_store(stack: ExitStack, path: Path) -> RecorderEventStore:
    store = open_event_store("sqlite", str(path))
    stack.callback(store.close)
    return store


def _store_sqlite_durability(store: RecorderEventStore) -> tuple[str, int]:
    """Journal mode and synchronous level read from a connection of the store's own pool."""
    with cast(Any, store.recorder).datastore.transaction(commit=False) as cursor:
        return rawdb.sqlite_durability(cursor)


def _store_synchronous_commit(store: RecorderEventStore) -> str:
    with cast(Any, store.recorder).datastore.get_connection() as connection:
        return str(connection.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"])


def _projected() -> str:
    return "projections: " + "+".join(p.name for p in projections.ALL)


def _table(store: RecorderEventStore) -> str:
    return str(cast(Any, store.recorder).events_table_name)


def _same(what: str, expected: object, actual: object) -> None:
    if expected != actual:
        msg = f"{what}: expected {expected!r}, got {actual!r}"
        raise AssertionError(msg)
