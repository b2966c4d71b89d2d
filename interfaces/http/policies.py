"""Policy documents over HTTP: a tenant's (``/v1/tenants/{id}/policies``) and the platform's (``/v1/policies``).

Both draft, list, read, activate, retire and simulate. A simulation replays the recorded decisions of a period
through the active policies plus a proposal (Cedar text, or a drafted version) and lists those that would flip
(``application/policy_simulation.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from application.policies import PolicyService, PolicyWritten
from application.policy_simulation import PolicySimulation, Simulation, SimulationRequest
from domain.errors import NotFoundError
from domain.policy import MAX_DESCRIPTION
from interfaces.http.context import command_context
from interfaces.http.schemas import tenant_key
from projections.policies import PolicyQueries, PolicyView


class DraftPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    cedar: str
    description: Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION)] = ""


class ActivatePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None


class RetirePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class Simulate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    start: Annotated[datetime, msgspec.Meta(tz=True)] = msgspec.field(name="from")
    end: Annotated[datetime, msgspec.Meta(tz=True)] = msgspec.field(name="to")
    policies: str | None = None
    policy: str | None = None
    """A drafted policy's name or id."""
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000


class Written(msgspec.Struct, frozen=True):
    policy_id: str
    name: str
    version: int
    position: int


def _written(result: PolicyWritten) -> Written:
    return Written(str(result.aggregate_id), result.name, result.version, result.position)


def found_policy(view: PolicyView | None, name: str) -> PolicyView:
    if view is None:
        raise NotFoundError(f"no such policy: {name}")
    return view


def _simulation(data: Simulate) -> SimulationRequest:
    return SimulationRequest(data.start, data.end, data.policies, data.policy, data.version, data.limit)


class TenantPolicyController(Controller):
    """A tenant's own policies: forbids on its own tenant, binding its own principals."""

    path = "/v1/tenants/{tenant_id:str}/policies"
    tags = ["policies"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "draft_tenant_policy"})
    def draft(
        self,
        request: Request[Any, Any, Any],
        policy_documents: NamedDependency[PolicyService],
        tenant_id: FromPath[str],
        data: JSONBody[DraftPolicy],
    ) -> Written:
        """Draft a policy's next version (422 naming Cedar's errors, or any statement that is not a forbid on this
        tenant). Text identical to a drafted version drafts nothing and answers that version."""
        context, tenant = command_context(request), tenant_key(tenant_id)
        return _written(policy_documents.draft_policy(context, tenant, data.name, data.cedar, data.description))

    @get("/", sync_to_thread=True, opt={"action": "list_tenant_policies"})
    def list_policies(
        self, policy_queries: NamedDependency[PolicyQueries], tenant_id: FromPath[str]
    ) -> list[PolicyView]:
        """The tenant's policies with their status and versions."""
        return policy_queries.policies(tenant_key(tenant_id))

    @get("/{name:str}", sync_to_thread=True, opt={"action": "read_tenant_policy"})
    def read(
        self, policy_queries: NamedDependency[PolicyQueries], tenant_id: FromPath[str], name: FromPath[str]
    ) -> PolicyView:
        """One policy with the Cedar text of every version."""
        return found_policy(policy_queries.policy(tenant_key(tenant_id), name), name)

    @post("/{name:str}/activate", sync_to_thread=True, status_code=202, opt={"action": "activate_tenant_policy"})
    def activate(
        self,
        request: Request[Any, Any, Any],
        policy_documents: NamedDependency[PolicyService],
        tenant_id: FromPath[str],
        name: FromPath[str],
        data: JSONBody[ActivatePolicy | None] = None,
    ) -> Written:
        """Make a drafted version (``version``, else the latest) the active one."""
        version = data.version if data else None
        return _written(
            policy_documents.activate_policy(command_context(request), tenant_key(tenant_id), name, version)
        )

    @post("/{name:str}/retire", sync_to_thread=True, status_code=202, opt={"action": "retire_tenant_policy"})
    def retire(
        self,
        request: Request[Any, Any, Any],
        policy_documents: NamedDependency[PolicyService],
        tenant_id: FromPath[str],
        name: FromPath[str],
        data: JSONBody[RetirePolicy | None] = None,
    ) -> Written:
        """Switch an active policy off."""
        reason = data.reason if data else ""
        return _written(policy_documents.retire_policy(command_context(request), tenant_key(tenant_id), name, reason))

    @post("/simulate", sync_to_thread=True, status_code=200, opt={"action": "simulate_tenant_policies"})
    def simulate(
        self, policy_simulation: NamedDependency[PolicySimulation], tenant_id: FromPath[str], data: JSONBody[Simulate]
    ) -> Simulation:
        """Dry run: the decisions on this tenant by its principals in [from, to) that the proposal would flip."""
        return policy_simulation.simulate_policies(tenant_key(tenant_id), _simulation(data))


class PlatformPolicyController(Controller):
    """The platform's own policies (platform admins only): they may permit or forbid anything."""

    path = "/v1/policies"
    tags = ["policies"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "draft_platform_policy"})
    def draft(
        self,
        request: Request[Any, Any, Any],
        policy_documents: NamedDependency[PolicyService],
        data: JSONBody[DraftPolicy],
    ) -> Written:
        """Draft a platform policy's next version (422 naming Cedar's errors)."""
        context = command_context(request)
        return _written(policy_documents.draft_policy(context, None, data.name, data.cedar, data.description))

    @get("/", sync_to_thread=True, opt={"action": "list_platform_policies"})
    def list_policies(self, policy_queries: NamedDependency[PolicyQueries]) -> list[PolicyView]:
        """The platform's policies with their status and versions."""
        return policy_queries.policies(None)

    @get("/{name:str}", sync_to_thread=True, opt={"action": "read_platform_policy"})
    def read(self, policy_queries: NamedDependency[PolicyQueries], name: FromPath[str]) -> PolicyView:
        """One platform policy with the Cedar text of every version."""
        return found_policy(policy_queries.policy(None, name), name)

    @post("/{name:str}/activate", sync_to_thread=True, status_code=202, opt={"action": "activate_platform_policy"})
    def activate(
        self,
        request: Request[Any, Any, Any],
        policy_documents: NamedDependency[PolicyService],
        name: FromPath[str],
        data: JSONBody[ActivatePolicy | None] = None,
    ) -> Written:
        """Make a drafted version (``version``, else the latest) the active one."""
        version = data.version if data else None
        return _written(policy_documents.activate_policy(command_context(request), None, name, version))

    @post("/{name:str}/retire", sync_to_thread=True, status_code=202, opt={"action": "retire_platform_policy"})
    def retire(
        self,
        request: Request[Any, Any, Any],
        policy_documents: NamedDependency[PolicyService],
        name: FromPath[str],
        data: JSONBody[RetirePolicy | None] = None,
    ) -> Written:
        """Switch an active platform policy off."""
        reason = data.reason if data else ""
        return _written(policy_documents.retire_policy(command_context(request), None, name, reason))

    @post("/simulate", sync_to_thread=True, status_code=200, opt={"action": "simulate_platform_policies"})
    def simulate(self, policy_simulation: NamedDependency[PolicySimulation], data: JSONBody[Simulate]) -> Simulation:
        """Dry run: every decision in [from, to) that the proposal would flip."""
        return policy_simulation.simulate_policies(None, _simulation(data))
