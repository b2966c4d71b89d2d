"""Compensations: the process manager that retracts a published version whose mandatory notification failed.

A contract that sets the ODCS custom property ``retractOnUndeliveredNotification`` makes every webhook notification
of its product's published versions mandatory: a version whose notification fails for good is retracted. Only the
notifications still under way are kept in memory. The retraction's command id derives from the Failed event, so a
failure seen twice retracts nothing twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from application.checkpoints import Fact
from application.commands import CommandContext
from application.pipeline import PipelineService
from domain.products import DataProduct, VersionRetractedError
from domain.values import TenantId, tenant_id_of
from domain.webhooks import Delivery
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore

ACTOR = "system:orchestrator"
PUBLISHED_TYPE = "platform.products.DataProductVersionPublished"
RETRACT_PROPERTY = "retractOnUndeliveredNotification"
"""A contract-level ODCS custom property: true makes every webhook notification of a published version of its
product mandatory, so a version whose notification can never be delivered is retracted (a compensation)."""


@dataclass(frozen=True)
class Undelivered:
    """A notification of a published version that failed for good: the version's position and why it failed."""

    position: int
    failed_event_id: str
    error: str


class Compensations:
    """Retracts published versions whose required notification could not be delivered."""

    name = "compensations"

    def __init__(self, store: EventStore, pipeline: PipelineService) -> None:
        self.store = store
        self.pipeline = pipeline
        self.notifying: dict[UUID, int] = {}
        """Notifications of a published version under way: the version event's position, by delivery id."""
        self.undelivered: dict[UUID, Undelivered] = {}

    def see(self, recorded: RecordedEvent) -> None:
        event, delivery_id = recorded.event, recorded.event.originator_id
        match event:
            case Delivery.Started() if event.event_type == PUBLISHED_TYPE:
                self.notifying[delivery_id] = event.position
            case Delivery.Delivered():
                self.notifying.pop(delivery_id, None)
            case Delivery.Failed() if delivery_id in self.notifying:
                position = self.notifying.pop(delivery_id)
                self.undelivered[delivery_id] = Undelivered(position, recorded.event_id, event.error)

    def saved(self) -> dict[str, Any]:
        undelivered = {str(d): asdict(u) for d, u in self.undelivered.items()}
        return {"notifying": {str(d): p for d, p in self.notifying.items()}, "undelivered": undelivered}

    def restore(self, state: dict[str, Any]) -> None:
        self.notifying = {UUID(d): int(p) for d, p in state.get("notifying", {}).items()}
        self.undelivered = {UUID(d): Undelivered(**u) for d, u in state.get("undelivered", {}).items()}

    def new_facts(self) -> list[Fact]:
        return []

    def work(self) -> int:
        """Retracts each version whose contract requires its notification; the number retracted."""
        done = 0
        for delivery_id, undelivered in list(self.undelivered.items()):
            self.undelivered.pop(delivery_id, None)
            done += self._compensate(delivery_id, undelivered)
        return done

    def _compensate(self, delivery_id: UUID, undelivered: Undelivered) -> int:
        published = self.store.read_all(undelivered.position - 1, 1)
        event = published[0].event if published else None
        if not isinstance(event, DataProduct.VersionPublished) or published[0].position != undelivered.position:
            return 0
        tenant = tenant_id_of(published[0].metadata.tenant_id or "")
        if not self._notification_required(tenant, event.contract, event.contract_version):
            return 0
        reason = (
            f"compensation: the required notification of version {event.version} could not be delivered "
            f"(webhook delivery {delivery_id}: {undelivered.error})"
        )
        cause = undelivered.failed_event_id
        context = CommandContext(ACTOR, f"compensate|{cause}", str(delivery_id), cause)
        try:
            self.pipeline.retract(context, tenant, event.contract, event.version, reason[:1000])
        except VersionRetractedError:
            return 0
        return 1

    def _notification_required(self, tenant_id: TenantId, contract: str, version: str) -> bool:
        found = self.pipeline.contracts.current_contract(tenant_id, contract)
        document = found.versions[version].document if found is not None and version in found.versions else {}
        return any(
            isinstance(p, dict) and p.get("property") == RETRACT_PROPERTY and p.get("value") is True
            for p in document.get("customProperties") or []
        )
