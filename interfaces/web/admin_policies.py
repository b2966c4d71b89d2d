"""Admin App: platform policy documents listed and read, a proposal simulated (the decisions it would flip), and
the evidence ledger's latest signed checkpoint, through the API's ``PolicyQueries``, ``PolicySimulation`` and
``Ledger`` under the same Cedar actions (platform admins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from application.policy_simulation import PolicySimulation, SimulationRequest
from domain.errors import NotFoundError
from domain.values import TenantId
from interfaces.bootstrap import Ledger
from interfaces.http.ledger import checkpoint_view
from interfaces.http.policies import found_policy
from interfaces.http.schemas import tenant_key
from interfaces.web.pages import Form, page
from projections.policies import PolicyQueries


class SimulateForm(msgspec.Struct, frozen=True):
    cedar: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 30


PLATFORM = "/admin/policies"


def _tenant_base(tenant_id: str) -> str:
    return f"/admin/t/{tenant_id}/policies"


def _listed(request: Request[Any, Any, Any], queries: PolicyQueries, tenant: TenantId | None, base: str) -> Template:
    return page("policies.html", request, policies=queries.policies(tenant), base=base)


def _read(
    request: Request[Any, Any, Any], queries: PolicyQueries, tenant: TenantId | None, name: str, base: str
) -> Template:
    return page("policy.html", request, policy=found_policy(queries.policy(tenant, name), name), base=base)


def _simulated(
    request: Request[Any, Any, Any],
    simulation: PolicySimulation,
    tenant: TenantId | None,
    data: SimulateForm,
    base: str,
) -> Template:
    """Dry run of the proposal over the last ``days`` days: the decisions that would flip (422 naming Cedar's
    errors for a bad document)."""
    end = datetime.now(UTC) + timedelta(seconds=1)
    proposal = SimulationRequest(end - timedelta(days=data.days), end, text=data.cedar)
    result = simulation.simulate_policies(tenant, proposal)
    return page("simulation.html", request, simulation=result, cedar=data.cedar, days=data.days, base=base)


class AdminPolicyPagesController(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/policies", sync_to_thread=True, opt={"action": "list_platform_policies"})
    def policies(self, request: Request[Any, Any, Any], policy_queries: NamedDependency[PolicyQueries]) -> Template:
        """The platform's policies with their status, and the simulate form."""
        return _listed(request, policy_queries, None, PLATFORM)

    @get("/policies/{name:str}", sync_to_thread=True, opt={"action": "read_platform_policy"})
    def policy(
        self, request: Request[Any, Any, Any], policy_queries: NamedDependency[PolicyQueries], name: FromPath[str]
    ) -> Template:
        """One platform policy with the Cedar text of every version."""
        return _read(request, policy_queries, None, name, PLATFORM)

    @post("/policies/simulate", sync_to_thread=True, status_code=200, opt={"action": "simulate_platform_policies"})
    def simulate(
        self,
        request: Request[Any, Any, Any],
        policy_simulation: NamedDependency[PolicySimulation],
        data: Annotated[SimulateForm, Form],
    ) -> Template:
        """Every decision of the period that the proposal would flip."""
        return _simulated(request, policy_simulation, None, data, PLATFORM)

    @get("/t/{tenant_id:str}/policies", sync_to_thread=True, opt={"action": "list_tenant_policies"})
    def tenant_policies(
        self, request: Request[Any, Any, Any], policy_queries: NamedDependency[PolicyQueries], tenant_id: FromPath[str]
    ) -> Template:
        """A tenant's policies with their status, and the simulate form."""
        return _listed(request, policy_queries, tenant_key(tenant_id), _tenant_base(tenant_id))

    @get("/t/{tenant_id:str}/policies/{name:str}", sync_to_thread=True, opt={"action": "read_tenant_policy"})
    def tenant_policy(
        self,
        request: Request[Any, Any, Any],
        policy_queries: NamedDependency[PolicyQueries],
        tenant_id: FromPath[str],
        name: FromPath[str],
    ) -> Template:
        """One tenant policy with the Cedar text of every version."""
        return _read(request, policy_queries, tenant_key(tenant_id), name, _tenant_base(tenant_id))

    @post(
        "/t/{tenant_id:str}/policies/simulate",
        sync_to_thread=True,
        status_code=200,
        opt={"action": "simulate_tenant_policies"},
    )
    def simulate_tenant(
        self,
        request: Request[Any, Any, Any],
        policy_simulation: NamedDependency[PolicySimulation],
        tenant_id: FromPath[str],
        data: Annotated[SimulateForm, Form],
    ) -> Template:
        """The decisions on this tenant by its principals that the proposal would flip."""
        return _simulated(request, policy_simulation, tenant_key(tenant_id), data, _tenant_base(tenant_id))

    @get("/evidence", sync_to_thread=True, opt={"action": "read_ledger"})
    def evidence(self, request: Request[Any, Any, Any], ledger: NamedDependency[Ledger]) -> Template:
        """The evidence ledger's latest signed checkpoint, or that none is signed yet."""
        try:
            checkpoint = checkpoint_view(ledger, ledger.latest_checkpoint())
        except NotFoundError:
            checkpoint = None
        return page("evidence.html", request, checkpoint=checkpoint)
