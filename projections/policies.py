"""Policy read models: every policy with its versions, and the active set the policy engine evaluates.

``policy_set`` holds one row whose ``version`` is the position of the last activation or retirement: the
policy engine compares it with the one it compiled and reparses the active documents only when it moved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Column, Engine, Integer, Select, String, Table, Text, select

from domain.policy import Policy, check_name, policy_id_for
from domain.values import PolicyStatus, tenant_id_or_none
from projections.base import Change, EventView, Projection, Update, Upsert, metadata

policies = Table(
    "policies",
    metadata,
    Column("policy_id", String(36), primary_key=True),
    Column("tenant_id", String(36), index=True),
    Column("name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("active_version", Integer),
    Column("latest_version", Integer, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("position", Integer, nullable=False),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("policy_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("cedar", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("description", String(1000), nullable=False),
    Column("drafted_at", String(40), nullable=False),
    Column("position", Integer, nullable=False),
)

policy_set = Table(
    "policy_set",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("version", Integer, nullable=False),
)
ACTIVE = {"name": "active"}


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    at, position = recorded.recorded_at.isoformat(), recorded.position
    key: dict[str, Any] = {"policy_id": str(event.originator_id)}
    stamp: dict[str, Any] = {"updated_at": at, "position": position}
    match event:
        case Policy.Created():
            values: dict[str, Any] = {"tenant_id": event.tenant_id, "name": event.name, "status": PolicyStatus.DRAFT}
            values |= {"active_version": None, "latest_version": 0, "created_at": at}
            return [Upsert(policies, key, values | stamp)]
        case Policy.Drafted():
            row: dict[str, Any] = {"cedar": event.cedar, "sha256": event.sha256, "description": event.description}
            row |= {"drafted_at": at, "position": position}
            return [
                Upsert(policy_versions, key | {"version": event.version}, row),
                Update(policies, key, {"latest_version": event.version} | stamp),
            ]
        case Policy.Activated():
            return [
                Update(policies, key, {"status": PolicyStatus.ACTIVE, "active_version": event.version} | stamp),
                Upsert(policy_set, ACTIVE, {"version": position}),
            ]
        case Policy.Retired():
            return [
                Update(policies, key, {"status": PolicyStatus.RETIRED, "active_version": None} | stamp),
                Upsert(policy_set, ACTIVE, {"version": position}),
            ]
    return []


projection = Projection("policies", (policies, policy_versions, policy_set), evolve)


def list_query(tenant_id: str | None) -> Select[Any]:
    """The tenant's policies (None: the platform's), by name."""
    owner = policies.c.tenant_id == tenant_id if tenant_id else policies.c.tenant_id.is_(None)
    return select(policies).where(owner).order_by(policies.c.name)


def versions_query(policy_id: str) -> Select[Any]:
    query = select(policy_versions).where(policy_versions.c.policy_id == policy_id)
    return query.order_by(policy_versions.c.version)


def active_query() -> Select[Any]:
    """Every active policy with the text of its active version."""
    joined = policies.join(
        policy_versions,
        (policy_versions.c.policy_id == policies.c.policy_id)
        & (policy_versions.c.version == policies.c.active_version),
    )
    columns = (policies.c.name, policies.c.tenant_id, policy_versions.c.version, policy_versions.c.cedar)
    return (
        select(*columns)
        .select_from(joined)
        .where(policies.c.status == PolicyStatus.ACTIVE)
        .order_by(policies.c.policy_id)
    )


@dataclass(frozen=True)
class ActiveDocument:
    """An active policy version, as the policy engine reads it."""

    name: str
    version: int
    tenant_id: str | None
    text: str


class ActivePolicies:
    """The policy engine's source of active documents: this read model, in the read-model database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def version(self) -> int:
        with self.engine.connect() as connection:
            found = connection.execute(select(policy_set.c.version).where(policy_set.c.name == ACTIVE["name"])).scalar()
        return int(found or 0)

    def documents(self) -> list[ActiveDocument]:
        with self.engine.connect() as connection:
            rows = connection.execute(active_query()).all()
        return [ActiveDocument(row.name, row.version, row.tenant_id, row.cedar) for row in rows]


class PolicyVersionView(msgspec.Struct, frozen=True):
    version: int
    cedar: str
    sha256: str
    description: str
    drafted_at: str


class PolicyView(msgspec.Struct, frozen=True):
    policy_id: str
    name: str
    tenant_id: str | None
    status: str
    active_version: int | None
    latest_version: int
    created_at: str
    updated_at: str
    versions: list[PolicyVersionView] | None = None
    """Listed when one policy is read, not in a list of them."""


class PolicyQueries:
    """Policy documents as the query API answers them; ``tenant_id`` None means the platform's own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def policies(self, tenant_id: str | None) -> list[PolicyView]:
        """The tenant's policies by name, with their status."""
        with self.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_id)).all()
        return [msgspec.convert(row, PolicyView, from_attributes=True) for row in rows]

    def policy(self, tenant_id: str | None, name: str) -> PolicyView | None:
        """One policy with the Cedar text of every version."""
        policy_id = str(policy_id_for(tenant_id_or_none(tenant_id), check_name(name)))
        with self.engine.connect() as connection:
            row = connection.execute(select(policies).where(policies.c.policy_id == policy_id)).first()
            versions = connection.execute(versions_query(policy_id)).all()
        if row is None:
            return None
        view = msgspec.convert(row, PolicyView, from_attributes=True)
        drafted = [msgspec.convert(v, PolicyVersionView, from_attributes=True) for v in versions]
        return msgspec.structs.replace(view, versions=drafted)
