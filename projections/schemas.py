"""The schema registry read model: subjects with their mode and latest version, and every registered version."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from sqlalchemy import JSON, Column, Engine, Integer, Select, String, Table, select

from domain.schemas import Subject, subject_id_for
from projections.base import Change, EventView, Projection, Update, Upsert, metadata

subjects = Table(
    "schema_subjects",
    metadata,
    Column("subject_id", String(36), primary_key=True),
    Column("subject", String(240), nullable=False, unique=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("compatibility", String(24), nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", Integer, nullable=False),
)

versions = Table(
    "schema_versions",
    metadata,
    Column("subject_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("schema", JSON, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("registered_at", String(40), nullable=False),
    Column("position", Integer, nullable=False),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    key = {"subject_id": str(event.originator_id)}
    stamp = {"updated_at": recorded.recorded_at.isoformat(), "position": recorded.position}
    match event:
        case Subject.Created():
            values: dict[str, Any] = {
                "subject": event.subject,
                "tenant_id": event.tenant_id,
                "compatibility": "BACKWARD",
                "latest_version": 0,
                "created_at": recorded.recorded_at.isoformat(),
            }
            return [Upsert(subjects, key, values | stamp)]
        case Subject.VersionRegistered():
            row = {
                "tenant_id": recorded.tenant_id,
                "schema": event.schema,
                "fingerprint": event.fingerprint,
                "registered_at": recorded.recorded_at.isoformat(),
                "position": recorded.position,
            }
            return [
                Upsert(versions, key | {"version": event.version}, row),
                Update(subjects, key, {"latest_version": event.version} | stamp),
            ]
        case Subject.CompatibilityChanged():
            return [Update(subjects, key, {"compatibility": event.compatibility} | stamp)]
    return []


projection = Projection("schema_registry", (subjects, versions), evolve)


def subjects_query(tenant_id: str) -> Select[Any]:
    """The tenant's subjects that have at least one version, by name."""
    query = select(subjects.c.subject).where(subjects.c.tenant_id == tenant_id, subjects.c.latest_version > 0)
    return query.order_by(subjects.c.subject)


def subject_query(subject: str) -> Select[Any]:
    return select(subjects).where(subjects.c.subject_id == str(subject_id_for(subject)))


def versions_query(subject: str) -> Select[Any]:
    query = select(versions.c.version).where(versions.c.subject_id == str(subject_id_for(subject)))
    return query.order_by(versions.c.version)


def version_query(subject: str, version: int) -> Select[Any]:
    subject_id = str(subject_id_for(subject))
    return select(versions).where(versions.c.subject_id == subject_id, versions.c.version == version)


class SchemaVersion(msgspec.Struct, frozen=True):
    subject: str
    version: int
    schema: dict[str, Any]
    fingerprint: str
    registered_at: str


class SchemaQueries:
    """The schema registry as the query API answers it; subjects are full (``<tenant_id>.<name>``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def subjects(self, tenant_id: str) -> list[str]:
        """The tenant's subjects that have a registered version, by name."""
        with self.engine.connect() as connection:
            return list(connection.execute(subjects_query(tenant_id)).scalars())

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers (none: no such subject)."""
        with self.engine.connect() as connection:
            return list(connection.execute(versions_query(subject)).scalars())

    def compatibility(self, subject: str) -> str | None:
        """The subject's compatibility mode (None: no such subject)."""
        with self.engine.connect() as connection:
            row = connection.execute(subject_query(subject)).first()
        return None if row is None else str(row.compatibility)

    def version(self, subject: str, number: int | Literal["latest"]) -> SchemaVersion | None:
        """One version of the subject's schema, ``latest`` for the newest (None: no such subject or version)."""
        with self.engine.connect() as connection:
            if number == "latest":
                found = connection.execute(subject_query(subject)).first()
                number = found.latest_version if found is not None else 0
            row = connection.execute(version_query(subject, number)).first()
        if row is None:
            return None
        return SchemaVersion(subject, row.version, row.schema, row.fingerprint, row.registered_at)
