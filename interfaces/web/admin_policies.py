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
from interfaces.bootstrap import Ledger
from interfaces.http.ledger import checkpoint_view
from interfaces.http.policies import found_policy
from interfaces.web.pages import Form, page
from projections.policies import PolicyQueries


class SimulateForm(msgspec.Struct, frozen=True):
    cedar: Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 30


class AdminPolicyPagesController(Controller):
    path = "/admin"
    include_in_schema = False

    @get("/policies", sync_to_thread=True, opt={"action": "list_platform_policies"})
    def policies(self, request: Request[Any, Any, Any], policy_queries: NamedDependency[PolicyQueries]) -> Template:
        """The platform's policies with their status, and the simulate form."""
        return page("policies.html", request, policies=policy_queries.policies(None))

    @get("/policies/{name:str}", sync_to_thread=True, opt={"action": "read_platform_policy"})
    def policy(
        self, request: Request[Any, Any, Any], policy_queries: NamedDependency[PolicyQueries], name: FromPath[str]
    ) -> Template:
        """One platform policy with the Cedar text of every version."""
        return page("policy.html", request, policy=found_policy(policy_queries.policy(None, name), name))

    @post("/policies/simulate", sync_to_thread=True, status_code=200, opt={"action": "simulate_platform_policies"})
    def simulate(
        self,
        request: Request[Any, Any, Any],
        policy_simulation: NamedDependency[PolicySimulation],
        data: Annotated[SimulateForm, Form],
    ) -> Template:
        """Dry run of the proposal over the last ``days`` days: the decisions that would flip (422 naming Cedar's
        errors for a bad document)."""
        end = datetime.now(UTC) + timedelta(seconds=1)
        proposal = SimulationRequest(end - timedelta(days=data.days), end, text=data.cedar)
        result = policy_simulation.simulate_policies(None, proposal)
        return page("simulation.html", request, simulation=result, cedar=data.cedar, days=data.days)

    @get("/evidence", sync_to_thread=True, opt={"action": "read_ledger"})
    def evidence(self, request: Request[Any, Any, Any], ledger: NamedDependency[Ledger]) -> Template:
        """The evidence ledger's latest signed checkpoint, or that none is signed yet."""
        try:
            checkpoint = checkpoint_view(ledger, ledger.latest_checkpoint())
        except NotFoundError:
            checkpoint = None
        return page("evidence.html", request, checkpoint=checkpoint)
