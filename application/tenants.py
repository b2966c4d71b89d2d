"""Tenant Management service: the commands that onboard and govern tenants."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from application.commands import CommandContext, CommandResult, CommandRunner
from domain.errors import ConflictError, InvalidValueError
from domain.tenants import Tenant, check_slug, tenant_id_for
from domain.values import TenantId, tenant_id_of, tenant_uuid


class SlugTakenError(ConflictError):
    """Another tenant already has this slug (slugs are never reused)."""


class DataKeyShredder(Protocol):
    """Destroys a tenant's data key for good, so its encrypted fields read as erased (idempotent)."""

    def destroy_data_key(self, tenant_id: TenantId) -> None: ...


class TenantFiles(Protocol):
    """Deletes a tenant's dataset files (and its scratch entries); how many (idempotent)."""

    def delete_tenant_files(self, tenant_id: TenantId) -> int: ...


def _tenant_of(tenant: Tenant) -> str:
    return str(tenant.id)


class TenantService:
    """Onboards tenants and changes their entitlements and lifecycle."""

    def __init__(
        self, runner: CommandRunner, keys: DataKeyShredder | None = None, files: TenantFiles | None = None
    ) -> None:
        self.runner = runner
        self.keys = keys
        self.files = files

    def onboard_tenant(self, context: CommandContext, slug: str, display_name: str, plan: str) -> CommandResult:
        """Onboards a new tenant under a slug no tenant has had before."""
        return self.runner.create(
            context,
            "onboard_tenant",
            tenant_id_for(check_slug(slug)),
            make=lambda: Tenant.onboard(slug, display_name, plan),
            tenant_of=_tenant_of,
            exists=lambda: SlugTakenError(f"slug {slug!r} is taken"),
        )

    def current_tenant(self, tenant_id: TenantId) -> Tenant | None:
        """The tenant as its events say now (for decisions that must not wait for a read model)."""
        return self.runner.get(tenant_uuid(tenant_id), Tenant)

    def change_entitlements(
        self, context: CommandContext, tenant_id: TenantId, features: list[str], quotas: dict[str, int]
    ) -> CommandResult:
        """Replaces the tenant's features and quotas."""
        return self._update(
            context, "change_entitlements", tenant_id, lambda t: t.change_entitlements(features, quotas)
        )

    def suspend_tenant(self, context: CommandContext, tenant_id: TenantId, reason: str) -> CommandResult:
        """Suspends an active tenant: its commands are refused until it is reinstated."""
        return self._update(context, "suspend_tenant", tenant_id, lambda t: t.suspend(reason))

    def reinstate_tenant(self, context: CommandContext, tenant_id: TenantId) -> CommandResult:
        """Reinstates a suspended tenant."""
        return self._update(context, "reinstate_tenant", tenant_id, lambda t: t.reinstate())

    def offboard_tenant(
        self, context: CommandContext, tenant_id: TenantId, reason: str, erase: bool = False
    ) -> CommandResult:
        """Offboards an active tenant for good; with ``erase`` its personal data and secrets become unreadable."""
        if erase and self.keys is None:
            msg = "erasure needs the key store, and this platform runs without one"
            raise InvalidValueError(msg)
        result = self._update(context, "offboard_tenant", tenant_id, lambda t: t.offboard(reason, erase))
        if erase and self.keys is not None:
            return self._erase(context, tenant_id, self.keys)
        return result

    def _erase(self, context: CommandContext, tenant_id: TenantId, keys: DataKeyShredder) -> CommandResult:
        """Destroys the data key, deletes the files, then records that it did. After the offboarding is stored, and
        again on a retried command: each step is a no-op the second time, and the record is made once."""
        keys.destroy_data_key(tenant_id_of(tenant_id))
        deleted = self.files.delete_tenant_files(tenant_id_of(tenant_id)) if self.files is not None else 0
        erased = replace(context, command_id=f"{context.command_id}/erase")
        return self._update(erased, "erase_tenant_data", tenant_id, lambda t: t.record_data_erased(deleted))

    def _update(
        self, context: CommandContext, name: str, tenant_id: TenantId, change: Callable[[Tenant], None]
    ) -> CommandResult:
        return self.runner.update(context, name, tenant_uuid(tenant_id), change, _tenant_of, aggregate=Tenant)
