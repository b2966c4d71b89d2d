"""The OpenAPI document tells the truth: who may call each operation, and every problem it can answer.

Litestar generates the document from the routes; ``complete_document`` then adds, for every operation, its
security requirement (bearer JWT or API key; public routes say ``opt={"public": True}`` and declare none) and its
RFC 9457 problem responses. Which statuses an operation can answer follows from what the shared machinery does to
every request (``problem_statuses``); a route adds only statuses its own handler answers, in ``opt["problems"]``.
A route that takes data files (``opt["accepts_data"]``) declares each data media type it reads as its body.
A route whose answer comes in several media types (negotiated by Accept or a parameter) names them in
``opt["media_types"]``; its success response then lists each: JSON as the route declares it (a ``ResponseSpec``
for its success status), every other type as bytes.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.routes import HTTPRoute

from adapters.datasets.formats import MEDIA_TYPES as DATA_MEDIA_TYPES
from interfaces.http.problems import PROBLEM_JSON

BEARER, API_KEY = "bearerAuth", "apiKey"
SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    BEARER: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="A JWT from the platform's own issuer or a trusted identity provider (PLATFORM_TRUSTED_ISSUERS)",
    ),
    API_KEY: SecurityScheme(
        type="apiKey",
        name="X-API-Key",
        security_scheme_in="header",
        description="An API key of a principal (POST /v1/tenants/{tenant_id}/principals/{principal_id}/api-keys)",
    ),
}
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}, {API_KEY: []}]
"""Either credential will do."""

PROBLEM = "Problem"
_TEXT = Schema(type=OpenAPIType.STRING)
PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details; `errors` lists each offending place when there are several",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING, format="uri"),  # type: ignore[arg-type]
        "title": _TEXT,
        "status": Schema(type=OpenAPIType.INTEGER, minimum=400, maximum=599),
        "detail": _TEXT,
        "instance": _TEXT,
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
    },
)
_RETRY_AFTER = {"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER), description="seconds")}

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def openapi_config() -> OpenAPIConfig:
    """The document at /schema (/schema/openapi.json), its security schemes declared."""
    return OpenAPIConfig(
        title="Governed data platform",
        version="0.1.0",
        path="/schema",
        components=Components(security_schemes=SECURITY_SCHEMES),
    )


def problem_statuses(handler: HTTPRouteHandler, method: str, operation: Operation) -> list[int]:
    """The problem statuses an operation can answer, from what happens to every request on its way to the handler.

    Every request: its headers and parameters are checked at the edge (422), its stores may be unreachable (503).
    Non-public routes: credentials (401), rate limits (429), Cedar (403), X-Consistent-Position (400) and, for a
    parameter naming something, no such thing (404). Commands: conflicts (409); bodies: unreadable (400),
    too large (413), of a media type the route does not take (415), invalid (422).
    """
    statuses = {422, *handler.opt.get("problems", ())}
    if not handler.opt.get("public"):
        statuses |= {400, 401, 403, 429, 503}
        if operation.parameters:
            statuses.add(404)
    if method in COMMAND_METHODS:
        statuses.add(409)
    if method in BODY_METHODS:
        statuses |= {400, 413, 415}
    return sorted(statuses)


def problem_response(status: int) -> OpenAPIResponse:
    headers = _RETRY_AFTER if status in (429, 503) else None
    schema = Reference(ref=f"#/components/schemas/{PROBLEM}")
    return OpenAPIResponse(
        description=HTTPStatus(status).phrase,
        content={PROBLEM_JSON: OpenAPIMediaType(schema=schema)},
        headers=headers,  # type: ignore[arg-type]
    )


def complete_document(app: Litestar) -> None:
    """Adds the Problem schema, and each operation's security and problem responses, to the app's document."""
    document = app.openapi_schema
    assert document.components is not None
    assert document.paths is not None
    document.components.schemas[PROBLEM] = PROBLEM_SCHEMA
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in document.paths:
            continue
        item = document.paths[route.path_format]
        for method, (handler, _kwargs) in route.route_handler_map.items():
            operation: Operation | None = getattr(item, str(method).lower(), None)
            if operation is not None:
                _complete_operation(operation, handler, str(method))


def _complete_operation(operation: Operation, handler: HTTPRouteHandler, method: str) -> None:
    operation.security = None if handler.opt.get("public") else list(SECURITY)
    responses: dict[str, Any] = dict(operation.responses or {})
    if handler.opt.get("accepts_data"):
        operation.request_body = data_body()
    if "media_types" in handler.opt:
        success = str(handler.status_code)
        responses[success] = negotiated_response(responses[success], handler.opt["media_types"])
    for status in problem_statuses(handler, method, operation):
        responses[str(status)] = problem_response(status)
    operation.responses = responses


def negotiated_response(declared: OpenAPIResponse, media_types: tuple[str, ...]) -> OpenAPIResponse:
    """A success answer in each of ``media_types``: JSON as ``declared`` says, every other type as bytes."""
    json = (declared.content or {}).get("application/json")
    binary = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format="binary"))  # type: ignore[arg-type]

    def content(media_type: str) -> OpenAPIMediaType:
        is_json = media_type == "application/json" or media_type.endswith("+json")
        return json if is_json and json is not None else binary

    return OpenAPIResponse(description=declared.description, content={m: content(m) for m in media_types})


def data_body() -> RequestBody:
    """A data file as the body: CSV, NDJSON, Parquet or Arrow IPC, by its Content-Type."""
    binary = Schema(type=OpenAPIType.STRING, format="binary")  # type: ignore[arg-type]
    return RequestBody(content={m: OpenAPIMediaType(schema=binary) for m in DATA_MEDIA_TYPES}, required=True)
