"""Several processes starting at once on one fresh PostgreSQL database each create the read-model tables."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, inspect

from adapters.sql_schema import create_tables
from projections.base import metadata

pytestmark = pytest.mark.postgres


def test_tables_made_by_several_at_once_are_made_once_and_nobody_fails(pg_database: str) -> None:
    url = pg_database.replace("postgresql://", "postgresql+psycopg://", 1)
    engines = [create_engine(url) for _ in range(4)]
    start, failures = threading.Barrier(len(engines)), []

    def create(engine: object) -> None:
        start.wait()
        try:
            create_tables(engine, metadata)  # type: ignore[arg-type]
        except Exception as error:  # collected: a thread's exception would not fail the test
            failures.append(error)

    threads = [threading.Thread(target=create, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        assert set(metadata.tables) <= set(inspect(engines[0]).get_table_names())
    finally:
        for engine in engines:
            engine.dispose()
