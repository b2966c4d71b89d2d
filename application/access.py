"""Access service: registering principals, granting roles, issuing API keys, recording denials."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from domain.access import ApiKey, Denial, Principal, api_key_id_for, denial_id_for, principal_id_for
from domain.errors import ConflictError, InvalidValueError
from domain.values import TenantId

KEY_SCHEME = "gdp"
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PLATFORM_ISSUER = "platform"
"""Service principals are issued by the platform itself."""


class PrincipalExistsError(ConflictError):
    """A principal with this issuer and subject is already registered."""


class ApiKeyExistsError(ConflictError):
    """An API key with this id already exists."""


@dataclass(frozen=True)
class IssuedKey:
    """A new API key: the secret is in ``token`` and is never stored or shown again."""

    result: CommandResult
    key_id: UUID
    token: str


def key_digest(salt: str, secret: str) -> str:
    """SHA-256 over salt and secret: API keys carry 256 random bits, so a fast salted hash is enough."""
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh API key ``gdp_<prefix>_<secret>`` (12 characters of prefix, 256 random bits of secret)."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(12))
    return f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"


def split_token(token: str) -> tuple[str, str] | None:
    """``gdp_<prefix>_<secret>`` -> (prefix, secret), or None when it is not shaped like a key."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1], parts[2]


def _principal_tenant(principal: Principal) -> str | None:
    return principal.tenant_id


def _key_tenant(key: ApiKey) -> str | None:
    return key.tenant_id


class AccessService:
    """Commands of the Access domain."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def current(self, aggregate_id: UUID) -> Principal | ApiKey | None:
        """A principal or API key as its events say now (for decisions that must not wait for a read model)."""
        found: Principal | ApiKey | None = replay(self.runner.store.read_stream(aggregate_id))
        return found

    def register_principal(
        self,
        context: CommandContext,
        kind: str,
        issuer: str,
        subject: str,
        display_name: str,
        tenant_id: TenantId | None,
    ) -> CommandResult:
        """Registers a person (by identity-provider issuer and subject) or a service as a member of a tenant."""
        principal_id = self.membership_id(issuer, subject, tenant_id)
        return self.runner.create(
            context,
            "register_principal",
            principal_id,
            make=lambda: Principal.register(kind, issuer, subject, display_name, tenant_id),
            tenant_of=_principal_tenant,
            exists=lambda: PrincipalExistsError(f"principal {principal_id} is already registered"),
        )

    def membership_id(self, issuer: str, subject: str, tenant_id: TenantId | None) -> UUID:
        """The id of this identity's principal in the tenant: a membership registered before ids were per tenant
        kept the platform-level id, so that stream is the membership when it belongs to this very tenant."""
        legacy = principal_id_for(issuer, subject, None)
        found = self.current(legacy) if tenant_id is not None else None
        if isinstance(found, Principal) and found.tenant_id == tenant_id:
            return legacy
        return principal_id_for(issuer, subject, tenant_id)

    def grant_role(self, context: CommandContext, principal_id: UUID, role: str) -> CommandResult:
        """Grants a role to a principal (within its tenant)."""
        return self.runner.update(context, "grant_role", principal_id, lambda p: p.grant(role), _principal_tenant)

    def revoke_role(self, context: CommandContext, principal_id: UUID, role: str) -> CommandResult:
        """Takes a role away from a principal."""
        return self.runner.update(context, "revoke_role", principal_id, lambda p: p.revoke(role), _principal_tenant)

    def create_api_key(
        self, context: CommandContext, principal_id: UUID, tenant_id: TenantId | None, token: str | None = None
    ) -> IssuedKey:
        """Issues an API key for a principal (a new one, or ``token`` made beforehand by the operator); the returned
        token is the only time its secret exists in clear."""
        key_id = api_key_id_for(context.command_id)
        prefix, secret = split_token(token or new_api_key()) or ("", "")
        if not secret:
            raise InvalidValueError("an API key is shaped gdp_<12-character prefix>_<secret>")
        salt = secrets.token_hex(16)
        result = self.runner.create(
            context,
            "create_api_key",
            key_id,
            make=lambda: ApiKey.issue(key_id, str(principal_id), tenant_id, prefix, salt, key_digest(salt, secret)),
            tenant_of=lambda key: key.tenant_id,
            exists=lambda: ApiKeyExistsError(f"API key {key_id} exists"),
        )
        token = f"{KEY_SCHEME}_{prefix}_{secret}" if not result.replayed else ""
        return IssuedKey(result, key_id, token)

    def rotate_api_key(
        self, context: CommandContext, key_id: UUID, principal_id: UUID, tenant_id: TenantId | None, overlap: timedelta
    ) -> IssuedKey:
        """Issues a successor key; the old one keeps working for ``overlap``, then expires."""
        issued = self.create_api_key(context, principal_id, tenant_id)
        expires_at = (self.runner.clock() + overlap).isoformat()
        follow_up = CommandContext(
            context.actor, f"{context.command_id}|expire", context.correlation_id, context.command_id
        )

        def expire(key: ApiKey) -> None:
            key.expire_at(expires_at)

        self.runner.update(follow_up, "rotate_api_key", key_id, expire, _key_tenant)
        return issued

    def revoke_api_key(self, context: CommandContext, key_id: UUID, reason: str) -> CommandResult:
        """Revokes an API key at once."""

        def revoke(key: ApiKey) -> None:
            key.revoke(reason)

        return self.runner.update(context, "revoke_api_key", key_id, revoke, _key_tenant)

    def record_denial(
        self,
        context: CommandContext,
        principal_id: str | None,
        action: str,
        resource: str,
        reasons: list[str],
        tenant_id: TenantId | None,
    ) -> CommandResult:
        """Records a refused attempt; the same request recorded twice is one denial."""
        denial_id = denial_id_for(context.command_id, action, resource)
        return self.runner.create(
            context,
            "record_denial",
            denial_id,
            make=lambda: Denial.record(denial_id, principal_id, action, resource, reasons),
            tenant_of=lambda _: tenant_id,
            exists=lambda: ConflictError("denial already recorded"),
        )


BOOTSTRAP_SUBJECT = "bootstrap-admin"


def bootstrap_admin(access: AccessService, command_id: str, token: str | None = None) -> IssuedKey | None:
    """On first start, a platform-admin principal with an API key (a new one, or ``token`` when the operator made
    it beforehand); None when the platform has one already.

    Its steps are idempotent by command id, so a crash between them is finished by the next start.
    """
    principal_id = principal_id_for(PLATFORM_ISSUER, BOOTSTRAP_SUBJECT, None)
    history = access.runner.store.read_stream(principal_id)
    if any(r.type == "PrincipalRoleGranted" for r in history):
        return None
    context = CommandContext("platform", f"{BOOTSTRAP_SUBJECT}|register", "bootstrap")
    access.register_principal(context, "person", PLATFORM_ISSUER, BOOTSTRAP_SUBJECT, "Bootstrap administrator", None)
    issued = access.create_api_key(CommandContext("platform", command_id, "bootstrap"), principal_id, None, token)
    access.grant_role(
        CommandContext("platform", f"{BOOTSTRAP_SUBJECT}|grant", "bootstrap"), principal_id, "platform-admin"
    )
    return issued
