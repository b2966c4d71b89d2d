"""Schema Registry: subjects with numbered schema versions and a Confluent-style compatibility mode each.

A schema is a list of fields ``{"name", "type", "required", "primary_key", "unique"}``; types are ODCS
logical types (string, integer, number, boolean, date, timestamp, object, array). A primary-key field must
always have a value, as a required one must. A subject is ``<tenant_id>.<name>`` and belongs to that tenant.

Compatibility is defined by one relation, "R reads data written with W" (R the reader's schema, W the writer's).
It holds when all of these hold:
  1. every field R must have (required or primary key) is in W, and W also makes it required or a key;
  2. every field in both has the same type in both, or W's type widens losslessly to R's:
     integer -> number, date -> timestamp (midnight); nothing else converts, not even to string;
  3. if R has a primary key, W has one too and W's key fields are all among R's (data unique on W's key is
     unique on any superset of it); a key dropped by R claims nothing and is fine;
  4. every field R declares unique that W also has is unique in W, or is W's whole primary key.
Fields only in W are ignored by R; optional fields only in R read as null. Field order does not matter.

The modes compare a candidate schema N with the registered versions (oldest first):
  BACKWARD  N reads data written with the latest version (removing a field is fine, adding a required one is not);
  FORWARD   the latest version reads data written with N (adding a field is fine, removing a required one is not);
  FULL      both; the ``_TRANSITIVE`` forms check against every earlier version instead of the latest only;
  NONE      no check. BACKWARD is the default. A subject's first version is always accepted.
Registering a schema identical to a registered version (same fields in the same order) registers nothing and
answers that version.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import event

from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.values import TenantId

SCHEMAS_NAMESPACE = uuid.UUID("3d1c8e55-9f4b-4e7a-b1c2-6a0f5e2d8c47")
TYPES = ("string", "integer", "number", "boolean", "date", "timestamp", "object", "array")
WIDENINGS = frozenset({("integer", "number"), ("date", "timestamp")})
MODES = ("BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE")
DEFAULT_MODE = "BACKWARD"
MAX_FIELDS = 1000
SUBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
FIELD_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")
FLAGS = ("required", "primary_key", "unique")


class InvalidSchemaError(InvalidValueError):
    """The schema is not a well-formed field list; ``reasons`` names every problem."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class IncompatibleSchemaError(ConflictError):
    """The schema breaks the subject's compatibility mode; ``reasons`` names every incompatibility."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = False
    primary_key: bool = False
    unique: bool = False

    @property
    def must_have(self) -> bool:
        return self.required or self.primary_key


def check_subject(subject: str) -> str:
    """A subject is ``<tenant_id>.<name>``: the tenant's canonical UUID, a dot, then letters, digits, ``._-``."""
    tenant, _, name = subject.partition(".")
    try:
        canonical = str(uuid.UUID(tenant)) == tenant
    except ValueError:
        canonical = False
    if not canonical or not SUBJECT_NAME.fullmatch(name):
        msg = f"subject {subject!r} must be '<tenant_id>.<name>' (name: up to 200 letters, digits, '.', '_', '-')"
        raise InvalidValueError(msg)
    return subject


def subject_tenant(subject: str) -> TenantId:
    return TenantId(check_subject(subject).partition(".")[0])


def subject_id_for(subject: str) -> uuid.UUID:
    return uuid.uuid5(SCHEMAS_NAMESPACE, subject)


