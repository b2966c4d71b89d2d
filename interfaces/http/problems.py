"""RFC 9457 problem details: every error the API returns, mapped from its exception in one table."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import eventsourcing.persistence
import msgspec
import psycopg
import sqlalchemy.exc
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from adapters.compute.encodings import NotAcceptableError
from adapters.compute.rows import QueryError
from adapters.contracts import DocumentSyntaxError
from adapters.datasets.bounds import BoundExceededError
from adapters.datasets.formats import FormatError, UnsupportedFormatError
from adapters.datasets.store import IntegrityError, TooLargeError
from adapters.parking import NotParkedError, StillFailingError
from adapters.readmodel_health import ReadModelUnsoundError
from application.authorization import Refused, TenantHidden
from application.commands import IdempotencyKeyReusedError
from application.contracts import ContractExistsError
from application.export_links import LinkExpiredError, LinkInvalidError
from application.ingestion import LandingRefusedError
from application.pipeline import NoActiveVersionError
from domain.contracts.errors import (
    BreakingChangeError,
    ContractInvalidError,
    ContractTooLargeError,
    FourEyesError,
    LifecycleError,
    VersionExistsError,
)
from domain.errors import ConflictError, DomainError, InvalidValueError, NotFoundError
from domain.exports import ExportNotReadyError
from domain.products import VersionRetractedError
from eventstore.cipher import KeyErasedError
from eventstore.codec import EventTooLargeError
from eventstore.port import ConcurrencyError, EventStoreUnavailableError
from interfaces.http.erased import TenantErasedError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://governed-data-platform.dev/problems/"


class ReadModelBehindError(Exception):
    """The read model has not yet reached the position the caller asked to read after."""


class UnsupportedMediaTypeError(Exception):
    """The request body is not in a media type this route accepts."""


class BadRequestError(Exception):
    """The request itself is malformed (a header or parameter that cannot be understood)."""


class MalformedBodyError(Exception):
    """The request body cannot be read at all: not UTF-8, not JSON, or nested too deeply."""


class InvalidInputError(Exception):
    """Parts of the request hold what the platform never accepts; ``issues`` says where (pointer) and why."""

    def __init__(self, issues: list[tuple[str, str]]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{where} {why}" for where, why in issues))


STATUS_OF: dict[type[Exception], tuple[int, str]] = {
    BadRequestError: (400, "bad-request"),
    MalformedBodyError: (400, "malformed-body"),
    InvalidInputError: (422, "invalid-request"),
    NotFoundError: (404, "not-found"),
    Refused: (403, "forbidden"),
    TenantHidden: (404, "not-found"),
    ConflictError: (409, "conflict"),
    ConcurrencyError: (409, "concurrent-change"),
    EventTooLargeError: (413, "too-large"),
    UnsupportedMediaTypeError: (415, "unsupported-media-type"),
    InvalidValueError: (422, "invalid-value"),
    IdempotencyKeyReusedError: (422, "idempotency-key-reused"),
    DomainError: (422, "rule-violated"),
    KeyErasedError: (409, "erased"),
    DocumentSyntaxError: (400, "malformed-contract"),
    ContractInvalidError: (422, "invalid-contract"),
    BreakingChangeError: (422, "breaking-change"),
    ContractTooLargeError: (413, "contract-too-large"),
    FourEyesError: (409, "four-eyes"),
    LifecycleError: (409, "lifecycle-conflict"),
    VersionExistsError: (409, "version-exists"),
    ContractExistsError: (409, "contract-exists"),
    ReadModelBehindError: (503, "read-model-behind"),
    ReadModelUnsoundError: (503, "read-model-unsound"),
    StillFailingError: (409, "still-failing"),
    NotParkedError: (409, "not-parked"),
    UnsupportedFormatError: (415, "unsupported-media-type"),
    FormatError: (422, "unreadable-data"),
    BoundExceededError: (422, "bound-exceeded"),
    TooLargeError: (413, "too-large"),
    IntegrityError: (500, "integrity-failure"),
    QueryError: (400, "bad-query"),
    NotAcceptableError: (406, "not-acceptable"),
    NoActiveVersionError: (409, "no-active-contract-version"),
    VersionRetractedError: (410, "retracted"),
    TenantErasedError: (410, "tenant-erased"),
    ExportNotReadyError: (409, "export-not-ready"),
    LandingRefusedError: (403, "forbidden"),
    LinkInvalidError: (403, "forbidden"),
    LinkExpiredError: (410, "gone"),
}
"""Exception class -> (HTTP status, problem type slug); the most specific class listed wins."""

EVENT_STORE_DOWN = ("event-store-unavailable", "the event store cannot be reached; retry shortly")
READ_MODELS_DOWN = ("read-model-unavailable", "the read-model database cannot be reached; retry shortly")
UNAVAILABLE: dict[type[Exception], tuple[str, str]] = {
    EventStoreUnavailableError: EVENT_STORE_DOWN,
    eventsourcing.persistence.OperationalError: EVENT_STORE_DOWN,
    eventsourcing.persistence.InterfaceError: EVENT_STORE_DOWN,
    psycopg.OperationalError: EVENT_STORE_DOWN,  # the event store's own SQL; SQLAlchemy wraps the read models'
    psycopg.InterfaceError: EVENT_STORE_DOWN,
    sqlalchemy.exc.OperationalError: READ_MODELS_DOWN,
    sqlalchemy.exc.InterfaceError: READ_MODELS_DOWN,
}
"""Connection failures of the stores -> 503 with Retry-After; the driver's message (hosts, ports) stays in the log."""


