"""Benchmark workloads: tenant events built as application/commands.py builds them, on fresh streams."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from typing import Any

from domain.tenants import Tenant
from eventstore import codec
from eventstore.envelope import Metadata
from eventstore.port import PendingEvent

RECORDED_AT = "2026-11-26T10:00:00+00:00"
LIFECYCLE = 5
"""Events in one tenant's history: onboarded, entitlements changed, suspended, reinstated, entitlements changed."""

_serial = itertools.count()
_run = uuid.uuid4().hex[:8]


def _slug() -> str:
    return f"bench-{_run}-{next(_serial)}"


def metadata_for(event: Any, tenant_id: str, command_id: str) -> Metadata:
    """The metadata CommandRunner would attach (no trace context: benchmarks run outside a span)."""
    return Metadata(
        event_id=str(codec.event_id_for(event.originator_id, event.originator_version)),
        tenant_id=tenant_id,
        actor="user:bench",
        command_id=command_id,
        correlation_id=command_id,
        causation_id=None,
        traceparent=None,
        recorded_at=RECORDED_AT,
        schema_version=codec.class_version(type(event)),
    )


def _pending(tenant: Tenant) -> list[PendingEvent]:
    command_id = str(uuid.uuid4())
    return [PendingEvent(e, metadata_for(e, str(tenant.id), command_id)) for e in tenant.collect_events()]


def onboardings(count: int) -> list[PendingEvent]:
    """``count`` Tenant.Onboarded events, each the first event of a new stream."""
    return [_pending(Tenant.onboard(_slug(), "Bench Tenant Ltd", "standard"))[0] for _ in range(count)]


def tenant_history(length: int = LIFECYCLE) -> list[PendingEvent]:
    """The first ``length`` events of one new tenant's lifecycle, all in its stream."""
    tenant = Tenant.onboard(_slug(), "Bench Tenant Ltd", "standard")
    tenant.change_entitlements(["catalog", "kpis"], {"datasets": 100, "seats": 25})
    tenant.suspend("invoice overdue")
    tenant.reinstate()
    tenant.change_entitlements(["catalog", "kpis", "publishing"], {"datasets": 500, "seats": 50})
    return _pending(tenant)[:length]


def histories(events: int) -> list[list[PendingEvent]]:
    """Tenant histories holding ``events`` events in all (the last one cut short when needed)."""
    return [tenant_history(min(LIFECYCLE, events - start)) for start in range(0, events, LIFECYCLE)]


Row = tuple[uuid.UUID | str, int, str, bytes]


def stored_rows(events: Sequence[PendingEvent]) -> list[Row]:
    """The exact (stream id, version, topic, state bytes) the port would store for these events."""
    rows: list[Row] = []
    for pending in events:
        stored = codec.encode(pending.event, pending.metadata)
        rows.append((stored.originator_id, stored.originator_version, stored.topic, stored.state))
    return rows