def parse_schema(raw: Mapping[str, Any]) -> tuple[Field, ...]:
    """The fields of a normalized schema; InvalidSchemaError naming every problem when it is not one."""
    fields = raw.get("fields") if isinstance(raw, Mapping) else None
    if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS or set(raw) != {"fields"}:
        raise InvalidSchemaError([f"a schema is {{'fields': [...]}} with 1-{MAX_FIELDS} fields"])
    problems = [p for i, item in enumerate(fields) for p in _field_problems(i, item)]
    names = [item["name"] for item in fields if isinstance(item, Mapping) and isinstance(item.get("name"), str)]
    problems += [f"field {name!r} appears more than once" for name in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise InvalidSchemaError(problems)
    return tuple(Field(**{"required": False, "primary_key": False, "unique": False, **item}) for item in fields)


def _field_problems(index: int, item: Any) -> list[str]:
    if not isinstance(item, Mapping):
        return [f"field {index} must be an object"]
    problems = [f"field {index} has an unknown key {key!r}" for key in item if key not in ("name", "type", *FLAGS)]
    if not isinstance(item.get("name"), str) or not FIELD_NAME.fullmatch(item["name"]):
        problems.append(f"field {index} needs a name of 1-255 printable characters")
    if item.get("type") not in TYPES:
        problems.append(f"field {index} has type {item.get('type')!r}; the types are {', '.join(TYPES)}")
    problems += [
        f"field {index}: {flag} must be true or false" for flag in FLAGS if not isinstance(item.get(flag, False), bool)
    ]
    return problems


def schema_dict(fields: Sequence[Field]) -> dict[str, Any]:
    """The canonical, JSON-native form of a schema (every flag spelled out), as events store it."""
    return {"fields": [{"name": f.name, "type": f.type, **{flag: getattr(f, flag) for flag in FLAGS}} for f in fields]}


def fingerprint(schema: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_problems(reader: Sequence[Field], writer: Sequence[Field], reader_name: str, writer_name: str) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (rules 1-4 above); empty when it can."""
    written = {f.name: f for f in writer}
    problems: list[str] = []
    for field in reader:
        old = written.get(field.name)
        if old is None:
            if field.must_have:
                problems.append(f"{reader_name} requires field '{field.name}', which {writer_name} does not have")
            continue
        if old.type != field.type and (old.type, field.type) not in WIDENINGS:
            problems.append(
                f"field '{field.name}' is {old.type} in {writer_name} but {field.type} in {reader_name}, "
                "which cannot read it (only integer->number and date->timestamp widen)"
            )
        if field.must_have and not old.must_have:
            problems.append(f"{reader_name} requires field '{field.name}', which is optional in {writer_name}")
    return problems + _key_problems(reader, written, reader_name, writer_name)


def _key_problems(
    reader: Sequence[Field], written: Mapping[str, Field], reader_name: str, writer_name: str
) -> list[str]:
    reader_key = {f.name for f in reader if f.primary_key}
    writer_key = {f.name for f in written.values() if f.primary_key}
    problems: list[str] = []
    if reader_key and not (writer_key and writer_key <= reader_key):
        problems.append(
            f"the primary key of {reader_name} ({', '.join(sorted(reader_key))}) is not guaranteed unique by "
            f"{writer_name}, keyed by ({', '.join(sorted(writer_key)) or 'nothing'})"
        )
    for field in reader:
        old = written.get(field.name)
        if field.unique and old is not None and not (old.unique or writer_key == {field.name}):
            problems.append(f"{reader_name} requires field '{field.name}' unique, which {writer_name} does not")
    return problems


def incompatibilities(mode: str, candidate: Sequence[Field], versions: Sequence[Sequence[Field]]) -> list[str]:
    """Why ``candidate`` may not follow ``versions`` (oldest first) under ``mode``; empty when it may."""
    if mode == "NONE" or not versions:
        return []
    numbered = list(enumerate(versions, start=1))
    against = numbered if mode.endswith("_TRANSITIVE") else numbered[-1:]
    direction = mode.removesuffix("_TRANSITIVE")
    return [problem for number, old in reversed(against) for problem in compare(direction, candidate, old, number)]


def compare(direction: str, candidate: Sequence[Field], old: Sequence[Field], number: int) -> list[str]:
    """BACKWARD, FORWARD or FULL compatibility of ``candidate`` with one version; each reason names the mode."""
    version, problems = f"version {number}", []
    if direction in ("BACKWARD", "FULL"):
        problems += [f"BACKWARD: {p}" for p in read_problems(candidate, old, "the new schema", version)]
    if direction in ("FORWARD", "FULL"):
        problems += [f"FORWARD: {p}" for p in read_problems(old, candidate, version, "the new schema")]
    return problems


def check_mode(mode: str) -> str:
    if mode not in MODES:
        msg = f"compatibility {mode!r} is unknown; the modes are {', '.join(MODES)}"
        raise InvalidValueError(msg)
    return mode


class Subject(Aggregate):
    """A named line of schema versions, each compatible with those before it under the subject's mode."""

    class Created(Aggregate.Created):
        subject: str
        tenant_id: TenantId

    class VersionRegistered(Aggregate.Event):
        version: int
        schema: dict[str, Any]
        fingerprint: str

    class CompatibilityChanged(Aggregate.Event):
        compatibility: str

    @staticmethod
    def create_id(subject: str, tenant_id: TenantId) -> uuid.UUID:
        return subject_id_for(subject)

    @classmethod
    def open(cls, subject: str) -> Subject:
        return cls(subject=subject, tenant_id=subject_tenant(subject))

    @event(Created)
    def __init__(self, subject: str, tenant_id: TenantId) -> None:
        self.subject = subject
        self.tenant_id = tenant_id
        self.compatibility = DEFAULT_MODE
        self.versions: list[dict[str, Any]] = []
        self.fingerprints: list[str] = []

    def register(self, schema: Mapping[str, Any]) -> int:
        """Registers the schema as the next version, or answers the version it is identical to."""
        fields = parse_schema(schema)
        canonical = schema_dict(fields)
        existing = self.version_with(fingerprint(canonical))
        if existing:
            return existing
        problems = incompatibilities(self.compatibility, fields, [parse_schema(v) for v in self.versions])
        if problems:
            raise IncompatibleSchemaError(problems)
        self._registered(len(self.versions) + 1, canonical, fingerprint(canonical))
        return len(self.versions)

    @event(VersionRegistered)
    def _registered(self, version: int, schema: dict[str, Any], fingerprint: str) -> None:
        self.versions.append(schema)
        self.fingerprints.append(fingerprint)

    def version_with(self, schema_fingerprint: str) -> int | None:
        found = [n for n, fp in enumerate(self.fingerprints, start=1) if fp == schema_fingerprint]
        return found[0] if found else None

    def schema(self, version: int) -> dict[str, Any]:
        if not 1 <= version <= len(self.versions):
            msg = f"subject {self.subject} has no version {version}"
            raise NotFoundError(msg)
        return self.versions[version - 1]

    def check(self, schema: Mapping[str, Any], version: int | None = None) -> list[str]:
        """Why the schema could not be registered now (``version`` None), or could not follow that one version."""
        fields = parse_schema(schema)
        if version is None:
            return incompatibilities(self.compatibility, fields, [parse_schema(v) for v in self.versions])
        direction = self.compatibility.removesuffix("_TRANSITIVE")
        old = parse_schema(self.schema(version))
        return [] if direction == "NONE" else compare(direction, fields, old, version)

    def set_compatibility(self, mode: str) -> None:
        if check_mode(mode) != self.compatibility:
            self._compatibility_changed(mode)

    @event(CompatibilityChanged)
    def _compatibility_changed(self, compatibility: str) -> None:
        self.compatibility = compatibility
