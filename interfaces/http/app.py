"""The Litestar application: command and query APIs, problem details, OpenAPI at /schema."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, get

from application.contract_uploads import JSON_MEDIA_TYPES, YAML_MEDIA_TYPES
from interfaces.bootstrap import Platform
from interfaces.http.access import AccessController, list_platform_denials
from interfaces.http.actions import ActionRunController, ActionTemplateController, PlaybookController
from interfaces.http.auth import PUBLIC_PATHS, Resources, authentication_middleware, authorization_guard
from interfaces.http.contracts import ContractController
from interfaces.http.deadletters import DeadLetterController
from interfaces.http.deps import dependencies, provided
from interfaces.http.event_catalogue import EventCatalogueController, asyncapi, asyncapi_dependency
from interfaces.http.exports import ExportController
from interfaces.http.fingerprint import fingerprint_middleware
from interfaces.http.gateway import cors_config, gateway_middleware, security_headers_hook
from interfaces.http.input_guard import input_guard_middleware
from interfaces.http.ledger import LedgerController
from interfaces.http.lineage import LineageController
from interfaces.http.observability import metrics, metrics_middleware, ready
from interfaces.http.openapi import complete_document, openapi_config
from interfaces.http.personal_data import PersonalDataAccessController
from interfaces.http.pipeline import PipelineController
from interfaces.http.policies import PlatformPolicyController, TenantPolicyController
from interfaces.http.problems import EXCEPTION_HANDLERS, UnsupportedMediaTypeError
from interfaces.http.products import CatalogController, ProductController
from interfaces.http.ratelimit import RateLimits
from interfaces.http.ratelimit_stores import open_buckets
from interfaces.http.schedules import ScheduleController
from interfaces.http.schemas import SchemaRegistryController
from interfaces.http.secrets import SecretController
from interfaces.http.tenants import TenantController
from interfaces.http.tracing import tracing_middleware
from interfaces.http.unit_of_work import unit_of_work_middleware
from interfaces.http.webhooks import WebhookController
from interfaces.settings import Placement
from interfaces.web import template_config, web_routers

BODY_METHODS = {"POST", "PUT", "PATCH"}


async def require_json(request: Request[Any, Any, Any]) -> None:
    """Command bodies are JSON (routes with ``opt["accepts_yaml"]`` also take YAML): else 415 before the handler.

    Routes with ``opt["accepts_data"]`` (batch uploads) check their data formats themselves."""
    if request.method not in BODY_METHODS or request.route_handler.opt.get("accepts_data"):
        return
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if not (has_body or media_type) or media_type in JSON_MEDIA_TYPES or media_type.endswith("+json"):
        return
    yaml_too = bool(request.route_handler.opt.get("accepts_yaml"))
    if yaml_too and media_type in YAML_MEDIA_TYPES:
        return
    accepted = "application/json" + (" or " + ", ".join(YAML_MEDIA_TYPES) if yaml_too else "")
    raise UnsupportedMediaTypeError(f"send the body as {accepted}, not {media_type or 'no content type'}")


class Health(msgspec.Struct, frozen=True):
    status: str


@get("/health", tags=["operations"], opt={"public": True})
async def health() -> Health:
    """The process is up and serving."""
    return Health("ok")


def create_app(platform: Platform) -> Litestar:
    settings, placements = platform.settings, platform.settings.process_managers
    buckets = open_buckets(settings.limits.rate_limit_store, time.monotonic)
    limits = RateLimits(settings.limits, settings.auth, public_paths=PUBLIC_PATHS, buckets=buckets)
    resources = Resources(platform.authorization, platform.tenant_queries)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        if placements.projections == Placement.INPROCESS:
            platform.worker.start()
            platform.ledger.start()
        if placements.orchestrator == Placement.INPROCESS:
            platform.orchestrator.start()
        if placements.webhook_dispatcher == Placement.INPROCESS:
            platform.webhook_dispatcher.start()
        if placements.scheduler == Placement.INPROCESS:
            platform.scheduler.start()
        if placements.action_engine == Placement.INPROCESS:
            platform.action_engine.start()
        try:
            yield
        finally:
            platform.action_engine.stop()
            platform.scheduler.stop()
            platform.webhook_dispatcher.stop()
            platform.orchestrator.stop()
            platform.ledger.stop()
            platform.worker.stop()
            await limits.close()

    app = Litestar(
        route_handlers=[
            TenantController,
            AccessController,
            list_platform_denials,
            SecretController,
            ContractController,
            SchemaRegistryController,
            TenantPolicyController,
            PlatformPolicyController,
            PipelineController,
            WebhookController,
            ScheduleController,
            ActionTemplateController,
            PlaybookController,
            ActionRunController,
            ProductController,
            CatalogController,
            ExportController,
            PersonalDataAccessController,
            LineageController,
            LedgerController,
            DeadLetterController,
            health,
            ready,
            metrics,
            EventCatalogueController,
            asyncapi,
            *web_routers(platform, resources),
        ],
        template_config=template_config(),
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=require_json,
        request_max_body_size=settings.limits.max_body_bytes,
        lifespan=[lifespan],
        openapi_config=openapi_config(),
        middleware=[
            metrics_middleware(platform.telemetry),
            tracing_middleware,
            *gateway_middleware(settings.limits),
            limits.by_address,  # before authentication: anonymous requests and failed authentications per address
            authentication_middleware(platform.authenticator),
            limits.by_principal,  # after authentication: it limits per principal and tenant
            fingerprint_middleware(platform.fingerprint_secret),  # before the input guard, which reads bodies via it
            input_guard_middleware,  # refused input never reaches the guards (which record denials)
            unit_of_work_middleware(platform.runner),  # innermost: the guard and the handler load each aggregate once
        ],
        before_send=[security_headers_hook],
        cors_config=cors_config(settings.http),
        guards=[authorization_guard(platform, resources)],
        dependencies=dependencies(platform, resources=provided(resources), asyncapi_spec=asyncapi_dependency(platform)),
        debug=False,
        logging_config=None,  # the process's logging is the CLI's (PLATFORM_LOG_FORMAT): Litestar's would replace it
    )
    complete_document(app)
    return app
