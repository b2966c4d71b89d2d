"""Data Contract Registry service: registering ODCS contracts, adding versions, and their approval lifecycle.

The documents it takes are already parsed and checked against the ODCS JSON schema (adapters/contracts); the
registry's own rules (semantic versions, KPIs, breaking changes, four eyes) are the domain's. The actor of a
command (CommandContext.actor, a principal id) is the author of the version it drafts and the approver of the
version it approves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from application.commands import CommandContext, CommandResult, CommandRunner
from application.schemas import SchemaRegistryService
from domain.contracts import MAX_DOCUMENT_BYTES, DataContract, contract_id_for, read_contract
from domain.contracts.model import ContractSpec
from domain.errors import ConflictError
from domain.values import TenantId


class ContractExistsError(ConflictError):
    """The tenant already has a contract with this id: add a version to it instead."""


class SchemaIncompatibleError(ConflictError):
    """A schema of the version breaks its subject's compatibility mode in the schema registry."""


REGISTRY_TYPES = {"time": "string"}
"""ODCS logical types the registry's field model names differently; absent ones are kept (none means string)."""


def registry_schemas(tenant_id: TenantId, key: str, spec: ContractSpec) -> list[tuple[str, dict[str, Any]]]:
    """Each schema object of a contract version as (subject, schema) in the schema registry's field model."""
    schemas = []
    for item in spec["objects"]:
        subject = f"{tenant_id}." + re.sub(r"[^A-Za-z0-9._-]", "-", f"{key}.{item['name']}")
        fields = [
            {
                "name": field["name"],
                "type": REGISTRY_TYPES.get(field["logical_type"] or "string", field["logical_type"] or "string"),
                "required": field["required"],
                "primary_key": field["primary_key"],
                "unique": field["unique"],
            }
            for field in item["fields"]
        ]
        schemas.append((subject, {"fields": fields}))
    return schemas


def _tenant_of(contract: DataContract) -> str:
    return contract.tenant_id


class ContractService:
    """Commands of the Data Contract Registry; each answers with the position of the event it recorded."""

    def __init__(
        self,
        runner: CommandRunner,
        schemas: SchemaRegistryService | None = None,
        max_document_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self.runner = runner
        self.schemas = schemas
        self.max_document_bytes = max_document_bytes

    def register_contract(
        self, context: CommandContext, tenant_id: TenantId, document: Mapping[str, Any]
    ) -> CommandResult:
        """Registers a tenant's contract; the document's version becomes a draft authored by the caller."""
        contract = read_contract(document, self.max_document_bytes)
        return self.runner.create(
            context,
            "register_contract",
            contract_id_for(tenant_id, contract.key),
            make=lambda: DataContract.draft(tenant_id, contract, context.actor),
            tenant_of=_tenant_of,
            exists=lambda: ContractExistsError(f"contract {contract.key!r} exists; add a version to it"),
        )

    def add_version(
        self, context: CommandContext, tenant_id: TenantId, key: str, document: Mapping[str, Any]
    ) -> CommandResult:
        """Drafts a new version of a contract, checked against the active version for breaking changes."""
        contract = read_contract(document, self.max_document_bytes)

        def revise(aggregate: DataContract) -> None:
            aggregate.add_version(contract, context.actor)

        return self.runner.update(context, "revise_contract", contract_id_for(tenant_id, key), revise, _tenant_of)

    def propose_version(self, context: CommandContext, tenant_id: TenantId, key: str, version: str) -> CommandResult:
        """Puts a draft version up for approval."""
        return self._update(context, "propose_contract", tenant_id, key, lambda c: c.propose(version, context.actor))

    def approve_version(self, context: CommandContext, tenant_id: TenantId, key: str, version: str) -> CommandResult:
        """Approves a proposed version (not one's own): it becomes the active version, and each of its schema
        objects is registered as the next version of subject ``<tenant>.<contract>.<object>``.

        The subjects' compatibility modes are checked first, so an approval the registry would refuse records
        nothing; the registrations follow the approval under command ids derived from it, so retrying the same
        approval finishes them.
        """
        subjects = self._subjects(tenant_id, key, version)
        if self.schemas is not None:
            for subject, schema in subjects:
                check = self.schemas.check_compatibility(subject, schema)
                if not check.is_compatible:
                    raise SchemaIncompatibleError(f"{subject}: " + "; ".join(check.messages))
        result = self._update(context, "approve_contract", tenant_id, key, lambda c: c.approve(version, context.actor))
        if self.schemas is not None:
            for subject, schema in subjects:
                follow_up = CommandContext(
                    context.actor, f"{context.command_id}|schema|{subject}", context.correlation_id, context.command_id
                )
                registered = self.schemas.register_schema(follow_up, subject, schema)
                # The answer's position covers the registrations too: a read at it sees the registry as approved.
                result = replace(result, position=max(result.position, registered.position))
        return result

    def _subjects(self, tenant_id: TenantId, key: str, version: str) -> list[tuple[str, dict[str, Any]]]:
        contract = self.current_contract(tenant_id, key)
        found = contract.versions.get(version) if contract is not None else None
        return registry_schemas(tenant_id, key, found.spec) if found is not None else []

    def reject_version(
        self, context: CommandContext, tenant_id: TenantId, key: str, version: str, reason: str
    ) -> CommandResult:
        """Rejects a proposed version, saying why."""
        actor = context.actor
        return self._update(context, "reject_contract", tenant_id, key, lambda c: c.reject(version, actor, reason))

    def deprecate_version(
        self, context: CommandContext, tenant_id: TenantId, key: str, version: str, reason: str = ""
    ) -> CommandResult:
        """Deprecates the active version (it stays in force until retired or superseded)."""
        actor = context.actor
        return self._update(
            context, "deprecate_contract", tenant_id, key, lambda c: c.deprecate(version, actor, reason)
        )

    def retire_version(
        self, context: CommandContext, tenant_id: TenantId, key: str, version: str, reason: str = ""
    ) -> CommandResult:
        """Retires an approved version for good."""
        actor = context.actor
        return self._update(context, "retire_contract", tenant_id, key, lambda c: c.retire(version, actor, reason))

    def current_contract(self, tenant_id: TenantId, key: str) -> DataContract | None:
        """The contract as its events say now (for decisions that must not wait for a read model)."""
        return self.runner.get(contract_id_for(tenant_id, key), DataContract)

    def _update(
        self, context: CommandContext, name: str, tenant_id: TenantId, key: str, change: Callable[[DataContract], None]
    ) -> CommandResult:
        return self.runner.update(context, name, contract_id_for(tenant_id, key), change, _tenant_of)
