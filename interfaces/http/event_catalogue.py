"""The event catalogue: ``GET /v1/event-types`` (every CloudEvents type the platform emits, with the JSON Schema of
its data) and ``GET /asyncapi`` (an AsyncAPI 3.0 document of the NATS subjects, publishers and consumers).

Both are derived, not written: event types from the domain's event classes, the consumers from the faststream
app ``platform consumers`` builds. Any authenticated principal may read them (Cedar action ``read_event_types``):
tenants subscribe webhooks to these type names.
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath

from adapters.catalogue.asyncapi import asyncapi_document
from adapters.catalogue.events import EventType, event_types, json_schemas
from domain.errors import NotFoundError
from interfaces.bootstrap import Platform
from interfaces.http.context import platform_of
from interfaces.settings import Settings

READ_EVENT_TYPES = "read_event_types"
ASYNCAPI_PATH = "/asyncapi"


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


def view_of(event_type: EventType, prefix: str) -> EventTypeView:
    return EventTypeView(
        type=event_type.type,
        context=event_type.context,
        aggregate=event_type.aggregate,
        name=event_type.name,
        schema_version=event_type.schema_version,
        subject=event_type.subject(prefix),
        topic=event_type.topic,
        description=event_type.description,
        encrypted_fields=list(event_type.encrypted_fields),
        data_schema=json_schemas()[event_type.type],
    )


class EventCatalogueController(Controller):
    path = "/v1/event-types"
    tags = ["events"]

    @get("/", opt={"action": READ_EVENT_TYPES})
    async def list_event_types(self, settings: NamedDependency[Settings]) -> EventTypeList:
        """Every CloudEvents type the platform emits, with the JSON Schema (2020-12) of its ``data``."""
        views = [view_of(t, settings.nats_subject_prefix) for t in event_types()]
        return EventTypeList(views, len(views))

    @get("/{event_type:str}", opt={"action": READ_EVENT_TYPES})
    async def read_event_type(self, settings: NamedDependency[Settings], event_type: FromPath[str]) -> EventTypeView:
        """One event type by its CloudEvents type, e.g. ``platform.tenants.TenantOnboarded``."""
        found = next((t for t in event_types() if t.type == event_type), None)
        if found is None:
            raise NotFoundError(f"no such event type: {event_type}")
        return view_of(found, settings.nats_subject_prefix)


def build_asyncapi(platform: Platform) -> dict[str, Any]:
    """The AsyncAPI document for this platform's settings, its consumers as ``platform consumers`` builds them."""
    from interfaces.consumers import build_consumers_app  # builds objects only: nothing connects

    settings = platform.settings
    consumers = build_consumers_app(settings, platform=platform)
    return asyncapi_document(
        event_types(), prefix=settings.nats_subject_prefix, nats_url=settings.nats_url, consumers=consumers.brokers
    )


@get(ASYNCAPI_PATH, tags=["events"], opt={"action": READ_EVENT_TYPES})
async def asyncapi(state: State) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the platform's NATS subjects: the relay's channels and the consumers'."""
    cached: dict[str, Any] | None = state.get("asyncapi_document")
    if cached is None:
        cached = await anyio.to_thread.run_sync(build_asyncapi, platform_of(state))
        state["asyncapi_document"] = cached
    return cached
