"""Folding a batch's row changes gives the rows that applying them one by one gives.

Random sequences of Upsert, Update and Delete on a few keys (so rows are changed many times per batch),
mixed with changes that cannot be folded (an Update by a non-key column, an Update with a SQL expression),
are applied through ReadModelStore.apply in random batches and, as the reference, change by change.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, select

from adapters.readmodel_batch import execute_one, fold
from adapters.readmodels import ReadModelStore, sqlite_url
from projections.base import Change, Delete, Projection, Update, Upsert

test_metadata = MetaData()
items = Table(
    "fold_items",
    test_metadata,
    Column("item_id", String(8), primary_key=True),
    Column("tenant_id", String(8)),
    Column("name", String(20)),
    Column("size", Integer),
    Column("tags", JSON),
    Column("counter", Integer, nullable=False, default=0),
)
pairs = Table(
    "fold_pairs",
    test_metadata,
    Column("left", String(8), primary_key=True),
    Column("right", Integer, primary_key=True),
    Column("note", String(20)),
    Column("doc", JSON),
)
TABLES = (items, pairs)
AT = datetime(2026, 3, 4, tzinfo=UTC)


@dataclass(frozen=True)
class Seen:
    position: int
    event: Any
    recorded_at: datetime = AT
    tenant_id: str | None = None


def random_values(rng: random.Random, table: Table) -> dict[str, Any]:
    choices: dict[str, Any] = (
        {
            "tenant_id": rng.choice(["t1", "t2", None]),
            "name": rng.choice(["a", "b", "c", None]),
            "size": rng.choice([1, 2, 3, None]),
            "tags": rng.choice([[], ["x"], {"k": [1, 2]}, None]),
        }
        if table is items
        else {"note": rng.choice(["n", "m", None]), "doc": rng.choice([{}, {"a": 1}, [None], None])}
    )
    return {k: v for k, v in choices.items() if rng.random() < 0.5}


def random_change(rng: random.Random) -> Change:
    table = rng.choice(TABLES)
    key = {"item_id": rng.choice("abcd")} if table is items else {"left": rng.choice("xy"), "right": rng.choice([1, 2])}
    roll = rng.random()
    if roll < 0.35:
        return Upsert(table, key, random_values(rng, table))
    if roll < 0.7:
        return Update(table, key, random_values(rng, table) or ({"size": 9} if table is items else {"note": "u"}))
    if roll < 0.82:
        return Delete(table, key)
    if table is items and roll < 0.91:
        return Update(items, {"tenant_id": rng.choice(["t1", "t2"])}, {"name": "erased", "tags": None})
    if table is items:
        return Update(items, key, {"counter": items.c.counter + 1})
    return Update(pairs, {"left": key["left"]}, {"note": "by-left"})


def table_rows(store: ReadModelStore) -> dict[str, list[dict[str, Any]]]:
    with store.engine.connect() as connection:
        return {
            table.name: [dict(r._mapping) for r in connection.execute(select(table).order_by(*table.primary_key))]
            for table in TABLES
        }


@pytest.fixture(scope="module")
def opened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ReadModelStore]]:
    folder = tmp_path_factory.mktemp("folding")
    stores = [ReadModelStore(sqlite_url(folder / f"{name}.db"), []) for name in ("folded", "one-by-one")]
    for store in stores:
        test_metadata.create_all(store.engine)
    yield stores
    for store in stores:
        store.close()


@pytest.fixture
def stores(opened: list[ReadModelStore]) -> list[ReadModelStore]:
    for store in opened:
        store.projections["random"] = Projection("random", TABLES, lambda recorded: [])
        store.reset("random")
    return opened


@pytest.mark.parametrize("seed", range(40))
def test_folded_batches_leave_the_rows_applying_change_by_change_leaves(
    seed: int, stores: list[ReadModelStore]
) -> None:
    rng = random.Random(seed)
    changes_at = {position: [random_change(rng) for _ in range(rng.randint(0, 4))] for position in range(1, 121)}
    folded, one_by_one = stores
    folded.projections["random"] = Projection("random", TABLES, lambda recorded: changes_at[recorded.position])

    log = [Seen(position, None) for position in changes_at]
    start = 0
    while start < len(log):
        size = rng.choice([1, 3, 10, 50, 120])
        folded.apply("random", log[start : start + size])
        start += size
    with one_by_one.engine.begin() as connection:
        for change in itertools.chain(*changes_at.values()):
            execute_one(connection, change)

    assert table_rows(folded) == table_rows(one_by_one)
    assert any(table_rows(folded).values()), "the sequence left no rows at all: a weak test"


def test_fold_rules() -> None:
    key = {"item_id": "a"}
    assert fold(Upsert(items, key, {"name": "a"}), Update(items, key, {"size": 1})) == Upsert(
        items, key, {"name": "a", "size": 1}
    )
    assert fold(Update(items, key, {"name": "a", "size": 1}), Update(items, key, {"size": 2})) == Update(
        items, key, {"name": "a", "size": 2}
    )
    assert fold(Upsert(items, key, {"name": "a"}), Upsert(items, key, {"name": "b"})) == Upsert(
        items, key, {"name": "b"}
    )
    assert fold(Upsert(items, key, {"name": "a"}), Delete(items, key)) == Delete(items, key)
    assert fold(Delete(items, key), Update(items, key, {"size": 1})) == Delete(items, key)
    assert fold(Delete(items, key), Upsert(items, key, {"size": 1})) is None
    assert fold(Update(items, key, {"size": 1}), Upsert(items, key, {"name": "a"})) is None
