"""The schema registry read model as a table: each subject event -> the row changes it causes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.schemas import Subject, subject_id_for
from domain.tenants import Tenant
from projections import schemas as read_model
from projections.base import Change, Update, Upsert

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
AT = WHEN.isoformat()
TENANT = "6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10"
SUBJECT = f"{TENANT}.orders"
KEY = {"subject_id": str(subject_id_for(SUBJECT))}
SCHEMA = {"fields": [{"name": "id", "type": "integer", "required": True, "primary_key": True, "unique": False}]}


@dataclass(frozen=True)
class Seen:
    position: int
    event: Any
    recorded_at: datetime = WHEN
    tenant_id: str | None = TENANT


def subject_events() -> list[Any]:
    subject = Subject.open(SUBJECT)
    subject.register(SCHEMA)
    subject.set_compatibility("FULL")
    return subject.collect_events()


CREATED, REGISTERED, CHANGED = subject_events()
TABLE: list[tuple[str, Any, list[Change]]] = [
    (
        "created inserts the subject with the default mode and no version",
        CREATED,
        [
            Upsert(
                read_model.subjects,
                KEY,
                {
                    "subject": SUBJECT,
                    "tenant_id": TENANT,
                    "compatibility": "BACKWARD",
                    "latest_version": 0,
                    "created_at": AT,
                    "updated_at": AT,
                    "position": 7,
                },
            )
        ],
    ),
    (
        "a registered version is a row of its own and the subject's latest",
        REGISTERED,
        [
            Upsert(
                read_model.versions,
                KEY | {"version": 1},
                {
                    "tenant_id": TENANT,
                    "schema": SCHEMA,
                    "fingerprint": REGISTERED.fingerprint,
                    "registered_at": AT,
                    "position": 7,
                },
            ),
            Update(read_model.subjects, KEY, {"latest_version": 1, "updated_at": AT, "position": 7}),
        ],
    ),
    (
        "a mode change updates the subject",
        CHANGED,
        [Update(read_model.subjects, KEY, {"compatibility": "FULL", "updated_at": AT, "position": 7})],
    ),
]


@pytest.mark.parametrize(("event", "expected"), [(e, c) for _, e, c in TABLE], ids=[n for n, _, _ in TABLE])
def test_each_event_becomes_these_row_changes(event: Any, expected: list[Change]) -> None:
    assert read_model.evolve(Seen(7, event)) == expected


def test_other_events_change_nothing() -> None:
    assert read_model.evolve(Seen(7, Tenant.onboard("acme", "Acme", "trial").collect_events()[0])) == []
