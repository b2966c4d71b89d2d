"""Contract uploads: an ODCS document arrives as bytes of a media type (YAML or JSON), from HTTP, the CLI or a web
app; it is read and checked against the standard's schema (the ``DocumentReader`` port), then registered as a new
contract or drafted as a contract's next version by the registry (``ContractService``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from application.commands import CommandContext, CommandResult
from application.contracts import ContractService
from domain.values import TenantId

YAML_MEDIA_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
JSON_MEDIA_TYPES = ("application/json",)
"""The media types a contract document may be sent as."""


class DocumentReader(Protocol):
    def __call__(self, body: bytes, media_type: str, max_bytes: int | None = None) -> Mapping[str, Any]:
        """The document, parsed and valid under the ODCS schema (refused when larger than ``max_bytes``)."""
        ...


@dataclass(frozen=True)
class ContractUploaded:
    """What an upload recorded: the event's result, and the contract and version the document names."""

    result: CommandResult
    contract: str
    version: str


class ContractUploads:
    """Registers contracts and drafts versions from uploaded documents."""

    def __init__(self, contracts: ContractService, read: DocumentReader) -> None:
        self.contracts = contracts
        self.read = read

    def upload_contract(
        self, context: CommandContext, tenant_id: TenantId, body: bytes, media_type: str
    ) -> ContractUploaded:
        """Registers a new contract of the tenant from the document; its version becomes a draft."""
        document = self._document(body, media_type)
        result = self.contracts.register_contract(context, tenant_id, document)
        return ContractUploaded(result, str(document["id"]), str(document["version"]))

    def upload_version(
        self, context: CommandContext, tenant_id: TenantId, key: str, body: bytes, media_type: str
    ) -> ContractUploaded:
        """Drafts the document as the next version of the tenant's contract ``key`` (the document's id must be it)."""
        document = self._document(body, media_type)
        result = self.contracts.add_version(context, tenant_id, key, document)
        return ContractUploaded(result, key, str(document["version"]))

    def _document(self, body: bytes, media_type: str) -> Mapping[str, Any]:
        return self.read(body, media_type, self.contracts.max_document_bytes)
