"""The policy read models as a table: each policy event -> the row changes it causes.

Activations and retirements also move the active set's version counter, which the policy engine watches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.policy import Policy, PolicyAnalysis, Statement, policy_id_for
from domain.tenants import Tenant
from projections import policies as read_model
from projections.base import Change, Update, Upsert

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
AT = WHEN.isoformat()
TENANT = "6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10"
KEY = {"policy_id": str(policy_id_for(TENANT, "stop"))}
TEXT = f'forbid (principal, action, resource == Tenant::"{TENANT}");'
STAMP = {"updated_at": AT, "position": 9}


@dataclass(frozen=True)
class Seen:
    position: int
    event: Any
    recorded_at: datetime = WHEN
    tenant_id: str | None = TENANT


def policy_events() -> list[Any]:
    policy = Policy.open(TENANT, "stop")
    policy.draft(TEXT, "why", PolicyAnalysis((), (Statement("forbid", "Tenant", TENANT),)))
    policy.activate(1, PolicyAnalysis((), (Statement("forbid", "Tenant", TENANT),)))
    policy.retire("done")
    return policy.collect_events()


CREATED, DRAFTED, ACTIVATED, RETIRED = policy_events()
COUNTER = Upsert(read_model.policy_set, {"name": "active"}, {"version": 9})
TABLE: list[tuple[str, Any, list[Change]]] = [
    (
        "created inserts a draft policy",
        CREATED,
        [
            Upsert(
                read_model.policies,
                KEY,
                {"tenant_id": TENANT, "name": "stop", "status": "draft", "active_version": None}
                | {"latest_version": 0, "created_at": AT}
                | STAMP,
            )
        ],
    ),
    (
        "a draft is a version row and the policy's latest",
        DRAFTED,
        [
            Upsert(
                read_model.policy_versions,
                KEY | {"version": 1},
                {"cedar": TEXT, "sha256": DRAFTED.sha256, "description": "why", "drafted_at": AT, "position": 9},
            ),
            Update(read_model.policies, KEY, {"latest_version": 1} | STAMP),
        ],
    ),
    (
        "activation marks the version active and moves the counter",
        ACTIVATED,
        [Update(read_model.policies, KEY, {"status": "active", "active_version": 1} | STAMP), COUNTER],
    ),
    (
        "retirement switches it off and moves the counter",
        RETIRED,
        [Update(read_model.policies, KEY, {"status": "retired", "active_version": None} | STAMP), COUNTER],
    ),
]


@pytest.mark.parametrize(("event", "expected"), [(e, c) for _, e, c in TABLE], ids=[n for n, _, _ in TABLE])
def test_each_event_becomes_these_row_changes(event: Any, expected: list[Change]) -> None:
    assert read_model.evolve(Seen(9, event)) == expected


def test_other_events_change_nothing() -> None:
    assert read_model.evolve(Seen(9, Tenant.onboard("acme", "Acme", "trial").collect_events()[0])) == []
