"""The event catalogue as the query API answers it: every event type with where it is published and the JSON
Schema of its data, derived from the domain's event classes."""

from __future__ import annotations

from typing import Any

import msgspec

from adapters.catalogue.events import EventType, event_types, json_schemas


class EventTypeView(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One event type: its CloudEvents type, where it is published, and the JSON Schema of its data."""

    type: str
    context: str
    aggregate: str
    name: str
    schema_version: int
    subject: str
    topic: str
    description: str
    encrypted_fields: list[str]
    data_schema: dict[str, Any]


class EventTypeList(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    event_types: list[EventTypeView]
    count: int


class EventCatalogue:
    """Event types under one NATS subject prefix (PLATFORM_NATS_SUBJECT_PREFIX)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def event_types(self) -> EventTypeList:
        views = [self._view(t) for t in event_types()]
        return EventTypeList(views, len(views))

    def event_type(self, name: str) -> EventTypeView | None:
        """The event type of this CloudEvents type, e.g. ``platform.tenants.TenantOnboarded``."""
        found = next((t for t in event_types() if t.type == name), None)
        return None if found is None else self._view(found)

    def _view(self, event_type: EventType) -> EventTypeView:
        return EventTypeView(
            type=event_type.type,
            context=event_type.context,
            aggregate=event_type.aggregate,
            name=event_type.name,
            schema_version=event_type.schema_version,
            subject=event_type.subject(self.prefix),
            topic=event_type.topic,
            description=event_type.description,
            encrypted_fields=list(event_type.encrypted_fields),
            data_schema=json_schemas()[event_type.type],
        )
