"""The event catalogue: ``GET /v1/event-types`` (every CloudEvents type the platform emits, with the JSON Schema of
its data) and ``GET /asyncapi`` (an AsyncAPI 3.0 document of the NATS subjects, publishers and consumers).

Both are derived, not written: event types from the domain's event classes, the consumers from the faststream
app ``platform consumers`` builds. Any authenticated principal may read them (Cedar action ``read_event_types``):
tenants subscribe webhooks to these type names.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from domain.errors import NotFoundError
from interfaces.bootstrap import EventCatalogue, EventTypeList, EventTypeView, Platform, asyncapi_document, event_types

READ_EVENT_TYPES = "read_event_types"
ASYNCAPI_PATH = "/asyncapi"


class EventCatalogueController(Controller):
    path = "/v1/event-types"
    tags = ["events"]

    @get("/", opt={"action": READ_EVENT_TYPES})
    async def list_event_types(self, event_catalogue: NamedDependency[EventCatalogue]) -> EventTypeList:
        """Every CloudEvents type the platform emits, with the JSON Schema (2020-12) of its ``data``."""
        return event_catalogue.event_types()

    @get("/{event_type:str}", opt={"action": READ_EVENT_TYPES})
    async def read_event_type(
        self, event_catalogue: NamedDependency[EventCatalogue], event_type: FromPath[str]
    ) -> EventTypeView:
        """One event type by its CloudEvents type, e.g. ``platform.tenants.TenantOnboarded``."""
        found = event_catalogue.event_type(event_type)
        if found is None:
            raise NotFoundError(f"no such event type: {event_type}")
        return found


class AsyncApiInfo(msgspec.Struct, frozen=True):
    title: str
    version: str
    description: str


class AsyncApiDocument(msgspec.Struct, frozen=True, omit_defaults=True, rename={"content_type": "defaultContentType"}):
    """An AsyncAPI 3.0 document; its channels, operations and components are the standard's free-form objects."""

    asyncapi: str
    info: AsyncApiInfo
    content_type: str
    channels: dict[str, Any]
    operations: dict[str, Any]
    components: dict[str, Any]
    servers: dict[str, Any] | None = None


def build_asyncapi(platform: Platform) -> AsyncApiDocument:
    """The AsyncAPI document for this platform's settings, its consumers as ``platform consumers`` builds them."""
    from interfaces.consumers import build_consumers_app, fed_read_models  # builds objects only: nothing connects

    settings = platform.settings
    consumers = build_consumers_app(settings, platform=platform)
    document = asyncapi_document(
        event_types(),
        prefix=settings.nats_subject_prefix,
        nats_url=settings.nats_url,
        consumers=consumers.brokers,
        feeds=fed_read_models(platform.read_models),
    )
    return msgspec.convert(document, AsyncApiDocument)


def asyncapi_dependency(platform: Platform) -> Provide:
    """The AsyncAPI document as a dependency: built in a worker thread when first asked for, then kept."""

    def provide() -> AsyncApiDocument:
        return build_asyncapi(platform)

    return Provide(provide, use_cache=True, sync_to_thread=True)


@get(ASYNCAPI_PATH, tags=["events"], opt={"action": READ_EVENT_TYPES})
async def asyncapi(asyncapi_spec: NamedDependency[AsyncApiDocument]) -> AsyncApiDocument:
    """The AsyncAPI 3.0 document of the platform's NATS subjects: the relay's channels and the consumers'."""
    return asyncapi_spec
