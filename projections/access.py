"""Access read models: principals with their roles, API keys by prefix, and recorded denials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import JSON, BigInteger, Column, Engine, Select, String, Table, select

from domain.access import ApiKey, Denial, Principal
from domain.tenants import Tenant
from domain.values import ApiKeyStatus
from projections.base import (
    Change,
    EventView,
    Fingerprint,
    Projection,
    Update,
    Upsert,
    metadata,
    sealed_column,
)

principals = Table(
    "principals",
    metadata,
    Column("principal_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("issuer", String(255), nullable=False),
    sealed_column("subject", Principal.Registered, nullable=False),
    sealed_column("display_name", Principal.Registered, nullable=False),
    Column("identity", String(80), index=True),
    Column("tenant_id", String(36), index=True),
    Column("roles", JSON, nullable=False),
    Column("registered_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)
"""Subject and display name are sealed (personal data); ``identity`` is a keyed digest of (issuer, subject), by which
authentication finds every membership of a person without the subject in clear."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("prefix", String(12), nullable=False, unique=True),
    Column("principal_id", String(36), nullable=False, index=True),
    Column("tenant_id", String(36), index=True),
    Column("salt", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", String(40)),
    Column("created_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)

denials = Table(
    "denials",
    metadata,
    Column("denial_id", String(36), primary_key=True),
    Column("principal_id", String(36), index=True),
    Column("tenant_id", String(36), index=True),
    Column("action", String(100), nullable=False),
    Column("resource", String(200), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("position", BigInteger, nullable=False),
)


def evolve(recorded: EventView) -> list[Change]:
    event = recorded.event
    at, position = recorded.recorded_at.isoformat(), recorded.position
    match event:
        case Principal.Registered():
            values: dict[str, Any] = {
                "kind": event.kind,
                "issuer": event.issuer,
                "subject": event.subject,
                "display_name": event.display_name,
                "identity": identity_of(event.issuer, event.subject),
                "tenant_id": event.tenant_id,
                "roles": [],
                "registered_at": at,
                "position": position,
            }
            return [Upsert(principals, {"principal_id": str(event.originator_id)}, values)]
        case Principal.RoleGranted() | Principal.RoleRevoked():
            return [Update(principals, {"principal_id": str(event.originator_id)}, {"roles": event.roles})]
        case Tenant.Offboarded() if event.erase:
            erased = {"display_name": ERASED, "subject": ERASED, "identity": None}
            return [Update(principals, {"tenant_id": str(event.originator_id)}, erased)]
        case ApiKey.Issued():
            values = {
                "prefix": event.prefix,
                "principal_id": event.principal_id,
                "tenant_id": event.tenant_id,
                "salt": event.salt,
                "digest": event.digest,
                "status": ApiKeyStatus.ACTIVE,
                "expires_at": None,
                "created_at": at,
                "position": position,
            }
            return [Upsert(api_keys, {"key_id": str(event.originator_id)}, values)]
        case ApiKey.ExpiryBrought():
            return [Update(api_keys, {"key_id": str(event.originator_id)}, {"expires_at": event.expires_at})]
        case ApiKey.Revoked():
            return [Update(api_keys, {"key_id": str(event.originator_id)}, {"status": ApiKeyStatus.REVOKED})]
        case Denial.Recorded():
            values = {
                "principal_id": event.principal_id,
                "tenant_id": recorded.tenant_id,
                "action": event.action,
                "resource": event.resource,
                "reasons": event.reasons,
                "recorded_at": at,
                "position": position,
            }
            return [Upsert(denials, {"denial_id": str(event.originator_id)}, values)]
    return []


ERASED = "[erased]"
"""Personal data once its tenant's key is destroyed (the codec's value; projections cannot import it)."""

projection = Projection("access", (principals, api_keys, denials), evolve)


def principal_query(principal_id: str) -> Select[Any]:
    return select(principals).where(principals.c.principal_id == principal_id)


def key_query(prefix: str) -> Select[Any]:
    return select(api_keys).where(api_keys.c.prefix == prefix)


def identity_of(issuer: str, subject: str) -> Fingerprint | None:
    """What the ``identity`` column is a keyed digest of; none for an erased subject (it names nobody)."""
    return None if subject == ERASED else Fingerprint(f"{issuer}|{subject}")


def memberships_query(identity: str) -> Select[Any]:
    """Every principal of one identity (the digest the read-model store made of ``identity_of``): its membership
    of each tenant, and its platform principal if any."""
    return select(principals).where(principals.c.identity == identity)


class PrincipalView(msgspec.Struct, frozen=True):
    principal_id: str
    kind: str
    issuer: str
    subject: str
    display_name: str
    tenant_id: str | None
    roles: list[str]
    registered_at: str
    position: int


class KeyView(msgspec.Struct, frozen=True):
    key_id: str
    prefix: str
    principal_id: str
    status: str
    expires_at: str | None
    created_at: str


class DenialView(msgspec.Struct, frozen=True):
    denial_id: str
    principal_id: str | None
    action: str
    resource: str
    reasons: list[str]
    recorded_at: str
    position: int


OpenRow = Callable[[Table, Any], dict[str, Any]]
"""Opens a row's sealed columns (the read-model store's ``opened``): subjects and names are personal data."""


class AccessQueries:
    """A tenant's principals, API keys and denials as the query API answers them."""

    def __init__(self, engine: Engine, open_row: OpenRow) -> None:
        self.engine = engine
        self.open_row = open_row

    def principals(self, tenant_id: str) -> list[PrincipalView]:
        """The tenant's principals by subject; sorted once opened, since SQL cannot order sealed subjects."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(principals).where(principals.c.tenant_id == tenant_id)).all()
        opened = [self.open_row(principals, row) for row in rows]
        opened.sort(key=lambda row: (row["subject"], row["principal_id"]))
        return [msgspec.convert(row, PrincipalView) for row in opened]

    def principal(self, tenant_id: str, principal_id: str) -> PrincipalView | None:
        """The principal, only if it belongs to the tenant."""
        with self.engine.connect() as connection:
            row = connection.execute(principal_query(principal_id)).first()
        if row is None or row.tenant_id != tenant_id:
            return None
        return msgspec.convert(self.open_row(principals, row), PrincipalView)

    def keys(self, tenant_id: str) -> list[KeyView]:
        """The tenant's API keys, oldest first (prefixes and status; never secrets)."""
        query = select(api_keys).where(api_keys.c.tenant_id == tenant_id).order_by(api_keys.c.created_at)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [msgspec.convert(row, KeyView, from_attributes=True) for row in rows]

    def denials(self, tenant_id: str | None, limit: int) -> list[DenialView]:
        """Refused attempts, newest first: of the tenant's principals, or (None) in the platform's own log."""
        column = denials.c.tenant_id
        query = select(denials).where(column.is_(None) if tenant_id is None else column == tenant_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(denials.c.position.desc()).limit(limit)).all()
        return [msgspec.convert(row, DenialView, from_attributes=True) for row in rows]
