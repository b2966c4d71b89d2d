"""Webhooks over HTTP: a tenant subscribes endpoints to event types, reads their deliveries, disables, enables and
recovers them. The signing secret is in the answer to the subscription, and in no answer after it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from application.commands import CommandResult
from application.webhooks import WebhookService
from domain.errors import NotFoundError
from domain.webhooks import MAX_EVENT_TYPES, MAX_REASON, MAX_URL
from interfaces.http.context import command_context, id_in_path, platform_of, tenant_in_path
from projections.webhooks import attempts_query, deliveries_query, endpoint_query, endpoints, endpoints_query

EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
V = TypeVar("V", bound=msgspec.Struct)
MAX_PAGE = 200


class Subscribe(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL)]
    event_types: Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=MAX_EVENT_TYPES)]


class Recover(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    since: Annotated[datetime, msgspec.Meta(tz=True)]


class Disable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON)] = "disabled by its tenant"


class Subscribed(msgspec.Struct, frozen=True):
    endpoint_id: str
    secret: str
    """The ``whsec_`` signing secret: shown in this answer only."""
    url: str
    event_types: list[str]
    status: str
    position: int


class Accepted(msgspec.Struct, frozen=True):
    endpoint_id: str
    position: int


class EndpointView(msgspec.Struct, frozen=True):
    endpoint_id: str
    url: str | None
    event_types: list[str]
    secret_name: str
    status: str
    disabled_reason: str | None
    last_recovery_since: str | None
    created_at: str
    updated_at: str


class EndpointPage(msgspec.Struct, frozen=True):
    items: list[EndpointView]
    next_after: str | None


class AttemptView(msgspec.Struct, frozen=True):
    attempt: int
    at: str
    status: int | None
    error: str | None
    duration_ms: int
    delivered: bool
    next_at: str | None


class DeliveryView(msgspec.Struct, frozen=True):
    delivery_id: str
    event_id: str
    event_type: str
    event_position: int
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_at: str | None
    delivered_at: str | None
    failed_at: str | None
    created_at: str
    updated_at: str
    history: list[AttemptView] = []


class DeliveryPage(msgspec.Struct, frozen=True):
    items: list[DeliveryView]
    next_before: int | None


def webhooks_of(state: State) -> WebhookService:
    """The webhooks service the composition root wired into the platform."""
    service: WebhookService = state.platform.webhooks
    return service


def _accepted(result: CommandResult) -> Accepted:
    return Accepted(str(result.aggregate_id), result.position)


def _view(row: Any, view: type[V]) -> V:
    """A read-model row as a response struct (by attribute: SQLAlchemy's column names are not plain str keys)."""
    return msgspec.convert(row, view, from_attributes=True)


def _endpoint_view(state: State, row: Any) -> EndpointView:
    """An endpoint row as served: its URL (sealed in the read model) opened."""
    return msgspec.convert(platform_of(state).read_models.opened(endpoints, row), EndpointView)


class WebhookController(Controller):
    """A tenant's webhook endpoints: commands answer with their event's position, queries read the read model."""

    path = "/v1/tenants/{tenant_id:str}/webhooks"
    tags = ["webhooks"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "subscribe_webhook"})
    def subscribe(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], data: JSONBody[Subscribe]
    ) -> Response[Subscribed]:
        """Subscribe a URL to CloudEvents types. The answer holds the endpoint's ``whsec_`` secret, once: keep it to
        verify deliveries (Standard Webhooks). An Idempotency-Key makes a retry answer as the first did."""
        tenant = tenant_in_path(tenant_id)
        done = webhooks_of(state).subscribe_endpoint(command_context(request), tenant, data.url, data.event_types)
        body = Subscribed(
            str(done.endpoint_id), done.secret, data.url, done.event_types, "active", done.result.position
        )
        location = f"/v1/tenants/{tenant}/webhooks/{done.endpoint_id}"
        return Response(body, status_code=201, headers={"Location": location})

    @get("/", sync_to_thread=True, opt={"action": "list_webhooks"})
    def list_endpoints(
        self,
        state: State,
        tenant_id: FromPath[str],
        status: Annotated[str | None, QueryParameter(max_length=16)] = None,
        after: Annotated[str | None, QueryParameter(max_length=36)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> EndpointPage:
        """A tenant's endpoints (never their secrets); page on with ``after`` = the previous ``next_after``."""
        query = endpoints_query(str(id_in_path(tenant_id)), status, after, limit)
        with platform_of(state).read_models.engine.connect() as connection:
            items = [_endpoint_view(state, row) for row in connection.execute(query).all()]
        return EndpointPage(items, items[-1].endpoint_id if len(items) == limit else None)

    @get("/{endpoint_id:str}", sync_to_thread=True, opt={"action": "read_webhook"})
    def read_endpoint(self, state: State, tenant_id: FromPath[str], endpoint_id: FromPath[str]) -> EndpointView:
        """One endpoint: its URL, event types, status, and the name of its secret."""
        return _endpoint_view(state, _endpoint_row(state, tenant_id, endpoint_id))

    @get("/{endpoint_id:str}/deliveries", sync_to_thread=True, opt={"action": "list_webhook_deliveries"})
    def deliveries(
        self,
        state: State,
        tenant_id: FromPath[str],
        endpoint_id: FromPath[str],
        status: Annotated[str | None, QueryParameter(max_length=16)] = None,
        before: Annotated[int | None, QueryParameter(ge=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> DeliveryPage:
        """The endpoint's deliveries, newest event first, each with every attempt (time, status, error, next
        attempt); ``status`` is pending, retrying, delivered or failed; ``before`` is the previous ``next_before``."""
        endpoint = _endpoint_row(state, tenant_id, endpoint_id).endpoint_id
        with platform_of(state).read_models.engine.connect() as connection:
            rows = connection.execute(deliveries_query(endpoint, status, before, limit)).all()
            ids = [row.delivery_id for row in rows]
            tries = connection.execute(attempts_query(ids)).all() if ids else []
        history: dict[str, list[AttemptView]] = {}
        for attempt in tries:
            history.setdefault(attempt.delivery_id, []).append(_view(attempt, AttemptView))
        items = [
            msgspec.structs.replace(_view(row, DeliveryView), history=history.get(row.delivery_id, [])) for row in rows
        ]
        return DeliveryPage(items, items[-1].event_position if len(items) == limit else None)

    @post("/{endpoint_id:str}/recover", sync_to_thread=True, status_code=202, opt={"action": "recover_webhook"})
    def recover(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        endpoint_id: FromPath[str],
        data: JSONBody[Recover],
    ) -> Accepted:
        """Deliver again every event whose delivery to this endpoint failed at or after ``since`` (in order)."""
        tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
        return _accepted(webhooks_of(state).recover_endpoint(command_context(request), tenant, endpoint, data.since))

    @post("/{endpoint_id:str}/disable", sync_to_thread=True, status_code=202, opt={"action": "disable_webhook"})
    def disable(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        endpoint_id: FromPath[str],
        data: JSONBody[Disable | None] = None,
    ) -> Accepted:
        """Stop deliveries to this endpoint (events until it is enabled again are not sent to it)."""
        tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
        reason = (data or Disable()).reason
        return _accepted(webhooks_of(state).disable_endpoint(command_context(request), tenant, endpoint, reason))

    @post("/{endpoint_id:str}/enable", sync_to_thread=True, status_code=202, opt={"action": "enable_webhook"})
    def enable(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], endpoint_id: FromPath[str]
    ) -> Accepted:
        """Resume deliveries to a disabled endpoint, with what was waiting and the events from now on."""
        tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
        return _accepted(webhooks_of(state).enable_endpoint(command_context(request), tenant, endpoint))


def _endpoint_row(state: State, tenant_id: str, endpoint_id: str) -> Any:
    tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
    with platform_of(state).read_models.engine.connect() as connection:
        row = connection.execute(endpoint_query(str(tenant), str(endpoint))).first()
    if row is None:
        raise NotFoundError(f"no such webhook endpoint: {endpoint_id}")
    return row
