"""A tenant's access as its administrators manage it: its principals, their roles and their API keys.

Every command on a principal or key first checks that it belongs to the tenant it is asked in; one that does not
is "not found", the same answer as an unknown id, so a tenant's admin learns nothing of another tenant's members.
The platform's own commands (bootstrap, the CLI) use ``AccessService`` directly.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from application.access import AccessService, IssuedKey
from application.commands import CommandContext, CommandResult
from domain.access import ApiKey, Principal
from domain.errors import NotFoundError
from domain.values import TenantId


class TenantAccess:
    """Access commands scoped to one tenant."""

    def __init__(self, access: AccessService) -> None:
        self.access = access

    def register_principal(
        self, context: CommandContext, tenant_id: TenantId, kind: str, issuer: str, subject: str, display_name: str
    ) -> CommandResult:
        """Registers a person (by issuer and subject) or a service as a member of the tenant."""
        return self.access.register_principal(context, kind, issuer, subject, display_name, tenant_id)

    def grant_role(self, context: CommandContext, tenant_id: TenantId, principal_id: UUID, role: str) -> CommandResult:
        """Grants a role to one of the tenant's principals."""
        self.principal(tenant_id, principal_id)
        return self.access.grant_role(context, principal_id, role)

    def revoke_role(self, context: CommandContext, tenant_id: TenantId, principal_id: UUID, role: str) -> CommandResult:
        """Takes a role away from one of the tenant's principals."""
        self.principal(tenant_id, principal_id)
        return self.access.revoke_role(context, principal_id, role)

    def create_api_key(self, context: CommandContext, tenant_id: TenantId, principal_id: UUID) -> IssuedKey:
        """Issues an API key to one of the tenant's principals; its secret is in the answer only."""
        self.principal(tenant_id, principal_id)
        return self.access.create_api_key(context, principal_id, tenant_id)

    def rotate_api_key(
        self, context: CommandContext, tenant_id: TenantId, key_id: UUID, overlap: timedelta
    ) -> IssuedKey:
        """Issues a successor of one of the tenant's keys; the old one keeps working for ``overlap``."""
        key = self.key(tenant_id, key_id)
        return self.access.rotate_api_key(context, key_id, UUID(key.principal_id), key.tenant_id, overlap)

    def revoke_api_key(self, context: CommandContext, tenant_id: TenantId, key_id: UUID, reason: str) -> CommandResult:
        """Revokes one of the tenant's API keys at once."""
        self.key(tenant_id, key_id)
        return self.access.revoke_api_key(context, key_id, reason)

    def principal(self, tenant_id: TenantId, principal_id: UUID) -> Principal:
        """The tenant's principal as its events say now (not found when it is another tenant's)."""
        found = self.access.current(principal_id)
        if not isinstance(found, Principal) or found.tenant_id != tenant_id:
            raise NotFoundError(f"no such principal: {principal_id}")
        return found

    def key(self, tenant_id: TenantId, key_id: UUID) -> ApiKey:
        """The tenant's API key as its events say now (not found when it is another tenant's)."""
        found = self.access.current(key_id)
        if not isinstance(found, ApiKey) or found.tenant_id != tenant_id:
            raise NotFoundError(f"no such API key: {key_id}")
        return found
