"""Personal-data accesses: the aggregate's rule (given what was served, when recorded, then this event or this error),
the read model's event -> row changes, and the filter the audit CLI applies to rows read from the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from domain.errors import InvalidValueError
from domain.personal_data import PersonalDataAccess, Purpose, ServedData
from projections.base import Upsert
from projections.personal_data import (
    AccessFilter,
    evolve,
    matches,
    personal_data_access_fields,
    personal_data_accesses,
    utc_time,
)

ACCESS_ID = UUID("00000000-0000-4000-8000-000000000001")
WHEN = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
SERVED = ServedData("retail-sales", 1, "gdp", ["phone", "customer_email"], 50)
WHY = Purpose("read_product_rows", "GET /v1/tenants/{tenant_id}/products/{product}/versions/{version}/rows", "r-1")


@dataclass(frozen=True)
class Seen:
    position: int
    event: Any
    recorded_at: datetime = WHEN
    tenant_id: str | None = "t-1"


def recorded() -> Any:
    [event] = PersonalDataAccess.record(ACCESS_ID, "p-1", "person", SERVED, WHY).collect_events()
    return event


def test_an_access_is_one_event_naming_the_fields_in_order_never_their_values() -> None:
    event = recorded()
    assert isinstance(event, PersonalDataAccess.Recorded)
    assert event.originator_id == ACCESS_ID
    assert (event.principal_id, event.principal_kind) == ("p-1", "person")
    assert (event.product, event.version, event.dataset, event.rows) == ("retail-sales", 1, "gdp", 50)
    assert event.fields == ["customer_email", "phone"]
    assert (event.operation, event.request_id) == ("read_product_rows", "r-1")


@pytest.mark.parametrize(
    ("served", "why"),
    [
        (ServedData("retail-sales", 1, "gdp", [], 50), WHY),
        (ServedData("retail-sales", 1, "gdp", ["customer_email"], 0), WHY),
        (SERVED, Purpose("", WHY.route, "r-1")),
        (SERVED, Purpose(WHY.operation, "", "r-1")),
        (SERVED, Purpose(WHY.operation, WHY.route, "r" * 201)),
    ],
)
def test_an_access_without_personal_fields_rows_or_a_reason_is_refused(served: ServedData, why: Purpose) -> None:
    with pytest.raises(InvalidValueError):
        PersonalDataAccess.record(ACCESS_ID, "p-1", "person", served, why)


def test_the_read_model_keeps_one_row_per_access_and_one_per_field_served() -> None:
    changes = evolve(Seen(7, recorded()))
    key = {"access_id": str(ACCESS_ID)}
    assert changes[0] == Upsert(
        personal_data_accesses,
        key,
        {
            "tenant_id": "t-1",
            "principal_id": "p-1",
            "principal_kind": "person",
            "product": "retail-sales",
            "version": 1,
            "dataset": "gdp",
            "fields": ["customer_email", "phone"],
            "rows": 50,
            "operation": "read_product_rows",
            "route": WHY.route,
            "request_id": "r-1",
            "accessed_at": WHEN.isoformat(),
            "position": 7,
        },
    )
    assert changes[1:] == [
        Upsert(personal_data_access_fields, key | {"field": f}, {"tenant_id": "t-1"})
        for f in ("customer_email", "phone")
    ]
    assert evolve(Seen(8, recorded(), tenant_id=None)) == []


def test_the_log_filter_selects_as_the_query_does() -> None:
    [row] = [{**c.key, **c.values} for c in evolve(Seen(7, recorded())) if c.table is personal_data_accesses]
    assert matches(row, AccessFilter())
    assert matches(row, AccessFilter(principal="p-1", product="retail-sales", field="phone"))
    assert not matches(row, AccessFilter(principal="p-2"))
    assert not matches(row, AccessFilter(field="order_id"))
    assert matches(row, AccessFilter(since=utc_time("since", "2026-12-07T14:00:00Z")))
    assert not matches(row, AccessFilter(until=utc_time("until", "2026-12-07T15:00:00+01:00")))
    assert matches(row, AccessFilter(until=utc_time("until", "2026-12-08")))
    with pytest.raises(ValueError, match="since must be an ISO 8601"):
        utc_time("since", "yesterday")
