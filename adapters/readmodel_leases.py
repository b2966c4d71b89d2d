"""Leases on read models: several feeders (`platform projections` workers, `platform consumers` processes, the
in-process worker of `platform serve`) share the read models, one active feeder per read model at a time.

Two tables in the read-model database: ``read_model_leases`` (a read model, the feeder holding it, until when)
and ``read_model_feeders`` (each live feeder's heartbeat). Each round (every ``ttl / 3`` seconds) a feeder beats,
renews what it holds, lets go of what exceeds its fair share (``ceil(read models / live feeders)``, so a new
feeder soon gets work) and claims free or expired leases up to it. A killed feeder's heartbeat and leases expire
together after ``ttl``; the others take its read models at their next round: within ``ttl + ttl / 3``.

Expiry is read on each feeder's clock (hosts keep theirs in step, as NTP does). Correctness never rests on it:
``holds`` fences every write (``ReadModelStore.apply``), inside the transaction that moves the checkpoint, so a
feeder that lost its lease (paused past the TTL, its clock behind) writes nothing, and the checkpoint lock keeps
any event from being applied twice or skipped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Engine, Float, String, Table, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from adapters.sql_schema import create_tables
from projections.base import metadata

log = logging.getLogger(__name__)

leases = Table(
    "read_model_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(200), nullable=True),
    Column("expires_at", Float, nullable=False),
)
feeders = Table(
    "read_model_feeders",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("expires_at", Float, nullable=False),
)
TTL = 10.0


class LeaseLostError(Exception):
    """This feeder no longer holds the read model's lease: another one feeds it now."""


def holds(connection: Connection, name: str, owner: str) -> bool:
    """Whether ``owner`` holds the read model's lease; the row stays share-locked to the end of the transaction
    (PostgreSQL), so no other feeder can claim it while this one writes."""
    return bool(connection.execute(_HOLDER, {"lease": name}).scalar() == owner)


@dataclass(frozen=True)
class Holding:
    """What one round left a feeder holding, and what changed."""

    held: tuple[str, ...]
    gained: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()


class ReadModelLeases:
    """One feeder's side of the leases: ``keep`` once per ``renew_every`` seconds, ``release`` when it stops."""

    def __init__(
        self,
        engine: Engine,
        names: Sequence[str],
        owner: str,
        ttl: float = TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine, self.names, self.owner, self.ttl, self.clock = engine, tuple(names), owner, ttl, clock
        self.held: tuple[str, ...] = ()
        create_tables(engine, metadata, [leases, feeders])

    @property
    def renew_every(self) -> float:
        return self.ttl / 3

    def keep(self) -> Holding:
        """One round in one transaction: beat, renew, give back the excess, claim up to the fair share."""
        with self.engine.begin() as connection:
            now = self.clock()
            self._beat(connection, now)
            held = self._renew(connection, now)
            share = math.ceil(len(self.names) / _live(connection, now))
            if len(held) > share:
                _release(connection, self.owner, held[share:])
                held = held[:share]
            else:
                held += self._claim(connection, now, share - len(held))
        before, self.held = self.held, tuple(n for n in self.names if n in held)
        gained = tuple(n for n in self.held if n not in before)
        return Holding(self.held, gained, tuple(n for n in before if n not in self.held))

    def release(self) -> None:
        """Gives every lease back and ends the heartbeat, so the others take the read models at their next round
        (while the database is away, they expire after the TTL instead)."""
        self.held = ()
        try:
            with self.engine.begin() as connection:
                _release(connection, self.owner, self.names)
                connection.execute(delete(feeders).where(feeders.c.owner == self.owner))
        except SQLAlchemyError:
            log.warning("could not give the read-model leases back; they expire in %s s", self.ttl, exc_info=True)

    def drop(self, name: str) -> None:
        """Forgets a lease the fence found lost (the next round confirms it)."""
        self.held = tuple(n for n in self.held if n != name)

    def _beat(self, connection: Connection, now: float) -> None:
        dialect = _dialect(connection)
        connection.execute(_BEAT[dialect], {"owner": self.owner, "expires_at": now + self.ttl})
        connection.execute(delete(feeders).where(feeders.c.expires_at <= now))
        connection.execute(_NEW_LEASE[dialect], [{"name": name} for name in self.names])

    def _renew(self, connection: Connection, now: float) -> list[str]:
        mine = leases.c.owner == self.owner
        connection.execute(update(leases).where(mine, leases.c.name.in_(self.names)).values(expires_at=now + self.ttl))
        found = {row.name for row in connection.execute(select(leases.c.name).where(mine))}
        return [name for name in self.names if name in found]

    def _claim(self, connection: Connection, now: float, wanted: int) -> list[str]:
        free = connection.execute(select(leases.c.name).where(_free(now), leases.c.name.in_(self.names)))
        claimed: list[str] = []
        for name in sorted((row.name for row in free), key=self.names.index):
            if len(claimed) == wanted:
                break
            claim = update(leases).where(leases.c.name == name, _free(now))
            taken = connection.execute(claim.values(owner=self.owner, expires_at=now + self.ttl))
            if taken.rowcount == 1:
                claimed.append(name)
        return claimed


def holders(engine: Engine, now: float | None = None) -> dict[str, str | None]:
    """Each read model's feeder (None: free or expired), for /ready and the metrics."""
    now = time.time() if now is None else now
    with engine.connect() as connection:
        rows = connection.execute(select(leases.c.name, leases.c.owner, leases.c.expires_at)).all()
    return {row.name: row.owner if row.expires_at > now else None for row in rows}


def _free(now: float) -> Any:
    return or_(leases.c.owner.is_(None), leases.c.expires_at <= now)


def _live(connection: Connection, now: float) -> int:
    found = connection.execute(select(feeders.c.owner).where(feeders.c.expires_at > now)).all()
    return max(len(found), 1)


def _release(connection: Connection, owner: str, names: Sequence[str]) -> None:
    connection.execute(
        update(leases).where(leases.c.owner == owner, leases.c.name.in_(list(names))).values(owner=None, expires_at=0.0)
    )


def _dialect(connection: Connection) -> str:
    return "postgresql" if connection.dialect.name == "postgresql" else "sqlite"


def _beat_statement(insert: Any) -> Any:
    statement = insert(feeders)
    return statement.on_conflict_do_update(index_elements=["owner"], set_={"expires_at": statement.excluded.expires_at})


_HOLDER = select(leases.c.owner).where(leases.c.name == bindparam("lease")).with_for_update(read=True)
_BEAT = {"postgresql": _beat_statement(postgresql.insert), "sqlite": _beat_statement(sqlite.insert)}
_NEW_LEASE = {
    "postgresql": postgresql.insert(leases).values(owner=None, expires_at=0.0).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(leases).values(owner=None, expires_at=0.0).on_conflict_do_nothing(),
}
