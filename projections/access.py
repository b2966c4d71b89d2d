"""Access read models: principals with their roles, API keys by prefix, and recorded denials."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Select, String, Table, select

from domain.access import ApiKey, Denial, Principal
from domain.tenants import Tenant
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
                "status": "active",
                "expires_at": None,
                "created_at": at,
                "position": position,
            }
            return [Upsert(api_keys, {"key_id": str(event.originator_id)}, values)]
        case ApiKey.ExpiryBrought():
            return [Update(api_keys, {"key_id": str(event.originator_id)}, {"expires_at": event.expires_at})]
        case ApiKey.Revoked():
            return [Update(api_keys, {"key_id": str(event.originator_id)}, {"status": "revoked"})]
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
