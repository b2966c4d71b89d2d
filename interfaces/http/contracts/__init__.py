"""Data Contract Registry over HTTP: ODCS documents in (YAML or JSON), versions, approvals, diffs and history.

Routes that take a document say ``opt["accepts_yaml"]``, so the app's body rule lets YAML through to them; their
body limit is the gateway's (interfaces/http/gateway.py, twice PLATFORM_MAX_CONTRACT_BYTES). The registry's errors
map to problems in interfaces/http/problems.py, each offending place listed under ``errors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, JSONBody, QueryParameter, RawBody

from adapters.contracts import JSON_MEDIA_TYPES, YAML_MEDIA_TYPES, read_odcs
from application.commands import CommandResult
from application.contracts import ContractService
from domain.contracts import changelog
from domain.contracts.semver import SemVer
from domain.errors import NotFoundError
from interfaces.http.context import command_context, platform_of, tenant_in_path
from interfaces.http.contracts.views import (
    Accepted,
    ContractDetail,
    ContractPage,
    ContractView,
    DiffView,
    HistoryEntry,
    RejectVersion,
    VersionCommand,
    VersionSummary,
    VersionView,
    view_of,
)
from projections.contracts import contract_query, history_query, list_query, version_query, versions_query

PATH = "/v1/tenants/{tenant_id:str}/contracts"


def contracts_of(state: State) -> ContractService:
    """The platform's contract service (``Platform.contracts``)."""
    service: ContractService = state.platform.contracts
    return service


def _accepted(result: CommandResult, contract: str, version: str, status: int, tenant_id: str) -> Response[Accepted]:
    location = f"/v1/tenants/{tenant_id}/contracts/{contract}/versions/{version}"
    headers = {"Location": location} if status == 201 else {}
    body = Accepted(str(result.aggregate_id), contract, version, result.position)
    return Response(body, status_code=status, headers=headers)


