"""Data Contract Registry over HTTP: ODCS documents in (YAML or JSON), versions, approvals, diffs and history.

Routes that take a document say ``opt["accepts_yaml"]``, so the app's body rule lets YAML through to them; their
body limit is the gateway's (interfaces/http/gateway.py, twice PLATFORM_MAX_CONTRACT_BYTES). The registry's errors
map to problems in interfaces/http/problems.py, each offending place listed under ``errors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody, QueryParameter, RawBody

from application.commands import CommandResult
from application.contract_uploads import JSON_MEDIA_TYPES, YAML_MEDIA_TYPES, ContractUploaded, ContractUploads
from application.contracts import ContractService
from domain.values import TenantId
from interfaces.http.context import command_context, tenant_in_path
from interfaces.http.contracts.views import Accepted, RejectVersion, VersionCommand
from projections.contract_queries import (
    ContractDetail,
    ContractPage,
    ContractQueries,
    DiffView,
    HistoryEntry,
    VersionView,
)

PATH = "/v1/tenants/{tenant_id:str}/contracts"


def _accepted(result: CommandResult, contract: str, version: str, status: int, tenant_id: str) -> Response[Accepted]:
    location = f"/v1/tenants/{tenant_id}/contracts/{contract}/versions/{version}"
    headers = {"Location": location} if status == 201 else {}
    body = Accepted(str(result.aggregate_id), contract, version, result.position)
    return Response(body, status_code=status, headers=headers)


def _uploaded(uploaded: ContractUploaded, tenant_id: str) -> Response[Accepted]:
    return _accepted(uploaded.result, uploaded.contract, uploaded.version, 201, tenant_id)


def _media_type(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _tenant(tenant_id: str) -> TenantId:
    return tenant_in_path(tenant_id)


@dataclass
class OdcsBodyOperation(Operation):
    """OpenAPI for the routes that read a raw ODCS document: YAML or JSON, validated by the standard's schema."""

    def __post_init__(self) -> None:
        schema = Schema(type=OpenAPIType.OBJECT, description="An ODCS v3 data contract (kind: DataContract)")
        media_types = (*JSON_MEDIA_TYPES, *YAML_MEDIA_TYPES)
        content = {media_type: OpenAPIMediaType(schema=schema) for media_type in media_types}
        self.request_body = RequestBody(content=content, required=True)


