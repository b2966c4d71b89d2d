"""Webhooks over HTTP: a tenant subscribes endpoints to event types, reads their deliveries, disables, enables and
recovers them. The signing secret is in the answer to the subscription, and in no answer after it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.commands import CommandResult
from application.webhooks import WebhookService
from domain.errors import NotFoundError
from domain.values import EndpointStatus
from domain.webhooks import MAX_EVENT_TYPES, MAX_REASON, MAX_URL
from interfaces.http.context import command_context, id_in_path, tenant_in_path
from projections.webhooks import DeliveryPage, EndpointPage, EndpointView, WebhookQueries

EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
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


def _accepted(result: CommandResult) -> Accepted:
    return Accepted(str(result.aggregate_id), result.position)


class WebhookController(Controller):
    """A tenant's webhook endpoints: commands answer with their event's position, queries read the read model."""

    path = "/v1/tenants/{tenant_id:str}/webhooks"
    tags = ["webhooks"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "subscribe_webhook"})
    def subscribe(
        self,
        request: Request[Any, Any, Any],
        webhooks: NamedDependency[WebhookService],
        tenant_id: FromPath[str],
        data: JSONBody[Subscribe],
    ) -> Response[Subscribed]:
        """Subscribe a URL to CloudEvents types. The answer holds the endpoint's ``whsec_`` secret, once: keep it to
        verify deliveries (Standard Webhooks). An Idempotency-Key makes a retry answer as the first did."""
        tenant = tenant_in_path(tenant_id)
        done = webhooks.subscribe_endpoint(command_context(request), tenant, data.url, data.event_types)
        body = Subscribed(
            str(done.endpoint_id), done.secret, data.url, done.event_types, EndpointStatus.ACTIVE, done.result.position
        )
        location = f"/v1/tenants/{tenant}/webhooks/{done.endpoint_id}"
        return Response(body, status_code=201, headers={"Location": location})

    @get("/", sync_to_thread=True, opt={"action": "list_webhooks"})
    def list_endpoints(
        self,
        webhook_views: NamedDependency[WebhookQueries],
        tenant_id: FromPath[str],
        status: Annotated[str | None, QueryParameter(max_length=16)] = None,
        after: Annotated[str | None, QueryParameter(max_length=36)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> EndpointPage:
        """A tenant's endpoints (never their secrets); page on with ``after`` = the previous ``next_after``."""
        return webhook_views.endpoints(str(tenant_in_path(tenant_id)), status, after, limit)

    @get("/{endpoint_id:str}", sync_to_thread=True, opt={"action": "read_webhook"})
    def read_endpoint(
        self, webhook_views: NamedDependency[WebhookQueries], tenant_id: FromPath[str], endpoint_id: FromPath[str]
    ) -> EndpointView:
        """One endpoint: its URL, event types, status, and the name of its secret."""
        return _endpoint(webhook_views, tenant_id, endpoint_id)

    @get("/{endpoint_id:str}/deliveries", sync_to_thread=True, opt={"action": "list_webhook_deliveries"})
    def deliveries(
        self,
        webhook_views: NamedDependency[WebhookQueries],
        tenant_id: FromPath[str],
        endpoint_id: FromPath[str],
        status: Annotated[str | None, QueryParameter(max_length=16)] = None,
        before: Annotated[int | None, QueryParameter(ge=0)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> DeliveryPage:
        """The endpoint's deliveries, newest event first, each with every attempt (time, status, error, next
        attempt); ``status`` is pending, retrying, delivered or failed; ``before`` is the previous ``next_before``."""
        endpoint = _endpoint(webhook_views, tenant_id, endpoint_id).endpoint_id
        return webhook_views.deliveries(endpoint, status, before, limit)

    @post("/{endpoint_id:str}/recover", sync_to_thread=True, status_code=202, opt={"action": "recover_webhook"})
    def recover(
        self,
        request: Request[Any, Any, Any],
        webhooks: NamedDependency[WebhookService],
        tenant_id: FromPath[str],
        endpoint_id: FromPath[str],
        data: JSONBody[Recover],
    ) -> Accepted:
        """Deliver again every event whose delivery to this endpoint failed at or after ``since`` (in order)."""
        tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
        return _accepted(webhooks.recover_endpoint(command_context(request), tenant, endpoint, data.since))

    @post("/{endpoint_id:str}/disable", sync_to_thread=True, status_code=202, opt={"action": "disable_webhook"})
    def disable(
        self,
        request: Request[Any, Any, Any],
        webhooks: NamedDependency[WebhookService],
        tenant_id: FromPath[str],
        endpoint_id: FromPath[str],
        data: JSONBody[Disable | None] = None,
    ) -> Accepted:
        """Stop deliveries to this endpoint (events until it is enabled again are not sent to it)."""
        tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
        reason = (data or Disable()).reason
        return _accepted(webhooks.disable_endpoint(command_context(request), tenant, endpoint, reason))

    @post("/{endpoint_id:str}/enable", sync_to_thread=True, status_code=202, opt={"action": "enable_webhook"})
    def enable(
        self,
        request: Request[Any, Any, Any],
        webhooks: NamedDependency[WebhookService],
        tenant_id: FromPath[str],
        endpoint_id: FromPath[str],
    ) -> Accepted:
        """Resume deliveries to a disabled endpoint, with what was waiting and the events from now on."""
        tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
        return _accepted(webhooks.enable_endpoint(command_context(request), tenant, endpoint))


def _endpoint(webhook_views: WebhookQueries, tenant_id: str, endpoint_id: str) -> EndpointView:
    tenant, endpoint = tenant_in_path(tenant_id), id_in_path(endpoint_id, "webhook endpoint")
    found = webhook_views.endpoint(str(tenant), str(endpoint))
    if found is None:
        raise NotFoundError(f"no such webhook endpoint: {endpoint_id}")
    return found
