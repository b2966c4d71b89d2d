"""The contract read models as a table: each contract event -> the row changes it causes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.contracts import DataContract, contract_id_for, read_contract
from domain.tenants import Tenant
from projections.base import Update, Upsert
from projections.contracts import contract_history, contract_versions, contracts, evolve, search_text

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
AT = WHEN.isoformat()
TENANT = "4f9a1c52-0000-4000-8000-000000000001"
CID = str(contract_id_for(TENANT, "orders"))


@dataclass(frozen=True)
class Seen:
    """An event as the log hands it to a projection."""

    position: int
    event: Any
    recorded_at: datetime = WHEN
    tenant_id: str | None = TENANT


def document(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "orders",
        "version": version,
        "name": "Orders",
        "domain": "Sales",
        "description": {"purpose": "Paid Orders of the web shop"},
        "schema": [{"name": "orders", "properties": [{"name": "order_id", "logicalType": "string"}]}],
    }


def events() -> list[Any]:
    contract = DataContract.draft(TENANT, read_contract(document("1.0.0")), "engineer")
    contract.propose("1.0.0", "engineer")
    contract.approve("1.0.0", "steward")
    contract.add_version(read_contract(document("1.1.0")), "engineer")
    contract.propose("1.1.0", "engineer")
    contract.approve("1.1.0", "steward")
    contract.deprecate("1.1.0", "steward", "2.x is coming")
    contract.retire("1.1.0", "steward", "")
    return contract.collect_events()


def version_key(version: str) -> dict[str, str]:
    return {"contract_id": CID, "version": version}


def history(position: int, version: str, status: str, by: str, reason: str | None = None) -> Upsert:
    key = {"contract_id": CID, "position": position, "version": version}
    values = {"tenant_id": TENANT, "status": status, "by": by, "reason": reason, "recorded_at": AT}
    return Upsert(contract_history, key, values)


def stamp(position: int) -> dict[str, Any]:
    return {"updated_at": AT, "position": position}


def test_drafting_creates_the_contract_its_version_and_a_history_entry() -> None:
    [contract, version, entry] = evolve(Seen(1, events()[0]))
    assert contract == Upsert(
        contracts,
        {"contract_id": CID},
        {
            "tenant_id": TENANT,
            "contract_key": "orders",
            "name": "Orders",
            "status": "draft",
            "current_version": None,
            "latest_version": "1.0.0",
            "search_text": "orders orders sales paid orders of the web shop orders order_id",
            "created_at": AT,
            "updated_at": AT,
            "position": 1,
        },
    )
    assert isinstance(version, Upsert)
    assert version.key == version_key("1.0.0")
    assert version.values["status"] == "draft"
    assert (version.values["author"], version.values["drafted_position"]) == ("engineer", 1)
    assert version.values["document"] == document("1.0.0")
    assert entry == history(1, "1.0.0", "draft", "engineer")


EXPECTED = [
    (
        1,
        [
            Update(contract_versions, version_key("1.0.0"), {"status": "proposed", "status_reason": None} | stamp(2)),
            history(2, "1.0.0", "proposed", "engineer"),
        ],
    ),
    (
        2,
        [
            Update(contract_versions, version_key("1.0.0"), {"status": "active", "status_reason": None} | stamp(3)),
            history(3, "1.0.0", "active", "steward"),
            Update(contract_versions, version_key("1.0.0"), {"approver": "steward"}),
            Update(contracts, {"contract_id": CID}, {"status": "active", "current_version": "1.0.0"} | stamp(3)),
        ],
    ),
    (
        5,
        [
            Update(
                contract_versions,
                version_key("1.0.0"),
                {"status": "deprecated", "status_reason": "superseded by 1.1.0"} | stamp(6),
            ),
            history(6, "1.0.0", "deprecated", "steward", "superseded by 1.1.0"),
            Update(contract_versions, version_key("1.1.0"), {"status": "active", "status_reason": None} | stamp(6)),
            history(6, "1.1.0", "active", "steward"),
            Update(contract_versions, version_key("1.1.0"), {"approver": "steward"}),
            Update(contracts, {"contract_id": CID}, {"status": "active", "current_version": "1.1.0"} | stamp(6)),
        ],
    ),
    (
        6,
        [
            Update(
                contract_versions,
                version_key("1.1.0"),
                {"status": "deprecated", "status_reason": "2.x is coming"} | stamp(7),
            ),
            history(7, "1.1.0", "deprecated", "steward", "2.x is coming"),
            Update(contracts, {"contract_id": CID, "current_version": "1.1.0"}, {"status": "deprecated"} | stamp(7)),
        ],
    ),
    (
        7,
        [
            Update(contract_versions, version_key("1.1.0"), {"status": "retired", "status_reason": None} | stamp(8)),
            history(8, "1.1.0", "retired", "steward"),
            Update(
                contracts,
                {"contract_id": CID, "current_version": "1.1.0"},
                {"status": "retired", "current_version": None} | stamp(8),
            ),
        ],
    ),
]


@pytest.mark.parametrize(
    ("index", "expected"), EXPECTED, ids=["proposed", "approved", "superseded", "deprecated", "retired"]
)
def test_each_status_change_updates_the_version_the_history_and_the_version_in_force(
    index: int, expected: list
) -> None:
    assert evolve(Seen(index + 1, events()[index])) == expected


def test_a_new_version_moves_the_latest_version_and_names_its_base() -> None:
    [contract, version, entry] = evolve(Seen(4, events()[3]))
    assert isinstance(contract, Update)
    assert contract.values["latest_version"] == "1.1.0"
    assert isinstance(version, Upsert)
    assert (version.values["base_version"], version.values["status"]) == ("1.0.0", "draft")
    assert entry == history(4, "1.1.0", "draft", "engineer")


def test_search_text_covers_descriptions_servers_objects_fields_and_kpis() -> None:
    doc = document("1.0.0") | {"servers": [{"server": "k", "type": "kafka"}], "tags": ["Finance"]}
    text = search_text("orders", doc, read_contract(doc).spec)
    for word in ("kafka", "finance", "order_id", "paid orders", "sales"):
        assert word in text


def test_other_events_change_nothing() -> None:
    assert evolve(Seen(1, Tenant.onboard("acme", "Acme", "trial").collect_events()[0])) == []
