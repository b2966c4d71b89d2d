"""Customer App: contracts, a contract's versions, and approve or reject with four eyes shown: the page says why
the signed-in person cannot approve (their own draft, or a role that does not approve). The commands are the
API's (``ContractService``), so the registry's own four-eyes rule and Cedar decide exactly as they do there."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from application.authorization import Identity
from application.contract_uploads import YAML_MEDIA_TYPES, ContractUploads
from application.contracts import ContractService
from interfaces.http.context import command_context, tenant_in_path
from interfaces.web.pages import Form, Pages, page
from projections.contract_queries import ContractQueries, VersionSummary

OWN_DRAFT = "You drafted this version: four eyes means someone else, a data steward, must approve or reject it."
NO_ROLE = "Your role cannot approve or reject contracts: a data steward of this tenant does."
Version = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class VersionForm(msgspec.Struct, frozen=True):
    version: Version


class DraftForm(msgspec.Struct, frozen=True):
    document: Annotated[str, msgspec.Meta(min_length=1)]


class RejectForm(msgspec.Struct, frozen=True):
    version: Version
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


def why_not_approve(pages: Pages, identity: Identity, tenant_id: str, version: VersionSummary) -> str | None:
    """Why this person cannot approve this proposed version (None: they may), asked as the approve route asks."""
    if version.author == identity.principal_id:
        return OWN_DRAFT
    return None if pages.may(identity, "approve_contract", tenant_id) else NO_ROLE


class ContractPagesController(Controller):
    path = "/app/t/{tenant_id:str}/contracts"
    include_in_schema = False

    @get("/", sync_to_thread=True, opt={"action": "list_contracts"})
    def contracts(
        self,
        request: Request[Any, Any, Any],
        contract_queries: NamedDependency[ContractQueries],
        tenant_id: FromPath[str],
        q: Annotated[str, QueryParameter(max_length=200)] = "",
    ) -> Template:
        """The tenant's contracts, searchable."""
        found = contract_queries.page(tenant_in_path(tenant_id), q or None, None, None, 500)
        return page("contracts.html", request, contracts=found.items, q=q)

    @get("/{contract:str}", sync_to_thread=True, opt={"action": "read_contract"})
    def contract(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        contract_queries: NamedDependency[ContractQueries],
        tenant_id: FromPath[str],
        contract: FromPath[str],
    ) -> Template:
        """A contract's versions; a proposed one offers approve and reject, or says why this person cannot."""
        tenant = tenant_in_path(tenant_id)
        found = contract_queries.contract(tenant, contract)
        proposed = [v for v in found.versions if v.status == "proposed"]
        refusals = {v.version: why_not_approve(pages, request.auth, tenant, v) for v in proposed}
        history = contract_queries.history(tenant, contract)
        return page("contract.html", request, contract=found, refusals=refusals, history=history)

    @post("/", sync_to_thread=True, opt={"action": "register_contract"})
    def draft(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        contract_uploads: NamedDependency[ContractUploads],
        tenant_id: FromPath[str],
        data: Annotated[DraftForm, Form],
    ) -> Redirect:
        """Register a contract from an ODCS document pasted as YAML (or JSON); errors name their JSON pointers."""
        context, tenant = command_context(request), tenant_in_path(tenant_id)
        uploaded = contract_uploads.upload_contract(context, tenant, data.document.encode(), YAML_MEDIA_TYPES[0])
        return pages.after_command(uploaded.result, f"{request.url.path.rstrip('/')}/{uploaded.contract}")

    @post("/{contract:str}/propose", sync_to_thread=True, opt={"action": "propose_contract"})
    def propose(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: Annotated[VersionForm, Form],
    ) -> Redirect:
        """Put a draft version up for approval (the API's propose_version)."""
        result = contracts.propose_version(command_context(request), tenant_in_path(tenant_id), contract, data.version)
        return pages.after_command(result, request.url.path.rsplit("/", 1)[0])

    @post("/{contract:str}/approve", sync_to_thread=True, opt={"action": "approve_contract"})
    def approve(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: Annotated[VersionForm, Form],
    ) -> Redirect:
        """Approve a proposed version (the API's approve_version)."""
        result = contracts.approve_version(command_context(request), tenant_in_path(tenant_id), contract, data.version)
        return pages.after_command(result, request.url.path.rsplit("/", 1)[0])

    @post("/{contract:str}/reject", sync_to_thread=True, opt={"action": "reject_contract"})
    def reject(
        self,
        request: Request[Any, Any, Any],
        pages: NamedDependency[Pages],
        contracts: NamedDependency[ContractService],
        tenant_id: FromPath[str],
        contract: FromPath[str],
        data: Annotated[RejectForm, Form],
    ) -> Redirect:
        """Reject a proposed version with a reason (the API's reject_version)."""
        tenant, context = tenant_in_path(tenant_id), command_context(request)
        result = contracts.reject_version(context, tenant, contract, data.version, data.reason)
        return pages.after_command(result, request.url.path.rsplit("/", 1)[0])
