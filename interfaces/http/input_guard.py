"""The input guard: one middleware that refuses what no route accepts, before authorization and the handler run.

It applies interfaces/input_rules.py to the headers the platform stores (Idempotency-Key, X-Correlation-Id,
X-Request-Id, User-Agent), to every query and path parameter, and to JSON bodies and ODCS documents (JSON or YAML):
no control characters (secret values, which routes name in ``opt["opaque_fields"]`` as JSON pointers, may hold all
but NUL) and no integer beyond 64 bits in an integer parameter or a body. A body that cannot be decoded at all is a 400.
Uploaded data files (routes with ``opt["accepts_data"]``) keep their own rules: their bodies are not read here.
Refused requests answer 422 naming each place: ``#/pointer`` in the body, else ``query:``, ``path:`` or ``header:``.

It runs innermost (after authentication and rate limits), so a refused request never reaches the authorization
guard, which records denials as events: nothing it refuses writes an event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.params import ParameterKwarg
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from adapters.contracts import YAML_MEDIA_TYPES, DocumentSyntaxError, load_document
from domain.contracts.errors import ContractInvalidError
from interfaces.http.problems import InvalidInputError, MalformedBodyError
from interfaces.input_rules import Issue, NestedTooDeepError, control_character, integer_text, issues_in

STORED_HEADERS = ("idempotency-key", "x-correlation-id", "x-request-id", "user-agent")
"""Headers whose values end up in events or responses (a batch without ``?source=`` records its User-Agent)."""
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def input_guard_middleware(app: ASGIApp) -> ASGIApp:
    """Refuses a request whose headers, parameters or body break the input rules; see the module docstring."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        issues = [*header_issues(scope), *query_issues(scope), *path_issues(scope)]
        if issues:
            raise InvalidInputError(issues)
        media_type = _media_type(scope)
        if _reads_body(scope, media_type):
            body = await _read_body(receive)
            issues = body_issues(body, media_type, scope["route_handler"].opt)
            if issues:
                raise InvalidInputError(issues)
            receive = _replay(body, receive)
        await app(scope, receive, send)

    return middleware


def header_issues(scope: Scope) -> Iterator[Issue]:
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        why = control_character(value.decode("latin-1")) if key in STORED_HEADERS else None
        if why is not None:
            yield f"header:{key}", why


def query_issues(scope: Scope) -> Iterator[Issue]:
    """Control characters in any query name or value; integers that are not 64-bit in integer parameters."""
    integers = _integer_queries(scope.get("route_handler"))
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        why = control_character(name) or control_character(value)
        if why is None and name in integers and _looks_numeric(value):
            why = integer_text(value)
        if why is not None:
            yield f"query:{name}", why


def path_issues(scope: Scope) -> Iterator[Issue]:
    """Control characters in any path parameter; integer parameters in ASCII digits and within 64 bits."""
    raw = _raw_path_values(scope)
    for name, value in scope.get("path_params", {}).items():
        text = raw.get(name, str(value))
        why = control_character(text)
        if why is None and isinstance(value, int) and not isinstance(value, bool):
            why = integer_text(text)
        if why is not None:
            yield f"path:{name}", why


def body_issues(body: bytes, media_type: str, opt: dict[str, Any]) -> list[Issue]:
    """The body's refused strings and integers; MalformedBodyError when it cannot be decoded at all."""
    if opt.get("accepts_yaml"):  # an ODCS document, in YAML or JSON, read as its route reads it
        try:
            document: Any = load_document(body, media_type)
        except (DocumentSyntaxError, ContractInvalidError):
            return []  # the route answers for a document that does not parse, naming what is wrong
    else:
        document = _decode_json(body)
    try:
        return list(issues_in(document, frozenset(opt.get("opaque_fields", ()))))
    except NestedTooDeepError as error:
        raise MalformedBodyError(str(error)) from None


def _decode_json(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return msgspec.json.decode(body)
    except UnicodeDecodeError:
        raise MalformedBodyError("the request body is not valid UTF-8") from None
    except RecursionError:
        raise MalformedBodyError("the request body nests arrays or objects too deeply") from None
    except msgspec.DecodeError:
        raise MalformedBodyError("the request body is not valid JSON") from None


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _reads_body(scope: Scope, media_type: str) -> bool:
    opt = scope["route_handler"].opt
    if scope.get("method") not in BODY_METHODS or opt.get("accepts_data"):
        return False
    json = media_type == "application/json" or media_type.endswith("+json")
    return json or (media_type in YAML_MEDIA_TYPES and bool(opt.get("accepts_yaml")))


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the route the body already read, then whatever the connection says next."""
    pending = [body]

    async def replay() -> ReceiveMessage:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return replay


def _integer_queries(handler: Any) -> set[str]:
    """The query names of a route's integer parameters (``int``, ``int | None``)."""
    if not isinstance(handler, HTTPRouteHandler):
        return set()
    names = set()
    for name, field in handler.parsed_fn_signature.parameters.items():
        kinds = field.inner_types if field.is_union else (field,)
        if any(kind.annotation is int for kind in kinds):
            kwarg = field.kwarg_definition
            # the name on the wire: QueryParameter(name="from") (or the deprecated query=), else the argument's
            names.add((kwarg.query or kwarg.name or name) if isinstance(kwarg, ParameterKwarg) else name)
    return names


def _looks_numeric(value: str) -> bool:
    """Worth checking as an integer: parsing answers for anything else (``abc`` is a 400 from Litestar)."""
    return any(c.isdigit() for c in value)


def _raw_path_values(scope: Scope) -> dict[str, str]:
    """Path parameters as sent (Litestar has already turned ``{i:int}`` segments into ints, via ``int``)."""
    template = str(scope.get("path_template", "")).split("/")
    path = str(scope.get("path", "")).split("/")
    if len(template) != len(path):
        return {}
    return {part[1:-1]: value for part, value in zip(template, path, strict=True) if part.startswith("{")}
