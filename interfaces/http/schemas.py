"""The Schema Registry over HTTP: Confluent's paths, nested under the tenant that owns the subjects.

A subject in a path is the full ``<tenant_id>.<name>`` or the ``<name>`` alone (the tenant in the path is
prefixed); answers always give the full subject. A version is a number, ``latest`` or ``-1``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from application.schemas import SchemaRegistryService
from domain.errors import InvalidValueError, NotFoundError
from domain.schemas import check_subject
from domain.values import TenantId
from interfaces.http.context import command_context, tenant_in_path
from interfaces.input_rules import integer_text
from projections.schemas import subject_query, subjects_query, version_query, versions_query


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


class SchemaVersion(msgspec.Struct, frozen=True):
    subject: str
    version: int
    schema: dict[str, Any]
    fingerprint: str
    registered_at: str


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


def _registry(state: State) -> SchemaRegistryService:
    registry: SchemaRegistryService = state.platform.schemas
    return registry


def _subject_row(state: State, subject: str) -> Any:
    with state.platform.read_models.engine.connect() as connection:
        row = connection.execute(subject_query(subject)).first()
    if row is None:
        raise NotFoundError(f"no such subject: {subject}")
    return row


def _check(
    state: State, subject: str, data: RegisterSchema, version: int | Literal["latest"] | None
) -> CompatibilityAnswer:
    answer = _registry(state).check_compatibility(subject, msgspec.to_builtins(data.schema), version)
    return CompatibilityAnswer(answer.is_compatible, answer.messages)


class SchemaRegistryController(Controller):
    """Subjects, their schema versions and compatibility modes, for one tenant."""

    path = "/v1/tenants/{tenant_id:str}/schemas"
    tags = ["schemas"]

    @get("/subjects", sync_to_thread=True, opt={"action": "list_schema_subjects"})
    def list_subjects(self, state: State, tenant_id: FromPath[str]) -> list[str]:
        """The tenant's subjects that have a registered version."""
        with state.platform.read_models.engine.connect() as connection:
            return list(connection.execute(subjects_query(tenant_key(tenant_id))).scalars())

    @get("/subjects/{subject:str}/versions", sync_to_thread=True, opt={"action": "read_schema"})
    def list_versions(self, state: State, tenant_id: FromPath[str], subject: FromPath[str]) -> list[int]:
        """The subject's version numbers."""
        name = full_subject(tenant_id, subject)
        with state.platform.read_models.engine.connect() as connection:
            found = list(connection.execute(versions_query(name)).scalars())
        if not found:
            raise NotFoundError(f"no such subject: {name}")
        return found

    @get("/subjects/{subject:str}/versions/{version:str}", sync_to_thread=True, opt={"action": "read_schema"})
    def read_version(
        self, state: State, tenant_id: FromPath[str], subject: FromPath[str], version: FromPath[str]
    ) -> SchemaVersion:
        """One version of the subject's schema (``latest`` for the newest)."""
        name = full_subject(tenant_id, subject)
        number = version_number(version)
        if number == "latest":
            number = _subject_row(state, name).latest_version
        with state.platform.read_models.engine.connect() as connection:
            row = connection.execute(version_query(name, number)).first()
        if row is None:
            raise NotFoundError(f"subject {name} has no version {version}")
        return SchemaVersion(name, row.version, row.schema, row.fingerprint, row.registered_at)

    @post("/subjects/{subject:str}/versions", sync_to_thread=True, status_code=200, opt={"action": "register_schema"})
    def register(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        subject: FromPath[str],
        data: JSONBody[RegisterSchema],
    ) -> Registered:
        """Register a schema as the subject's next version (409 naming every incompatibility under its mode).

        A schema identical to a registered version registers nothing and answers that version.
        """
        name = full_subject(tenant_id, subject)
        result = _registry(state).register_schema(command_context(request), name, msgspec.to_builtins(data.schema))
        return Registered(name, result.version, result.position)

    @post(
        "/compatibility/subjects/{subject:str}/versions",
        sync_to_thread=True,
        status_code=200,
        opt={"action": "check_schema_compatibility"},
    )
    def check(
        self, state: State, tenant_id: FromPath[str], subject: FromPath[str], data: JSONBody[RegisterSchema]
    ) -> CompatibilityAnswer:
        """Would registering the schema be accepted now (under the subject's mode, transitive forms included), and
        why not? Nothing is recorded."""
        return _check(state, full_subject(tenant_id, subject), data, None)

    @post(
        "/compatibility/subjects/{subject:str}/versions/{version:str}",
        sync_to_thread=True,
        status_code=200,
        opt={"action": "check_schema_compatibility"},
    )
    def check_version(
        self,
        state: State,
        tenant_id: FromPath[str],
        subject: FromPath[str],
        version: FromPath[str],
        data: JSONBody[RegisterSchema],
    ) -> CompatibilityAnswer:
        """Is the schema compatible, under the subject's mode, with that one version (``latest`` too), and why not?
        Nothing is recorded."""
        return _check(state, full_subject(tenant_id, subject), data, version_number(version))

    @put("/config/{subject:str}", sync_to_thread=True, status_code=200, opt={"action": "set_schema_compatibility"})
    def set_config(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        subject: FromPath[str],
        data: JSONBody[SetCompatibility],
    ) -> Config:
        """Set the subject's compatibility mode (BACKWARD, FORWARD, FULL, their _TRANSITIVE forms, or NONE)."""
        name = full_subject(tenant_id, subject)
        result = _registry(state).set_compatibility(command_context(request), name, data.compatibility)
        return Config(name, data.compatibility, result.position)

    @get("/config/{subject:str}", sync_to_thread=True, opt={"action": "read_schema_config"})
    def read_config(self, state: State, tenant_id: FromPath[str], subject: FromPath[str]) -> Config:
        """The subject's compatibility mode."""
        name = full_subject(tenant_id, subject)
        return Config(name, _subject_row(state, name).compatibility)
