"""The event catalogue: every event type the platform emits, found in ``domain/``, with a JSON Schema of its data.

An event type is a nested event class of an aggregate in a ``domain`` module (``Tenant.Onboarded``), except the
base classes eventsourcing adds to every aggregate (``Event``, and a ``Created`` no command records because the
aggregate declares its own creation event). Its CloudEvents ``type`` is ``platform.<context>.<TypeName>`` as
the relay sends it (``adapters/nats/cloudevents.py``), and its data are the event's dataclass fields without
the envelope's (``originator_id``, ``originator_version``, ``timestamp``), as the codec stores them. So a new
event class appears in the catalogue, with its schema, as soon as it exists.

Schemas come from the fields' type hints through msgspec (TypedDicts become named, shared definitions).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import msgspec
from eventsourcing.domain import CanInitAggregate, CanMutateAggregate
from eventsourcing.utils import get_topic

import domain
from domain.aggregate import Aggregate
from eventstore import codec
from eventstore.blobs import blob_fields_of
from eventstore.cipher import encrypted_fields_of

ENVELOPE_FIELDS = frozenset({"originator_id", "originator_version", "timestamp"})
"""Dataclass fields the envelope carries (stream id, version, recorded-at), never the CloudEvent's data."""
SEALED_NOTE = "Personal or secret: a sealed string token (listed in the CloudEvent's sealedfields) on the wire"
BLOB_NOTE = "Stored apart: on the wire the SHA-256 of its canonical JSON (listed in the CloudEvent's blobfields)"
BLOB_REFERENCE = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": BLOB_NOTE}


@dataclass(frozen=True)
class EventType:
    """One event type the platform emits."""

    cls: type
    aggregate: str
    context: str
    name: str

    @property
    def type(self) -> str:
        """The CloudEvents ``type``."""
        return f"platform.{self.context}.{self.name}"

    @property
    def key(self) -> str:
        """A name safe as an AsyncAPI or JSON Schema key: ``<context>_<TypeName>``."""
        return f"{self.context}_{self.name}"

    @property
    def topic(self) -> str:
        return get_topic(self.cls)

    @property
    def schema_version(self) -> int:
        return codec.class_version(self.cls)

    @property
    def encrypted_fields(self) -> tuple[str, ...]:
        return encrypted_fields_of(self.cls)

    @property
    def blob_fields(self) -> tuple[str, ...]:
        return blob_fields_of(self.cls)

    @property
    def fields(self) -> dict[str, Any]:
        """The data fields and their types, in declaration order."""
        hints = typing.get_type_hints(self.cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(self.cls) if f.name not in ENVELOPE_FIELDS}

    @property
    def description(self) -> str:
        for klass in self.cls.__mro__:
            doc = klass.__dict__.get("__doc__")
            if klass.__module__.startswith("domain.") and doc and not doc.startswith(f"{klass.__name__}("):
                return inspect.cleandoc(doc)
        return f"{self.aggregate} {self.cls.__name__}: recorded by the {self.context} context."

    def subject(self, prefix: str = "platform") -> str:
        """The NATS subject template the relay publishes it on; ``{tenant}`` is the tenant id or ``_platform``."""
        return f"{prefix}.{{tenant}}.{self.context}.{self.name}"


def _domain_modules(package: ModuleType) -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        yield importlib.import_module(info.name)


def _aggregates(module: ModuleType) -> Iterator[type]:
    for value in vars(module).values():
        own = inspect.isclass(value) and value.__module__ == module.__name__
        if own and issubclass(value, Aggregate) and value is not Aggregate:
            yield value


def _emitted(aggregate: type) -> Iterator[type]:
    """The aggregate's own event classes, without the base ``Event`` and an unused generated ``Created``."""
    nested = {name: value for name, value in vars(aggregate).items() if inspect.isclass(value)}
    events = {name: cls for name, cls in nested.items() if issubclass(cls, CanMutateAggregate) and name != "Event"}
    creations = [name for name, cls in events.items() if issubclass(cls, CanInitAggregate)]
    for name, cls in events.items():
        if name == "Created" and len(creations) > 1:
            continue
        yield cls


@functools.cache
def event_types() -> tuple[EventType, ...]:
    """Every event type in ``domain/``, sorted by CloudEvents type."""
    found = [
        EventType(cls, aggregate.__name__, codec.context_of(cls), codec.type_name(cls))
        for module in _domain_modules(domain)
        for aggregate in _aggregates(module)
        for cls in _emitted(aggregate)
    ]
    return tuple(sorted(found, key=lambda t: t.type))


def _struct(event_type: EventType) -> type[msgspec.Struct]:
    return msgspec.defstruct(event_type.key, list(event_type.fields.items()), kw_only=True)


def data_schemas(types: tuple[EventType, ...], ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each type's data schema by its key, and the shared definitions; refs follow ``ref_template``."""
    _refs, components = msgspec.json.schema_components([_struct(t) for t in types], ref_template=ref_template)
    schemas = {}
    for event_type in types:
        schema = components.pop(event_type.key)
        schema["title"] = event_type.name
        schema["description"] = event_type.description
        properties = schema.get("properties", {})
        for name in (n for n in event_type.encrypted_fields if n in properties):
            sealed = {"type": "string", "description": SEALED_NOTE}
            properties[name] = (
                sealed if properties[name] == {"type": "string"} else {"anyOf": [properties[name], sealed]}
            )
        properties.update({name: BLOB_REFERENCE for name in event_type.blob_fields if name in properties})
        schemas[event_type.key] = schema
    return schemas, components


@functools.cache
def json_schemas() -> dict[str, dict[str, Any]]:
    """A standalone JSON Schema (2020-12) of each type's data, by CloudEvents type."""
    types = event_types()
    schemas, definitions = data_schemas(types, "#/$defs/{name}")
    documents = {}
    for event_type in types:
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schemas[event_type.key]}
        used = _referenced(schema, definitions)
        if used:
            schema["$defs"] = {name: definitions[name] for name in sorted(used)}
        documents[event_type.type] = schema
    return documents


def _referenced(schema: Any, definitions: dict[str, Any], found: set[str] | None = None) -> set[str]:
    """The names of the definitions a schema refers to, directly or through other definitions."""
    found = set() if found is None else found
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name not in found:
                found.add(name)
                _referenced(definitions[name], definitions, found)
        for value in schema.values():
            _referenced(value, definitions, found)
    elif isinstance(schema, list):
        for value in schema:
            _referenced(value, definitions, found)
    return found
