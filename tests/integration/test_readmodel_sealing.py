"""Sealed read-model cells: which values the store seals, how they are bound to their cell, and what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from adapters.keys import open_envelope_cipher
from adapters.keys.rowseal import ERASED, RowSealer, row_identity
from adapters.readmodel_sealing import SealedKeyError, open_row, seal_change
from adapters.readmodels import ReadModelStore, sqlite_url
from domain.access import Principal
from projections import access, webhooks
from projections.access import principals
from projections.base import Fingerprint, Update, Upsert, sealed_column, sealed_columns

TENANT = "6f1c1b8e-0000-4000-8000-000000000001"
ROW = {"principal_id": "p-1"}


@pytest.fixture
def sealer(tmp_path: Path) -> Iterator[RowSealer]:
    cipher = open_envelope_cipher(str(tmp_path / "keys"))
    yield RowSealer(cipher)
    cipher.close()


def registered(**values: object) -> Upsert:
    return Upsert(principals, ROW, {"subject": "ada@example.org", "display_name": "Ada", **values})


def test_the_declared_columns_are_sealed_and_nothing_else() -> None:
    assert sealed_columns(principals) == {"subject", "display_name"}
    with pytest.raises(TypeError, match="does not declare 'kind'"):
        sealed_column("kind", Principal.Registered)


def test_sealed_values_hold_no_clear_text_open_again_and_are_deterministic(sealer: RowSealer) -> None:
    first = seal_change(sealer, registered(kind="person"), TENANT)
    again = seal_change(sealer, registered(kind="person"), TENANT)

    assert first == again  # a replay writes the same bytes
    assert first.values["kind"] == "person"
    assert all(first.values[c].startswith(f"r1.{TENANT}.") for c in ("subject", "display_name"))
    assert "ada" not in str(first.values["subject"]).lower()
    opened = open_row(sealer, principals, {**ROW, **first.values})
    assert (opened["subject"], opened["display_name"]) == ("ada@example.org", "Ada")


def test_a_cell_is_bound_to_its_table_column_and_row(sealer: RowSealer) -> None:
    sealed = seal_change(sealer, registered(), TENANT).values["subject"]
    cell = row_identity("principals", "subject", ROW)

    assert sealer.open(cell, sealed) == "ada@example.org"
    for other in (
        row_identity("principals", "display_name", ROW),
        row_identity("principals", "subject", {"principal_id": "p-2"}),
        row_identity("webhook_endpoints", "subject", ROW),
    ):
        with pytest.raises(Exception, match="failed to open"):
            sealer.open(other, sealed)


def test_none_and_erased_are_kept_as_they_are(sealer: RowSealer) -> None:
    change = seal_change(sealer, registered(subject=ERASED, display_name=None), TENANT)

    assert (change.values["subject"], change.values["display_name"]) == (ERASED, None)


def test_once_the_data_key_is_destroyed_cells_read_erased_and_new_ones_are_written_erased(sealer: RowSealer) -> None:
    sealed = seal_change(sealer, registered(), TENANT).values["subject"]

    sealer.cipher.destroy_data_key(TENANT)

    assert sealer.open(row_identity("principals", "subject", ROW), sealed) == ERASED
    assert seal_change(sealer, registered(), TENANT).values["subject"] == ERASED


def test_a_sealed_column_is_changed_by_primary_key_only(sealer: RowSealer) -> None:
    by_tenant = {"tenant_id": TENANT}

    with pytest.raises(SealedKeyError, match="by the row's primary key"):
        seal_change(sealer, Update(principals, by_tenant, {"display_name": "Ada"}), TENANT)
    erased = Update(principals, by_tenant, {"display_name": ERASED, "identity": None})
    assert seal_change(sealer, erased, TENANT) == erased


def test_a_fingerprint_becomes_a_keyed_digest(sealer: RowSealer) -> None:
    change = seal_change(sealer, registered(identity=Fingerprint("iss|ada@example.org")), TENANT)

    digest = change.values["identity"]
    assert digest == sealer.fingerprint("iss|ada@example.org")
    assert digest.startswith("hmac-sha256:")
    assert "ada" not in digest


def test_a_store_without_a_sealer_refuses_sealed_columns_both_ways() -> None:
    with pytest.raises(SealedKeyError, match="row sealer"):
        seal_change(None, registered(), TENANT)
    with pytest.raises(SealedKeyError, match="row sealer"):
        open_row(None, principals, {**ROW, "subject": "x"})
    plain = Upsert(principals, ROW, {"kind": "person"})
    assert seal_change(None, plain, TENANT) == plain


@pytest.mark.parametrize(
    ("stale", "ddl", "rows"),
    [
        ("access", "CREATE TABLE principals (principal_id VARCHAR(36) PRIMARY KEY, subject TEXT)", []),  # no identity
        (
            "webhooks",
            "CREATE TABLE webhook_endpoints (endpoint_id VARCHAR(36) PRIMARY KEY, tenant_id TEXT, url TEXT,"
            " event_types JSON, secret_name TEXT, status TEXT, disabled_reason TEXT, last_recovery_since TEXT,"
            " created_at TEXT, updated_at TEXT, position BIGINT)",
            ["INSERT INTO webhook_endpoints (endpoint_id, url) VALUES ('e-1', 'https://hooks.example/ada')"],
        ),
    ],
)
def test_a_read_model_made_before_sealing_is_dropped_and_rebuilt_from_the_log(
    tmp_path: Path, stale: str, ddl: str, rows: list[str], sealer: RowSealer
) -> None:
    url = sqlite_url(tmp_path / "old.db")
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in (ddl, *rows, "CREATE TABLE projection_checkpoints (name TEXT PRIMARY KEY, position BIGINT)"):
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql("INSERT INTO projection_checkpoints VALUES ('access', 9), ('webhooks', 9)")
    engine.dispose()

    store = ReadModelStore(url, [access.projection, webhooks.projection], sealer)

    kept = ({"access", "webhooks"} - {stale}).pop()
    assert (store.checkpoint(stale), store.checkpoint(kept)) == (0, 9)  # the stale one is caught up again from the log
    with store.engine.connect() as connection:
        assert connection.execute(select(webhooks.endpoints)).all() == []
    store.close()
    again = ReadModelStore(url, [access.projection, webhooks.projection], sealer)  # sealed now: nothing to rebuild
    assert again.checkpoint(kept) == 9
    again.close()
    files = b"".join(path.read_bytes() for path in tmp_path.glob("old.db*"))
    assert b"hooks.example/ada" not in files  # the dropped pages were zeroed (secure_delete)
