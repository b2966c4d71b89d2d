"""The tenant directory as a table: each tenant event -> the row change it causes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.tenants import Tenant, tenant_id_for
from projections import ALL
from projections.base import Change, Update, Upsert
from projections.tenant_directory import evolve, projection, tenants

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
STAMP = WHEN.isoformat()
KEY = {"tenant_id": str(tenant_id_for("acme"))}


@dataclass(frozen=True)
class Seen:
    """An event as the log hands it to a projection."""

    position: int
    event: Any
    recorded_at: datetime = WHEN
    tenant_id: str | None = None


def tenant_events() -> list[Any]:
    tenant = Tenant.onboard("acme", "Acme Corp", "standard")
    tenant.change_entitlements(["webhooks", "exports"], {"rows": 100})
    tenant.suspend("unpaid")
    tenant.reinstate()
    tenant.offboard("contract ended")
    return tenant.collect_events()


ONBOARDED, ENTITLED, SUSPENDED, REINSTATED, OFFBOARDED = tenant_events()


def stamp(version: int, position: int) -> dict[str, Any]:
    return {"updated_at": STAMP, "version": version, "position": position}


TABLE: list[tuple[str, Any, int, list[Change]]] = [
    (
        "onboarded inserts the row",
        ONBOARDED,
        10,
        [
            Upsert(
                tenants,
                KEY,
                {
                    "slug": "acme",
                    "display_name": "Acme Corp",
                    "plan": "standard",
                    "status": "active",
                    "status_reason": None,
                    "features": [],
                    "quotas": {},
                    "onboarded_at": STAMP,
                }
                | stamp(0, 10),
            )
        ],
    ),
    (
        "entitlements changed sets features and quotas",
        ENTITLED,
        17,
        [Update(tenants, KEY, {"features": ["exports", "webhooks"], "quotas": {"rows": 100}} | stamp(1, 17))],
    ),
    (
        "suspended sets status and reason",
        SUSPENDED,
        23,
        [Update(tenants, KEY, {"status": "suspended", "status_reason": "unpaid"} | stamp(2, 23))],
    ),
    (
        "reinstated clears the reason",
        REINSTATED,
        24,
        [Update(tenants, KEY, {"status": "active", "status_reason": None} | stamp(3, 24))],
    ),
    (
        "offboarded sets status and reason",
        OFFBOARDED,
        99,
        [Update(tenants, KEY, {"status": "offboarded", "status_reason": "contract ended"} | stamp(4, 99))],
    ),
]


@pytest.mark.parametrize(("case", "recorded", "position", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_event_to_row_change(case: str, recorded: Any, position: int, expected: list[Change]) -> None:
    assert evolve(Seen(position, recorded)) == expected


class Gadget(Aggregate):
    class Built(Aggregate.Created):
        name: str

    @event(Built)
    def __init__(self, name: str) -> None:
        self.name = name


def test_an_event_of_another_context_changes_nothing() -> None:
    [built] = Gadget("x").collect_events()
    assert evolve(Seen(5, built)) == []


def test_the_change_is_stamped_with_the_recorded_time_not_a_clock() -> None:
    later = datetime(2030, 1, 1, tzinfo=UTC)
    [change] = evolve(Seen(3, SUSPENDED, recorded_at=later))
    assert isinstance(change, Update)
    assert change.values["updated_at"] == later.isoformat()


def test_evolve_is_pure() -> None:
    assert evolve(Seen(10, ONBOARDED)) == evolve(Seen(10, ONBOARDED))


def test_changes_name_only_directory_columns_and_onboarding_fills_them_all() -> None:
    columns = set(tenants.columns.keys())
    for _, recorded, position, _expected in TABLE:
        for change in evolve(Seen(position, recorded)):
            assert change.table is tenants
            assert set(change.key) | set(change.values) <= columns, change
    [onboarding] = evolve(Seen(1, ONBOARDED))
    assert isinstance(onboarding, Upsert)
    assert set(onboarding.key) | set(onboarding.values) == columns


def test_the_directory_is_registered() -> None:
    assert projection in ALL
    assert projection.name == "tenant_directory"
    assert projection.tables == (tenants,)