def problem(
    request: Request[Any, Any, Any],
    status: int,
    slug: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    body = {
        "type": TYPE_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    headers = {**({"Retry-After": "1"} if status == 503 else {}), **(headers or {})}
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_known(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            status, slug = STATUS_OF[cls]
            errors = error_list(error)
            if errors:
                return problem(request, status, slug, str(error), errors=errors)
            return problem(request, status, slug, str(error))
    return handle_unexpected(request, error)


def error_list(error: Exception) -> list[dict[str, Any]]:
    """Each offending place an error names: JSON pointers of a document, breaking changes, or plain reasons."""
    if isinstance(error, BreakingChangeError):
        return [dict(change) for change in error.changes]
    if isinstance(error, ContractInvalidError):
        return [{"pointer": f"#{where}", "detail": what} for where, what in error.issues]
    if isinstance(error, InvalidInputError):
        return [{"detail": why, "pointer": where} for where, why in error.issues]
    if isinstance(error, QueryError):
        return [{"parameter": error.parameter, "detail": error.detail}]
    if isinstance(error, BoundExceededError):
        return [{"bound": error.bound, "value": error.value, "limit": error.limit, "detail": str(error)}]
    if isinstance(error, InvalidValueError) and getattr(error, "field", None):
        return [{"pointer": f"#{error.field}", "detail": str(error)}]
    return [{"detail": reason} for reason in getattr(error, "reasons", [])]


def handle_http(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    if isinstance(error, ValidationException):
        return _validation_problem(request, error)
    if error.status_code == 500:  # Litestar's own failures (such as ImproperlyConfigured) say too much
        return handle_unexpected(request, error)
    status = error.status_code
    slug = HTTPStatus(status).phrase.lower().replace(" ", "-")
    return problem(request, status, slug, error.detail, dict(error.headers or {}))


def _validation_problem(request: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
    """Unparseable bodies are 400; well-formed bodies with wrong fields or types are 422."""
    errors = [
        {"detail": item.get("message", ""), "pointer": _pointer(item)}
        for item in (error.extra or [])
        if isinstance(item, dict)
    ]
    malformed = isinstance(error.__cause__, msgspec.DecodeError) and not isinstance(
        error.__cause__, msgspec.ValidationError
    )
    malformed = malformed or any("malformed" in e["detail"].lower() for e in errors)
    if malformed:
        return problem(request, 400, "malformed-body", "the request body is not valid JSON")
    detail = "; ".join(e["detail"] for e in errors) or error.detail
    return problem(request, 422, "invalid-request", detail, errors=errors)


def _pointer(item: dict[str, Any]) -> str:
    key = str(item.get("key", ""))
    source = getattr(item.get("source"), "value", item.get("source"))
    return f"#/{key}" if source in (None, "body") else f"{source}:{key}"


def handle_unavailable(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    slug, detail = next(UNAVAILABLE[cls] for cls in type(error).__mro__ if cls in UNAVAILABLE)
    log.warning("%s on %s %s: %s", slug, request.method, request.url.path, error)
    return problem(request, 503, slug, detail)


def handle_unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(request, 500, "internal-error", "the platform failed to handle this request; it has been logged")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    HTTPException: handle_http,
    **dict.fromkeys(STATUS_OF, handle_known),
    **dict.fromkeys(UNAVAILABLE, handle_unavailable),
    Exception: handle_unexpected,
}
