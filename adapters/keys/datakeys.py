"""Data keys (DEKs): one AES-256 key per tenant (and one for the platform), stored only wrapped by a KEK.

The table lives in a database of its own (a SQLite file under the keys directory by default, PostgreSQL by URL),
apart from the event store, so a copy of the event log holds no key. Destroying an owner's key (crypto-shredding)
erases the wrapped key and keeps a tombstone, so no new key is ever made for that owner and every value the old
key sealed stays unreadable for good. Unwrapped keys are cached in memory for a short time only.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from adapters.keys.keyring import KeyRing
from adapters.sql_schema import create_tables
from eventstore.cipher import FieldDecryptionError, KeyErasedError

CACHE_SECONDS = 60.0
"""How long an unwrapped data key stays in memory after it was last read from the key store."""

metadata = MetaData()
data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False, unique=True),
    Column("kek_id", String(64)),
    Column("wrapped", LargeBinary),
    Column("created_at", String(40), nullable=False),
    Column("destroyed_at", String(40)),
)


@dataclass(frozen=True)
class DataKey:
    """An unwrapped data key; its bytes never appear in a repr or a log line."""

    key_id: str
    owner: str
    secret: bytes = field(repr=False)


def _context(owner: str, key_id: str) -> bytes:
    """Binds a wrapped key to its owner and id: a wrapped key copied onto another row does not open."""
    return f"dek|{owner}|{key_id}".encode()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    # hide_parameters: SQL logging (echo, or DEBUG on the root logger) never shows a wrapped key.
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        # Overwrite freed space with zeros, so a destroyed key leaves no bytes behind in the file;
        # and keep the rollback journal (no WAL), whose old pages are gone once a transaction commits.
        cursor = connection.cursor()
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.close()

    return engine


class DataKeyStore:
    """Creates, unwraps, caches, re-wraps and destroys the data keys of owners (tenant ids or 'platform')."""

    def __init__(self, url: str, keyring: KeyRing, cache_seconds: float = CACHE_SECONDS) -> None:
        self.url = url
        self.keyring = keyring
        self.engine = _engine(url)
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, DataKey]] = {}
        self._current: dict[str, str] = {}
        self._destroyed: set[str] = set()
        self._lock = threading.Lock()
        create_tables(self.engine, metadata)

    def __repr__(self) -> str:
        return f"DataKeyStore({self.engine.url!r})"

    def current(self, owner: str) -> DataKey:
        """The owner's data key, made on first use; KeyErasedError once it has been destroyed."""
        cached = self._cached(self._current.get(owner, ""))
        if cached is not None:
            return cached
        row = self._row_of_owner(owner) or self._create(owner)
        key = self._unwrap(row)
        with self._lock:
            self._current[owner] = key.key_id
        return key

    def by_id(self, owner: str, key_id: str) -> DataKey:
        """The data key ``key_id`` of ``owner``; KeyErasedError when destroyed, FieldDecryptionError when unknown."""
        cached = self._cached(key_id)
        if cached is not None and cached.owner == owner:
            return cached
        with self.engine.connect() as connection:
            row = connection.execute(select(data_keys).where(data_keys.c.key_id == key_id)).first()
        if row is None or row.owner != owner:
            msg = f"data key {key_id} of {owner} is not in the key store {self.engine.url!r}"
            raise FieldDecryptionError(msg)
        return self._unwrap(row)

    def destroy(self, owner: str) -> None:
        """Erases the owner's data key for good (idempotent); a tombstone stops a new key being made for it."""
        with self.engine.begin() as connection:
            connection.execute(
                update(data_keys)
                .where(data_keys.c.owner == owner, data_keys.c.wrapped.is_not(None))
                .values(wrapped=None, kek_id=None, destroyed_at=_now())
            )
            tombstone = {"key_id": uuid.uuid4().hex, "owner": owner, "created_at": _now(), "destroyed_at": _now()}
            connection.execute(_insert_ignoring_conflicts(connection.dialect.name, tombstone))
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if v[1].owner != owner}
            self._current.pop(owner, None)

    def destroyed(self, owner: str) -> bool:
        """Whether the owner's data key has been destroyed (a tombstone stands in its place); remembered once
        seen, since a destroyed key stays destroyed."""
        if owner in self._destroyed:
            return True
        with self.engine.connect() as connection:
            query = select(data_keys.c.key_id).where(data_keys.c.owner == owner, data_keys.c.destroyed_at.is_not(None))
            found = connection.execute(query.limit(1)).first() is not None
        if found:
            self._destroyed.add(owner)
        return found

    def rewrap(self) -> int:
        """Re-wraps every live data key that the current KEK did not wrap; returns how many it re-wrapped."""
        current, done = self.keyring.current_id, 0
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(data_keys).where(data_keys.c.wrapped.is_not(None), data_keys.c.kek_id != current)
            ).all()
        for row in rows:
            secret = self.keyring.unwrap(row.kek_id, row.wrapped, _context(row.owner, row.key_id))
            kek_id, wrapped = self.keyring.wrap(secret, _context(row.owner, row.key_id))
            with self.engine.begin() as connection:
                changed = connection.execute(
                    update(data_keys)
                    .where(data_keys.c.key_id == row.key_id, data_keys.c.wrapped == row.wrapped)
                    .values(kek_id=kek_id, wrapped=wrapped)
                )
            done += changed.rowcount
        return done

    def count_wrapped_by(self, kek_id: str) -> int:
        """How many live data keys the KEK ``kek_id`` still wraps (a KEK may be retired only at zero)."""
        with self.engine.connect() as connection:
            query = select(func.count()).select_from(data_keys).where(data_keys.c.kek_id == kek_id)
            return int(connection.execute(query.where(data_keys.c.wrapped.is_not(None))).scalar_one())

    def forget_cached(self) -> None:
        """Drops every unwrapped key from memory."""
        with self._lock:
            self._cache.clear()
            self._current.clear()

    def close(self) -> None:
        self.forget_cached()
        self.engine.dispose()

    def _cached(self, key_id: str) -> DataKey | None:
        with self._lock:
            entry = self._cache.get(key_id)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._cache[key_id]
                return None
            return entry[1]

    def _row_of_owner(self, owner: str) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(select(data_keys).where(data_keys.c.owner == owner)).first()

    def _create(self, owner: str) -> Any:
        """Makes the owner's key; when another process made one first, theirs wins."""
        key_id = uuid.uuid4().hex
        kek_id, wrapped = self.keyring.wrap(AESGCM.generate_key(bit_length=256), _context(owner, key_id))
        row = {"key_id": key_id, "owner": owner, "kek_id": kek_id, "wrapped": wrapped, "created_at": _now()}
        with self.engine.begin() as connection:
            connection.execute(_insert_ignoring_conflicts(connection.dialect.name, row))
        return self._row_of_owner(owner)

    def _unwrap(self, row: Any) -> DataKey:
        if row.wrapped is None:
            msg = f"the data key of {row.owner} was destroyed"
            raise KeyErasedError(msg)
        secret = self.keyring.unwrap(row.kek_id, row.wrapped, _context(row.owner, row.key_id))
        key = DataKey(row.key_id, row.owner, secret)
        with self._lock:
            self._cache[key.key_id] = (time.monotonic() + self.cache_seconds, key)
        return key


def _insert_ignoring_conflicts(dialect: str, row: dict[str, Any]) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(data_keys).values(row).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(data_keys).values(row).on_conflict_do_nothing()
    return insert(data_keys).values(row)
