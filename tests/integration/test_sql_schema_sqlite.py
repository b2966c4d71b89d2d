"""A process creating its tables on a SQLite database another process is writing to at the same moment."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import create_engine, inspect

from adapters.sql_schema import create_tables
from projections.base import metadata


def test_a_database_locked_by_another_writer_is_tried_again_not_a_failed_start(tmp_path: Path) -> None:
    path = tmp_path / "readmodels.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # another process's write transaction, ended shortly
    released = threading.Timer(0.2, writer.execute, args=("COMMIT",))
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})  # "database is locked" at once
    released.start()
    try:
        create_tables(engine, metadata)
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        released.join()
        writer.close()
        engine.dispose()
