"""Creating tables when several processes start at once on one fresh database."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, MetaData, Table
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

ATTEMPTS = 5
_RACED = ("already exists", "database is locked")


def create_tables(engine: Engine, metadata: MetaData, tables: Sequence[Table] | None = None) -> None:
    """``metadata.create_all``, tried again when another process created the same table at the same moment
    (PostgreSQL then refuses the second CREATE with a unique violation on its catalog, or "already exists"; SQLite
    with "already exists") or wrote to a SQLite database while this one looked for the tables: SQLite refuses to
    turn that stale read into a write at once, "database is locked", without waiting out its busy timeout."""
    for attempt in range(ATTEMPTS):
        try:
            metadata.create_all(engine, tables=tables)
            return
        except (IntegrityError, ProgrammingError, OperationalError) as error:
            raced = not isinstance(error, OperationalError) or any(why in str(error) for why in _RACED)
            if not raced or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
