"""The Schema Registry over HTTP: Confluent's paths, nested under the tenant that owns the subjects.

A subject in a path is the full ``<tenant_id>.<name>`` or the ``<name>`` alone (the tenant in the path is
prefixed); answers always give the full subject. A version is a number, ``latest`` or ``-1``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from application.schemas import SchemaRegistryService
from domain.errors import InvalidValueError, NotFoundError
from domain.schemas import check_subject
from domain.values import TenantId
from interfaces.http.context import command_context, tenant_in_path
from interfaces.input_rules import integer_text
from projections.schemas import SchemaQueries, SchemaVersion


class Field(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    type: str
    required: bool = False
    primary_key: bool = False
    unique: bool = False


class SchemaBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fields: Annotated[list[Field], msgspec.Meta(min_length=1, max_length=1000)]


class RegisterSchema(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    schema: SchemaBody


class SetCompatibility(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    compatibility: str


class Registered(msgspec.Struct, frozen=True):
    subject: str
    version: int
    position: int


class CompatibilityAnswer(msgspec.Struct, frozen=True):
    is_compatible: bool
    messages: list[str]


class Config(msgspec.Struct, frozen=True, omit_defaults=True):
    subject: str
    compatibility: str
    position: int | None = None


def tenant_key(tenant_id: str) -> TenantId:
    """The path's tenant id in canonical form (404 when it is not a UUID)."""
    return tenant_in_path(tenant_id)


def full_subject(tenant_id: str, subject: str) -> str:
    """``<tenant_id>.<name>`` from the path's tenant and subject (the full form, or the name alone)."""
    tenant = tenant_key(tenant_id)
    return check_subject(subject if subject.startswith(f"{tenant}.") else f"{tenant}.{subject}")


def version_number(raw: str) -> int | Literal["latest"]:
    """A version from the path: a whole number of at least 1, or ``latest`` (also spelled -1)."""
    if raw in ("latest", "-1"):
        return "latest"
    number = int(raw) if integer_text(raw) is None else 0  # ASCII digits within 64 bits ("²".isdigit() is true)
    if number < 1:
        raise InvalidValueError(f"a version is a number of at least 1, 'latest' or -1, not {raw!r}")
    return number


def _check(
    schemas: SchemaRegistryService, subject: str, data: RegisterSchema, version: int | Literal["latest"] | None
) -> CompatibilityAnswer:
    answer = schemas.check_compatibility(subject, msgspec.to_builtins(data.schema), version)
    return CompatibilityAnswer(answer.is_compatible, answer.messages)


class SchemaRegistryController(Controller):
    """Subjects, their schema versions and compatibility modes, for one tenant."""

    path = "/v1/tenants/{tenant_id:str}/schemas"
    tags = ["schemas"]

    @get("/subjects", sync_to_thread=True, opt={"action": "list_schema_subjects"})
    def list_subjects(self, schema_queries: NamedDependency[SchemaQueries], tenant_id: FromPath[str]) -> list[str]:
        """The tenant's subjects that have a registered version."""
        return schema_queries.subjects(tenant_key(tenant_id))

    @get("/subjects/{subject:str}/versions", sync_to_thread=True, opt={"action": "read_schema"})
    def list_versions(
        self, schema_queries: NamedDependency[SchemaQueries], tenant_id: FromPath[str], subject: FromPath[str]
    ) -> list[int]:
        """The subject's version numbers."""
        name = full_subject(tenant_id, subject)
        found = schema_queries.versions(name)
        if not found:
            raise NotFoundError(f"no such subject: {name}")
        return found

    @get("/subjects/{subject:str}/versions/{version:str}", sync_to_thread=True, opt={"action": "read_schema"})
    def read_version(
        self,
        schema_queries: NamedDependency[SchemaQueries],
        tenant_id: FromPath[str],
        subject: FromPath[str],
        version: FromPath[str],
    ) -> SchemaVersion:
        """One version of the subject's schema (``latest`` for the newest)."""
        name = full_subject(tenant_id, subject)
        found = schema_queries.version(name, version_number(version))
        if found is None:
            raise NotFoundError(f"subject {name} has no version {version}")
        return found

    @post("/subjects/{subject:str}/versions", sync_to_thread=True, status_code=200, opt={"action": "register_schema"})
    def register(
        self,
        request: Request[Any, Any, Any],
        schemas: NamedDependency[SchemaRegistryService],
        tenant_id: FromPath[str],
        subject: FromPath[str],
        data: JSONBody[RegisterSchema],
    ) -> Registered:
        """Register a schema as the subject's next version (409 naming every incompatibility under its mode).

        A schema identical to a registered version registers nothing and answers that version.
        """
        name = full_subject(tenant_id, subject)
        result = schemas.register_schema(command_context(request), name, msgspec.to_builtins(data.schema))
        return Registered(name, result.version, result.position)

    @post(
        "/compatibility/subjects/{subject:str}/versions",
        sync_to_thread=True,
        status_code=200,
        opt={"action": "check_schema_compatibility"},
    )
    def check(
        self,
        schemas: NamedDependency[SchemaRegistryService],
        tenant_id: FromPath[str],
        subject: FromPath[str],
        data: JSONBody[RegisterSchema],
    ) -> CompatibilityAnswer:
        """Would registering the schema be accepted now (under the subject's mode, transitive forms included), and
        why not? Nothing is recorded."""
        return _check(schemas, full_subject(tenant_id, subject), data, None)

    @post(
        "/compatibility/subjects/{subject:str}/versions/{version:str}",
        sync_to_thread=True,
        status_code=200,
        opt={"action": "check_schema_compatibility"},
    )
    def check_version(
        self,
        schemas: NamedDependency[SchemaRegistryService],
        tenant_id: FromPath[str],
        subject: FromPath[str],
        version: FromPath[str],
        data: JSONBody[RegisterSchema],
    ) -> CompatibilityAnswer:
        """Is the schema compatible, under the subject's mode, with that one version (``latest`` too), and why not?
        Nothing is recorded."""
        return _check(schemas, full_subject(tenant_id, subject), data, version_number(version))

    @put("/config/{subject:str}", sync_to_thread=True, status_code=200, opt={"action": "set_schema_compatibility"})
    def set_config(
        self,
        request: Request[Any, Any, Any],
        schemas: NamedDependency[SchemaRegistryService],
        tenant_id: FromPath[str],
        subject: FromPath[str],
        data: JSONBody[SetCompatibility],
    ) -> Config:
        """Set the subject's compatibility mode (BACKWARD, FORWARD, FULL, their _TRANSITIVE forms, or NONE)."""
        name = full_subject(tenant_id, subject)
        result = schemas.set_compatibility(command_context(request), name, data.compatibility)
        return Config(name, data.compatibility, result.position)

    @get("/config/{subject:str}", sync_to_thread=True, opt={"action": "read_schema_config"})
    def read_config(
        self, schema_queries: NamedDependency[SchemaQueries], tenant_id: FromPath[str], subject: FromPath[str]
    ) -> Config:
        """The subject's compatibility mode."""
        name = full_subject(tenant_id, subject)
        compatibility = schema_queries.compatibility(name)
        if compatibility is None:
            raise NotFoundError(f"no such subject: {name}")
        return Config(name, compatibility)
