"""An AsyncAPI 3.0 document of the platform's NATS subjects: what the relay publishes, and who consumes it.

Every event type gets a channel ``<prefix>.{tenant}.<context>.<TypeName>`` with one message (a structured-mode
CloudEvent whose ``data`` follows the type's schema) and a ``send`` operation: the relay publishes each event
of the log there. The consumers come from faststream's own AsyncAPI generation for the brokers given: each of
their ``receive`` operations keeps its subscription subject, title and description, and lists as its messages
every event type whose subject the subscription matches. Keys use ``[A-Za-z0-9_-]`` only, as AsyncAPI asks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
from faststream.specification import AsyncAPI

from adapters.catalogue.events import EventType, data_schemas
from adapters.nats import cloudevents
from adapters.nats.jetstream import MSG_ID, POSITION, TRACEPARENT

ASYNCAPI_VERSION = "3.0.0"
SCHEMAS = "#/components/schemas/{name}"
TENANT_PARAMETER = {
    "description": "The tenant id made safe as a subject token, or _platform for events of no tenant",
}
HEADERS = {
    "type": "object",
    "properties": {
        MSG_ID: {"type": "string", "description": "The event id: JetStream stores a repeated publish once"},
        POSITION: {"type": "string", "pattern": "^[0-9]+$", "description": "The event's position in the log"},
        TRACEPARENT: {"type": "string", "description": "W3C trace context of the command that recorded it"},
    },
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def safe_key(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_")


def subject_matches(filter_subject: str, address: str) -> bool:
    """Whether a NATS subscription subject (``*`` one token, ``>`` the rest) takes messages of ``address``,
    whose ``{parameter}`` tokens stand for any token."""
    wanted, tokens = filter_subject.split("."), address.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens):
            return False
        if token not in ("*", tokens[index]) and not tokens[index].startswith("{"):
            return False
    return len(wanted) == len(tokens)


def server_of(nats_url: str) -> dict[str, Any]:
    """The AsyncAPI server of a NATS URL: host and port only (never the URL's credentials)."""
    first = urlsplit(nats_url.split(",", 1)[0])
    return {"host": f"{first.hostname or '127.0.0.1'}:{first.port or 4222}", "protocol": "nats"}


def _components(types: Sequence[EventType]) -> dict[str, Any]:
    data, shared = data_schemas(tuple(types), SCHEMAS)
    _refs, envelope = msgspec.json.schema_components([cloudevents.CloudEvent], ref_template=SCHEMAS)
    schemas: dict[str, Any] = {**shared, **envelope, **data}
    messages = {}
    for t in types:
        schemas[f"{t.key}_message"] = {
            "allOf": [
                {"$ref": SCHEMAS.format(name="CloudEvent")},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": t.type},
                        "source": {"const": f"/platform/{t.context}"},
                        "schemaversion": {"const": t.schema_version},
                        "data": {"$ref": SCHEMAS.format(name=t.key)},
                    },
                },
            ]
        }
        messages[t.key] = {
            "name": t.type,
            "title": t.name,
            "summary": t.description.splitlines()[0],
            "contentType": cloudevents.CONTENT_TYPE,
            "headers": HEADERS,
            "payload": {"$ref": SCHEMAS.format(name=f"{t.key}_message")},
        }
    return {"schemas": schemas, "messages": messages}


def _published(types: Sequence[EventType], prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    channels, operations = {}, {}
    for t in types:
        channels[t.key] = {
            "address": t.subject(prefix),
            "title": t.type,
            "description": t.description,
            "parameters": {"tenant": TENANT_PARAMETER},
            "messages": {t.key: {"$ref": f"#/components/messages/{t.key}"}},
        }
        operations[f"publish_{t.key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{t.key}"},
            "messages": [{"$ref": f"#/channels/{t.key}/messages/{t.key}"}],
            "summary": f"The relay publishes every {t.type} event of the log, once and in log order.",
        }
    return channels, operations


def _consumed(types: Sequence[EventType], prefix: str, brokers: Sequence[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The receive operations faststream describes for the brokers, each with the event types it takes."""
    if not brokers:
        return {}, {}
    spec = AsyncAPI(*brokers, schema_version=ASYNCAPI_VERSION).to_specification().to_jsonable()
    channels, operations = {}, {}
    for name, operation in spec.get("operations", {}).items():
        if operation.get("action") != "receive":
            continue
        source = spec["channels"][unquote(operation["channel"]["$ref"].rsplit("/", 1)[-1])]
        key = f"consume_{safe_key(name)}"
        taken = [t for t in types if subject_matches(source["address"], t.subject(prefix))]
        channels[key], operations[key] = _receive(key, source["address"], name, source.get("description", name), taken)
        operations[key] |= {"bindings": operation["bindings"]} if operation.get("bindings") else {}
    return channels, operations


def _receive(
    key: str, address: str, title: str, description: str, taken: Sequence[EventType]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A receive operation and its channel, taking these event types."""
    channel = {
        "address": address,
        "title": title,
        "description": description,
        "messages": {t.key: {"$ref": f"#/components/messages/{t.key}"} for t in taken},
    }
    operation = {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{key}"},
        "messages": [{"$ref": f"#/channels/{key}/messages/{t.key}"} for t in taken],
        "summary": description,
    }
    return channel, operation


def _fed(
    types: Sequence[EventType], prefix: str, feeds: Mapping[str, frozenset[str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A receive operation per read model fed from NATS: the whole stream, of which it decodes its contexts' types."""
    channels, operations = {}, {}
    for name, contexts in feeds.items():
        key = f"feed_{safe_key(name)}"
        taken = [t for t in types if not contexts or t.context in contexts]
        summary = f"Feeds the {name} read model, in order, in batches, while its process holds the read model's lease"
        channels[key], operations[key] = _receive(key, f"{prefix}.>", f"{name} read model", summary, taken)
    return channels, operations


def asyncapi_document(
    types: Sequence[EventType],
    *,
    prefix: str = "platform",
    nats_url: str | None = None,
    consumers: Sequence[Any] = (),
    feeds: Mapping[str, frozenset[str]] | None = None,
    title: str = "Governed data platform events",
    version: str = "0.1.0",
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document: the relay's channels for ``types``, the ``consumers`` brokers' subscriptions and
    the read models ``feeds`` from NATS (each with the contexts it reads; empty: every one)."""
    published, sends = _published(types, prefix)
    consumed, receives = _consumed(types, prefix, consumers)
    fed, feeding = _fed(types, prefix, feeds or {})
    consumed, receives = consumed | fed, receives | feeding
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": "Platform events as CloudEvents 1.0 (structured JSON) on NATS JetStream, one subject "
            f"per tenant and event type: {prefix}.<tenant>.<context>.<EventType>.",
        },
        "defaultContentType": cloudevents.CONTENT_TYPE,
        "channels": published | consumed,
        "operations": sends | receives,
        "components": _components(types),
    }
    if nats_url:
        document["servers"] = {"nats": server_of(nats_url)}
    return document
