"""Secrets service: storing, rotating and deleting a tenant's secrets, and revealing one to platform code.

Values travel only inside events, whose value field the event store seals with the tenant's data key.
No method returns or raises with a value in it except ``reveal_secret``, which is for internal callers
(webhook signing, connectors), never for an API response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.secrets import Secret, check_secret_name, check_secret_value, secret_id_for
from domain.tenants import Tenant, TenantNotActiveError
from domain.values import TenantId, TenantStatus, tenant_id_of, tenant_uuid
from eventstore.codec import ERASED


class Fingerprinter(Protocol):
    """Tells secret values apart without revealing them (a keyed hash that is not derivable into the value)."""

    def fingerprint(self, tenant_id: TenantId | None, value: str) -> str: ...


class SecretErasedError(NotFoundError):
    """The secret's value was erased with its tenant's data key and can never be read again."""


class _SecretExistsError(ConflictError):
    """The secret's stream has begun: a put becomes a new version instead."""


@dataclass(frozen=True)
class SecretWritten:
    """What a secret command did: the event position, and the secret's name and version after it."""

    result: CommandResult
    name: str
    version: int


def _tenant_of(secret: Secret) -> str:
    return secret.tenant_id


class SecretService:
    """Commands on a tenant's secrets, plus ``reveal_secret`` for the platform's own use."""

    def __init__(self, runner: CommandRunner, fingerprinter: Fingerprinter) -> None:
        self.runner = runner
        self.fingerprinter = fingerprinter

    def put_secret(self, context: CommandContext, tenant_id: TenantId, name: str, value: str) -> SecretWritten:
        """Stores a secret under a name, or gives an existing one a new value (a new version)."""
        secret_id, fingerprint = self._prepare(tenant_id, name, value)
        try:
            result = self.runner.create(
                context,
                "put_secret",
                secret_id,
                make=lambda: Secret.store(tenant_id_of(tenant_id), name, value, fingerprint),
                tenant_of=_tenant_of,
                exists=_SecretExistsError,
            )
        except _SecretExistsError:
            result = self.runner.update(
                context, "put_secret", secret_id, lambda s: s.replace(value, fingerprint), _tenant_of
            )
        return self._written(result, name)

    def rotate_secret(self, context: CommandContext, tenant_id: TenantId, name: str, value: str) -> SecretWritten:
        """Gives an existing secret a new value."""
        secret_id, fingerprint = self._prepare(tenant_id, name, value)
        result = self.runner.update(
            context, "rotate_secret", secret_id, lambda s: s.rotate(value, fingerprint), _tenant_of
        )
        return self._written(result, name)

    def delete_secret(self, context: CommandContext, tenant_id: TenantId, name: str) -> SecretWritten:
        """Deletes a secret; its past values stay sealed in the log."""
        secret_id = secret_id_for(tenant_id_of(tenant_id), check_secret_name(name))
        result = self.runner.update(context, "delete_secret", secret_id, lambda s: s.delete(), _tenant_of)
        return self._written(result, name)

    def reveal_secret(self, tenant_id: TenantId, name: str) -> str:
        """The current value, read from the event log (for platform code only: never send it in a response)."""
        secret_id = secret_id_for(tenant_id_of(tenant_id), check_secret_name(name))
        secret = replay(self.runner.store.read_stream(secret_id))
        if not isinstance(secret, Secret) or secret.deleted:
            msg = f"no such secret: {name}"
            raise NotFoundError(msg)
        if secret.value == ERASED:
            msg = f"the secret {name} was erased with its tenant's data key"
            raise SecretErasedError(msg)
        return secret.value

    def _prepare(self, tenant_id: TenantId, name: str, value: str) -> tuple[UUID, str]:
        check_secret_name(name)
        check_secret_value(value)
        if value == ERASED:
            msg = "this secret value is reserved"
            raise InvalidValueError(msg)
        self._require_active_tenant(tenant_id)
        return secret_id_for(tenant_id_of(tenant_id), name), self.fingerprinter.fingerprint(
            tenant_id_of(tenant_id), value
        )

    def _require_active_tenant(self, tenant_id: TenantId) -> None:
        tenant = replay(self.runner.store.read_stream(tenant_uuid(tenant_id)))
        if not isinstance(tenant, Tenant):
            msg = f"no such tenant: {tenant_id}"
            raise NotFoundError(msg)
        if tenant.status != TenantStatus.ACTIVE:
            msg = f"tenant {tenant.slug} is {tenant.status}; its secrets cannot change"
            raise TenantNotActiveError(msg)

    def _written(self, result: CommandResult, name: str) -> SecretWritten:
        history = self.runner.store.read_stream(result.aggregate_id)
        versions = [recorded.version for recorded in history if recorded.position <= result.position]
        return SecretWritten(result, name, versions[-1] + 1 if versions else 0)
