"""The data policy ``land_batch`` over Cedar (``application.ingestion.DataPolicy``): the tenant as its events say
now, the contract's state as Cedar context; every decision goes to the decision log, a refusal is recorded as a
denial in the tenant's log and explained in words.

Engineer C's one authorization port replaces this at merge; until then it is the one place the data policy of
ingestion is asked."""

from __future__ import annotations

from uuid import UUID

from adapters.auth.cedar import PolicyEngine, Resource
from adapters.auth.decision_log import DecisionLog
from adapters.auth.identity import Identity
from adapters.auth.refusals import refusal_reasons, unmet_conditions
from application.access import AccessService
from application.commands import CommandContext
from application.tenants import TenantService
from domain.errors import NotFoundError

ACTION = "land_batch"


class CedarDataPolicy:
    """Asks Cedar whether a batch may land, and records the decision (and a refusal) as every route does."""

    def __init__(
        self, policies: PolicyEngine, decisions: DecisionLog, tenants: TenantService, access: AccessService
    ) -> None:
        self.policies = policies
        self.decisions = decisions
        self.tenants = tenants
        self.access = access

    def refusal_to_land(
        self, caller: object, tenant_id: str, contract_status: str, context: CommandContext
    ) -> str | None:
        if not isinstance(caller, Identity):
            raise TypeError(f"the data policy decides for an authenticated Identity, not {type(caller).__name__}")
        resource = self._tenant(tenant_id)
        cedar_context = {"contract_status": contract_status}
        decision = self.policies.authorize(caller, ACTION, resource, cedar_context)
        self.decisions.record(caller, ACTION, resource, decision)
        if decision.allowed:
            return None
        reasons = refusal_reasons(decision)
        sees = caller.platform_admin or caller.tenant_id == resource.id
        self.access.record_denial(
            context, caller.principal_id, ACTION, resource.label, reasons, resource.id if sees else None
        )
        why = "; ".join(unmet_conditions(decision, resource, cedar_context)) or "the tenant may not ingest"
        return f"this batch may not land: {why} ({'; '.join(reasons)})"

    def _tenant(self, tenant_id: str) -> Resource:
        tenant = self.tenants.current_tenant(UUID(tenant_id))
        if tenant is None:
            raise NotFoundError(f"no such tenant: {tenant_id}")
        return Resource.tenant(tenant_id, tenant.status, list(tenant.features))
