"""Evidence-ledger figures: leaf hashing, and `platform audit verify` over a whole SQLite log.

``ledger.hash``: ``adapters.ledger.entries.leaf_hashes`` over stored events already in memory (the canonical bytes
of each event, SHA-256 with the 0x00 leaf prefix), against ``hashlib.sha256(state)`` of the same events' stored
bytes. ``ledger.verify``: ``Ledger.verify()`` (read every event raw, recompute its leaf, compare with the stored
leaf, rebuild the tree, check every signed checkpoint's root and signature, compare the stored subtrees) against
sqlite3 reading the same table in position order in batches and hashing each row (stream id, version, topic and
state joined) with SHA-256.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, cast

from adapters.ledger import Ledger
from adapters.ledger.audit import BATCH
from adapters.ledger.entries import leaf_hashes
from adapters.ledger.notes import NoteSigner
from adapters.readmodels import ReadModelStore, sqlite_url
from bench import events
from bench.eventstore import write_histories
from bench.harness import Config, Pair, Sample, figure, timed
from eventstore import codec
from eventstore.adapters import open_event_store
from eventstore.port import RawEvent

HASH_AIM = 0.5
VERIFY_AIM = 0.5
SEED = bytes(range(32))


def stored_events(count: int) -> list[RawEvent]:
    """``count`` tenant-lifecycle events as the store would hand them out raw (positions 1..count)."""
    pending = [event for history in events.histories(count) for event in history]
    rows: list[RawEvent] = []
    for position, item in enumerate(pending, start=1):
        stored = codec.encode(item.event, item.metadata)
        rows.append((position, item.event.originator_id.hex, stored.originator_version, stored.topic, stored.state))
    return rows


@figure("ledger.hash", aim=HASH_AIM, description="leaf hashes of stored events vs hashlib.sha256 of their bytes")
@contextmanager
def ledger_hash(config: Config) -> Iterator[Pair]:
    rows = stored_events(config.size(200_000, 20_000))
    sha256 = hashlib.sha256

    def system() -> Sample:
        return timed(lambda: len(leaf_hashes(rows)))

    def baseline() -> Sample:
        return timed(lambda: len([sha256(row[4]).digest() for row in rows]))

    size = sum(len(row[4]) for row in rows) // len(rows)
    yield Pair(system, baseline, note=f"{len(rows)} events/round, {size} bytes of state on average")


@figure("ledger.verify", aim=VERIFY_AIM, description="platform audit verify (SQLite) vs raw ordered read + row sha256")
@contextmanager
def ledger_verify(config: Config) -> Iterator[Pair]:
    count = config.size(1_000_000, 20_000)
    folder = config.workdir / "ledger-verify"
    with ExitStack() as stack:
        store = open_event_store("sqlite", str(folder / "events.db"))
        stack.callback(store.close)
        write_histories(store, count, chunk=5_000)
        read_models = ReadModelStore(sqlite_url(folder / "readmodels.db"), ())
        stack.callback(read_models.close)
        ledger = Ledger(store, read_models.engine, NoteSigner.from_seed("bench.local/ledger", SEED))
        ledger.catch_up()
        connection = sqlite3.connect(folder / "events.db", check_same_thread=False)
        stack.callback(connection.close)
        table = str(cast(Any, store.recorder).events_table_name)
        checkpoints = len(ledger.tables.checkpoints())

        yield Pair(
            lambda: timed(lambda: _verified(ledger)),
            lambda: timed(lambda: raw_read_and_hash(connection, table, BATCH)),
            note=f"{count} events, {checkpoints} checkpoints, batch {BATCH}; SQLite file",
        )


def _verified(ledger: Ledger) -> int:
    report = ledger.verify()
    if not report.ok:
        msg = f"the benchmark's ledger does not verify: {report.findings[:3]}"
        raise AssertionError(msg)
    return report.events


def raw_read_and_hash(connection: sqlite3.Connection, table: str, batch: int) -> int:
    """Reads every event in position order, ``batch`` at a time, and hashes each row: its stream id, version,
    topic and state, the columns a leaf covers, simply joined."""
    statement = f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
    statement += "WHERE rowid > ? ORDER BY rowid LIMIT ?"
    sha256 = hashlib.sha256
    position = seen = 0
    while rows := connection.execute(statement, (position, batch)).fetchall():
        for _, stream_id, version, topic, state in rows:
            sha256(stream_id.encode() + version.to_bytes(8, "big") + topic.encode() + state).digest()
        position = rows[-1][0]
        seen += len(rows)
    return seen
