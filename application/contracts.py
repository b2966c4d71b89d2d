"""Data Contract Registry service: registering ODCS contracts, adding versions, and their approval lifecycle.

The documents it takes are already parsed and checked against the ODCS JSON schema (adapters/contracts); the
registry's own rules (semantic versions, KPIs, breaking changes, four eyes) are the domain's. The actor of a
command (CommandContext.actor, a principal id) is the author of the version it drafts and the approver of the
version it approves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from application.commands import CommandContext, CommandResult, CommandRunner, replay
from domain.contracts import DataContract, contract_id_for, read_contract
from domain.errors import ConflictError


class ContractExistsError(ConflictError):
    """The tenant already has a contract with this id: add a version to it instead."""


def _tenant_of(contract: DataContract) -> str:
    return contract.tenant_id


class ContractService:
    """Commands of the Data Contract Registry; each answers with the position of the event it recorded."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    def register_contract(self, context: CommandContext, tenant_id: str, document: Mapping[str, Any]) -> CommandResult:
        """Registers a tenant's contract; the document's version becomes a draft authored by the caller."""
        contract = read_contract(document)
        return self.runner.create(
            context,
            "register_contract",
            contract_id_for(tenant_id, contract.key),
            make=lambda: DataContract.draft(tenant_id, contract, context.actor),
            tenant_of=_tenant_of,
            exists=lambda: ContractExistsError(f"contract {contract.key!r} exists; add a version to it"),
        )

    def add_version(
        self, context: CommandContext, tenant_id: str, key: str, document: Mapping[str, Any]
    ) -> CommandResult:
        """Drafts a new version of a contract, checked against the active version for breaking changes."""
        contract = read_contract(document)

        def revise(aggregate: DataContract) -> None:
            aggregate.add_version(contract, context.actor)

        return self.runner.update(context, "revise_contract", contract_id_for(tenant_id, key), revise, _tenant_of)

    def propose_version(self, context: CommandContext, tenant_id: str, key: str, version: str) -> CommandResult:
        """Puts a draft version up for approval."""
        return self._update(context, "propose_contract", tenant_id, key, lambda c: c.propose(version, context.actor))

    def approve_version(self, context: CommandContext, tenant_id: str, key: str, version: str) -> CommandResult:
        """Approves a proposed version (not one's own): it becomes the active version."""
        return self._update(context, "approve_contract", tenant_id, key, lambda c: c.approve(version, context.actor))

    def reject_version(
        self, context: CommandContext, tenant_id: str, key: str, version: str, reason: str
    ) -> CommandResult:
        """Rejects a proposed version, saying why."""
        actor = context.actor
        return self._update(context, "reject_contract", tenant_id, key, lambda c: c.reject(version, actor, reason))

    def deprecate_version(
        self, context: CommandContext, tenant_id: str, key: str, version: str, reason: str = ""
    ) -> CommandResult:
        """Deprecates the active version (it stays in force until retired or superseded)."""
        actor = context.actor
        return self._update(
            context, "deprecate_contract", tenant_id, key, lambda c: c.deprecate(version, actor, reason)
        )

    def retire_version(
        self, context: CommandContext, tenant_id: str, key: str, version: str, reason: str = ""
    ) -> CommandResult:
        """Retires an approved version for good."""
        actor = context.actor
        return self._update(context, "retire_contract", tenant_id, key, lambda c: c.retire(version, actor, reason))

    def current_contract(self, tenant_id: str, key: str) -> DataContract | None:
        """The contract as its events say now (for decisions that must not wait for a read model)."""
        found: DataContract | None = replay(self.runner.store.read_stream(contract_id_for(tenant_id, key)))
        return found

    def _update(
        self, context: CommandContext, name: str, tenant_id: str, key: str, change: Callable[[DataContract], None]
    ) -> CommandResult:
        return self.runner.update(context, name, contract_id_for(tenant_id, key), change, _tenant_of)