class ContractController(Controller):
    """Commands answer with the position of their event; queries honour X-Consistent-Position."""

    path = PATH
    tags = ["contracts"]

    @post(
        "/",
        sync_to_thread=True,
        status_code=201,
        opt={"action": "register_contract", "accepts_yaml": True},
        operation_class=OdcsBodyOperation,
        request_max_body_size=None,  # the gateway's route limit: twice PLATFORM_MAX_CONTRACT_BYTES
    )
    def register(
        self,
        request: Request[Any, Any, Any],
        contract_uploads: NamedDependency[ContractUploads],
        tenant_id: FromPath[str],
        body: RawBody,
    ) -> Response[Accepted]:
        """Register a contract from an ODCS v3 document (YAML or JSON); its version becomes a draft."""
        context, tenant = command_context(request), _tenant(tenant_id)
        return _uploaded(contract_uploads.upload_contract(context, tenant, body, _media_type(request)), tenant_id)

    @post(
        "/{contract:str}/versions",
        sync_to_thread=True,
        status_code=201,
        opt={"action": "add_contract_version", "accepts_yaml": True},
        operation_class=OdcsBodyOperation,
        request_max_body_size=None,  # the gateway's route limit: twice PLATFORM_MAX_CONTRACT_BYTES
    )
    def add_version(
        self,
        request: Request[Any, Any, Any],
        contract_uploads: NamedDependency[ContractUploads],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        body: RawBody,
    ) -> Response[Accepted]:
        """Draft a new version of a contract (the document's id must be the contract's)."""
        context, tenant, media_type = command_context(request), _tenant(tenant_id), _media_type(request)
        return _uploaded(contract_uploads.upload_version(context, tenant, contract, body, media_type), tenant_id)

    @post("/{contract:str}/propose", sync_to_thread=True, status_code=202, opt={"action": "propose_contract"})
    def propose(
        self,
        request: Request[Any, Any, Any],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Put a draft version up for approval."""
        context = command_context(request)
        result = contracts.propose_version(context, _tenant(tenant_id), contract, data.version)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/approve", sync_to_thread=True, status_code=202, opt={"action": "approve_contract"})
    def approve(
        self,
        request: Request[Any, Any, Any],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Approve a proposed version (not one's own: 409 four-eyes); it becomes the active version."""
        context = command_context(request)
        result = contracts.approve_version(context, _tenant(tenant_id), contract, data.version)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/reject", sync_to_thread=True, status_code=202, opt={"action": "reject_contract"})
    def reject(
        self,
        request: Request[Any, Any, Any],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[RejectVersion],
    ) -> Response[Accepted]:
        """Reject a proposed version, with a reason."""
        context = command_context(request)
        result = contracts.reject_version(context, _tenant(tenant_id), contract, data.version, data.reason)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/deprecate", sync_to_thread=True, status_code=202, opt={"action": "deprecate_contract"})
    def deprecate(
        self,
        request: Request[Any, Any, Any],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Deprecate the active version (optional reason); it stays in force until retired or superseded."""
        context = command_context(request)
        result = contracts.deprecate_version(context, _tenant(tenant_id), contract, data.version, data.reason)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/retire", sync_to_thread=True, status_code=202, opt={"action": "retire_contract"})
    def retire(
        self,
        request: Request[Any, Any, Any],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Retire an approved version for good (optional reason)."""
        context = command_context(request)
        result = contracts.retire_version(context, _tenant(tenant_id), contract, data.version, data.reason)
        return _accepted(result, contract, data.version, 202, tenant_id)

    # Queries, served from the contract read models

    @get("/", sync_to_thread=True, opt={"action": "list_contracts"})
    def list_contracts(
        self,
        contract_queries: NamedDependency[ContractQueries],
        tenant_id: FromPath[str],
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        status: Annotated[str | None, QueryParameter(pattern="^(draft|active|deprecated|retired)$")] = None,
        after: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> ContractPage:
        """The tenant's contracts by id; ``q`` matches every word in ids, names, descriptions, tags and fields."""
        return contract_queries.page(_tenant(tenant_id), q, status, after, limit)

    @get("/{contract:str}", sync_to_thread=True, opt={"action": "read_contract"})
    def read_contract(
        self, contract_queries: NamedDependency[ContractQueries], tenant_id: FromPath[str], contract: FromPath[str]
    ) -> ContractDetail:
        """One contract with its versions, oldest first."""
        return contract_queries.contract(_tenant(tenant_id), contract)

    @get("/{contract:str}/versions/{version:str}", sync_to_thread=True, opt={"action": "read_contract"})
    def read_version(
        self,
        contract_queries: NamedDependency[ContractQueries],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        version: FromPath[str],
    ) -> VersionView:
        """One version: its status, the normalized ODCS document, its typed form, and its changes against the
        version that was active when it was drafted (``base_version``)."""
        return contract_queries.version(_tenant(tenant_id), contract, version)

    @get("/{contract:str}/diff", sync_to_thread=True, opt={"action": "read_contract"})
    def diff(
        self,
        contract_queries: NamedDependency[ContractQueries],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        from_version: Annotated[str, QueryParameter(name="from", max_length=100)],
        to_version: Annotated[str, QueryParameter(name="to", max_length=100)],
    ) -> DiffView:
        """The changelog from one version to another, each change marked breaking or not."""
        return contract_queries.diff(_tenant(tenant_id), contract, from_version, to_version)

    @get("/{contract:str}/history", sync_to_thread=True, opt={"action": "read_contract"})
    def history(
        self, contract_queries: NamedDependency[ContractQueries], tenant_id: FromPath[str], contract: FromPath[str]
    ) -> list[HistoryEntry]:
        """Every status change of every version, in the order they happened."""
        return contract_queries.history(_tenant(tenant_id), contract)