def _document(request: Request[Any, Any, Any], body: RawBody, service: ContractService) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return read_odcs(body, media_type, service.max_document_bytes)


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
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], body: RawBody
    ) -> Response[Accepted]:
        """Register a contract from an ODCS v3 document (YAML or JSON); its version becomes a draft."""
        service = contracts_of(state)
        document = _document(request, body, service)
        result = service.register_contract(command_context(request), tenant_in_path(tenant_id), document)
        return _accepted(result, str(document["id"]), str(document["version"]), 201, tenant_id)

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
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        body: RawBody,
    ) -> Response[Accepted]:
        """Draft a new version of a contract (the document's id must be the contract's)."""
        service = contracts_of(state)
        document = _document(request, body, service)
        result = service.add_version(command_context(request), tenant_in_path(tenant_id), contract, document)
        return _accepted(result, contract, str(document["version"]), 201, tenant_id)

    @post("/{contract:str}/propose", sync_to_thread=True, status_code=202, opt={"action": "propose_contract"})
    def propose(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Put a draft version up for approval."""
        service, context = contracts_of(state), command_context(request)
        result = service.propose_version(context, tenant_in_path(tenant_id), contract, data.version)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/approve", sync_to_thread=True, status_code=202, opt={"action": "approve_contract"})
    def approve(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Approve a proposed version (not one's own: 409 four-eyes); it becomes the active version."""
        service, context = contracts_of(state), command_context(request)
        result = service.approve_version(context, tenant_in_path(tenant_id), contract, data.version)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/reject", sync_to_thread=True, status_code=202, opt={"action": "reject_contract"})
    def reject(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[RejectVersion],
    ) -> Response[Accepted]:
        """Reject a proposed version, with a reason."""
        service, context = contracts_of(state), command_context(request)
        result = service.reject_version(context, tenant_in_path(tenant_id), contract, data.version, data.reason)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/deprecate", sync_to_thread=True, status_code=202, opt={"action": "deprecate_contract"})
    def deprecate(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Deprecate the active version (optional reason); it stays in force until retired or superseded."""
        service, context = contracts_of(state), command_context(request)
        result = service.deprecate_version(context, tenant_in_path(tenant_id), contract, data.version, data.reason)
        return _accepted(result, contract, data.version, 202, tenant_id)

    @post("/{contract:str}/retire", sync_to_thread=True, status_code=202, opt={"action": "retire_contract"})
    def retire(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: JSONBody[VersionCommand],
    ) -> Response[Accepted]:
        """Retire an approved version for good (optional reason)."""
        service, context = contracts_of(state), command_context(request)
        result = service.retire_version(context, tenant_in_path(tenant_id), contract, data.version, data.reason)
        return _accepted(result, contract, data.version, 202, tenant_id)

    # Queries, served from the contract read models

    @get("/", sync_to_thread=True, opt={"action": "list_contracts"})
    def list_contracts(
        self,
        state: State,
        tenant_id: FromPath[str],
        q: Annotated[str | None, QueryParameter(max_length=200)] = None,
        status: Annotated[str | None, QueryParameter(pattern="^(draft|active|deprecated|retired)$")] = None,
        after: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> ContractPage:
        """The tenant's contracts by id; ``q`` matches every word in ids, names, descriptions, tags and fields."""
        with platform_of(state).read_models.engine.connect() as connection:
            rows = connection.execute(list_query(tenant_in_path(tenant_id), q, status, after, limit)).all()
        items = [view_of(row, ContractView) for row in rows]
        return ContractPage(items=items, next_after=items[-1].contract if len(items) == limit else None)

    @get("/{contract:str}", sync_to_thread=True, opt={"action": "read_contract"})
    def read_contract(self, state: State, tenant_id: FromPath[str], contract: FromPath[str]) -> ContractDetail:
        """One contract with its versions, oldest first."""
        with platform_of(state).read_models.engine.connect() as connection:
            row = _found(connection.execute(contract_query(tenant_in_path(tenant_id), contract)).first(), contract)
            versions = connection.execute(versions_query(row.contract_id)).all()
        summaries = [view_of(v, VersionSummary) for v in versions]
        return view_of(row, ContractDetail, versions=summaries)

    @get("/{contract:str}/versions/{version:str}", sync_to_thread=True, opt={"action": "read_contract"})
    def read_version(
        self, state: State, tenant_id: FromPath[str], contract: FromPath[str], version: FromPath[str]
    ) -> VersionView:
        """One version: its status, the normalized ODCS document, its typed form, and its changes against the
        version that was active when it was drafted (``base_version``)."""
        with platform_of(state).read_models.engine.connect() as connection:
            row = _found(connection.execute(contract_query(tenant_in_path(tenant_id), contract)).first(), contract)
            found = _found(connection.execute(version_query(row.contract_id, version)).first(), contract, version)
            base = connection.execute(version_query(row.contract_id, found.base_version or "")).first()
        changes = [dict(c) for c in changelog(base.spec, found.spec)] if base else []
        return view_of(found, VersionView, contract=contract, changes=changes)

    @get("/{contract:str}/diff", sync_to_thread=True, opt={"action": "read_contract"})
    def diff(
        self,
        state: State,
        tenant_id: FromPath[str],
        contract: FromPath[str],
        from_version: Annotated[str, QueryParameter(name="from", max_length=100)],
        to_version: Annotated[str, QueryParameter(name="to", max_length=100)],
    ) -> DiffView:
        """The changelog from one version to another, each change marked breaking or not."""
        with platform_of(state).read_models.engine.connect() as connection:
            row = _found(connection.execute(contract_query(tenant_in_path(tenant_id), contract)).first(), contract)
            old = _found(
                connection.execute(version_query(row.contract_id, from_version)).first(), contract, from_version
            )
            new = _found(connection.execute(version_query(row.contract_id, to_version)).first(), contract, to_version)
        changes = changelog(old.spec, new.spec)
        bump = SemVer.parse(to_version).is_major_bump_over(SemVer.parse(from_version))
        breaking = any(c["breaking"] for c in changes)
        return DiffView(contract, from_version, to_version, breaking, bump, [dict(c) for c in changes])

    @get("/{contract:str}/history", sync_to_thread=True, opt={"action": "read_contract"})
    def history(self, state: State, tenant_id: FromPath[str], contract: FromPath[str]) -> list[HistoryEntry]:
        """Every status change of every version, in the order they happened."""
        with platform_of(state).read_models.engine.connect() as connection:
            row = _found(connection.execute(contract_query(tenant_in_path(tenant_id), contract)).first(), contract)
            rows = connection.execute(history_query(row.contract_id)).all()
        return [msgspec.convert(r, HistoryEntry, from_attributes=True) for r in rows]


def _found(row: Any, contract: str, version: str | None = None) -> Any:
    if row is None:
        what = f"version {version} of contract {contract}" if version else f"contract {contract}"
        raise NotFoundError(f"no such {what}")
    return row
