"""One authorization path: every question "may this identity do this action on this resource?" goes through here.

The HTTP guard, the data policies asked where data moves (``land_batch``, ``schedule_job``, unmasked personal data,
ledger entries, metrics, checksum verification) and the pipeline's process manager all ask ``Authorization``. It
asks the policy engine (a port: Cedar in ``adapters/auth/cedar.py``, or ``PermitAll`` when the composition root
switches authorization off), writes every decision to the decision log, records a refused command as a
``DenialRecorded`` event and raises ``Refused``, which the HTTP error table turns into 403 (or 404, for a tenant
the caller may not see: ``TenantHidden``).

A pipeline step is asked as the platform acting for the tenant (``acting_for``), against the tenant as its events
say now, so a suspended tenant's pipeline stops at its next step with a denial, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from application.commands import CommandContext
from domain.access import PLATFORM_ADMIN
from domain.errors import NotFoundError
from domain.values import TenantId, tenant_id_of, tenant_id_or_none

PLATFORM_KIND = "platform"
"""The kind of the identity the platform acts as for a tenant (people and services are "person" and "service")."""
PIPELINE_STEPS = ("normalize_batch", "build_kpis", "publish_product")
"""The Cedar actions of the pipeline's steps, asked by its process manager before each step."""
HIDDEN_REASON = "the tenant is not one the principal may see"


@dataclass(frozen=True)
class Identity:
    """Who asks: an authenticated principal, or the platform acting for a tenant."""

    principal_id: str
    kind: str
    tenant_id: str | None
    roles: tuple[str, ...]
    method: str
    """How it was proven: 'jwt', 'api-key', 'none' when authentication is switched off, 'platform' for steps."""

    @property
    def platform_admin(self) -> bool:
        return PLATFORM_ADMIN in self.roles


def acting_for(tenant_id: str) -> Identity:
    """The platform running a tenant's pipeline: bound to that tenant (so its data policies apply), no role."""
    return Identity(PLATFORM_KIND, PLATFORM_KIND, tenant_id, (), PLATFORM_KIND)


@dataclass(frozen=True)
class Resource:
    """What an action is on: the platform itself, or one tenant (with the attributes policies read)."""

    type: str
    id: str
    attrs: dict[str, Any]

    @classmethod
    def platform(cls) -> Resource:
        return cls("Platform", "platform", {})

    @classmethod
    def tenant(cls, tenant_id: str, status: str, features: list[str]) -> Resource:
        return cls("Tenant", tenant_id, {"status": status, "features": features})

    @property
    def label(self) -> str:
        return f'{self.type}::"{self.id}"'


@dataclass(frozen=True)
class Decision:
    """The policy engine's answer, with the ids of the policies that decided it (or why none could)."""

    allowed: bool
    policy_ids: tuple[str, ...]
    errors: tuple[str, ...]


class Policies(Protocol):
    """The policy engine: decides, and explains a refusal by the conditions of the built-in policies it missed."""

    def authorize(
        self, identity: Identity, action: str, resource: Resource, context: dict[str, Any] | None = None
    ) -> Decision: ...

    def explain(
        self, decision: Decision, resource: Resource, context: Mapping[str, Any] | None = None
    ) -> list[str]: ...


class DecisionRecorder(Protocol):
    """The decision log: every decision, with what it was made on."""

    def record(self, identity: Identity, action: str, resource: Resource, decision: Decision) -> None: ...


class DenialRecorder(Protocol):
    """Records a refused command as an event (``AccessService.record_denial``)."""

    def record_denial(
        self,
        context: CommandContext,
        principal_id: str | None,
        action: str,
        resource: str,
        reasons: list[str],
        tenant_id: TenantId | None,
    ) -> object: ...


class TenantState(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def features(self) -> Sequence[str]: ...


class Tenants(Protocol):
    """Tenants as their events say now (``TenantService.current_tenant``)."""

    def current_tenant(self, tenant_id: TenantId) -> TenantState | None: ...


class Refused(Exception):
    """The action is not permitted: a policy forbade it, or none permits it (403)."""

    def __init__(self, detail: str, grounds: list[str]) -> None:
        super().__init__(detail)
        self.grounds = grounds
        """Why, as recorded in the denial: the deciding policies."""


class TenantHidden(Refused):
    """A tenant the caller may not see, or that does not exist: the same answer for both (404)."""

    def __init__(self, named: str) -> None:
        super().__init__(f"no such tenant: {named}", [HIDDEN_REASON])


def sees(identity: Identity, resource: Resource) -> bool:
    """Whether the resource is one the caller may know of: the platform, their own tenant, or (admins) any."""
    return resource.type != "Tenant" or identity.platform_admin or identity.tenant_id == resource.id


def grounds_of(decision: Decision) -> list[str]:
    """A refusal's reasons as a denial records them: the policies that forbade it, or that none permits it."""
    if decision.policy_ids:
        return [f"forbidden by {policy}" for policy in decision.policy_ids]
    return ["no policy permits it", *decision.errors]


class Authorization:
    """Decides through the policy engine, logs every decision, records refused commands and raises ``Refused``."""

    def __init__(
        self, policies: Policies, decisions: DecisionRecorder, denials: DenialRecorder, tenants: Tenants
    ) -> None:
        self.policies = policies
        self.decisions = decisions
        self.denials = denials
        self.tenants = tenants

    def decide(
        self, identity: Identity, action: str, resource: Resource, context: dict[str, Any] | None = None
    ) -> Decision:
        """The policy engine's decision, written to the decision log (queued: no I/O on the caller's thread)."""
        decision = self.policies.authorize(identity, action, resource, context)
        self.decisions.record(identity, action, resource, decision)
        return decision

    def require(
        self,
        identity: Identity,
        action: str,
        resource: Resource,
        context: dict[str, Any] | None = None,
        *,
        command: CommandContext | None = None,
    ) -> None:
        """Returns when permitted; else records the denial of ``command`` (if one) and raises ``Refused``."""
        decision = self.decide(identity, action, resource, context)
        if not decision.allowed:
            self.refuse(identity, action, resource, decision, context=context, command=command)

    def refuse(
        self,
        identity: Identity,
        action: str,
        resource: Resource,
        decision: Decision,
        *,
        context: dict[str, Any] | None = None,
        command: CommandContext | None = None,
        exists: bool = True,
        named: str | None = None,
    ) -> NoReturn:
        """Records the denial of ``command`` and raises. About a tenant the caller may not see, or one that does not
        exist, the answer is ``TenantHidden`` (naming it as the caller did, ``named``) and a denial goes to the
        platform's own log, never to that tenant's."""
        hidden = not sees(identity, resource)
        if hidden:
            self._record_denial(command, identity, action, resource, [HIDDEN_REASON])
        if hidden or not exists:
            raise TenantHidden(named or resource.id)
        grounds = grounds_of(decision)
        self._record_denial(command, identity, action, resource, grounds)
        unmet = self.policies.explain(decision, resource, context)
        raise Refused(refusal_detail(action, unmet, grounds, context or {}), grounds)

    def tenant_now(self, tenant_id: str) -> Resource | None:
        """The tenant as its events say now (commands and steps never decide on a read model that may lag)."""
        tenant = self.tenants.current_tenant(tenant_id_of(tenant_id))
        return None if tenant is None else Resource.tenant(tenant_id, tenant.status, list(tenant.features))

    def require_for_tenant(
        self,
        identity: Identity,
        action: str,
        tenant_id: str,
        context: dict[str, Any] | None = None,
        *,
        command: CommandContext | None = None,
    ) -> None:
        """``require`` about a tenant as its events say now; a tenant that does not exist is answered as hidden."""
        resource = self.tenant_now(tenant_id)
        if resource is None:
            raise TenantHidden(tenant_id)
        self.require(identity, action, resource, context, command=command)

    def refusal_to_land(
        self, caller: object, tenant_id: str, contract_status: str, context: CommandContext
    ) -> str | None:
        """The data policy ``land_batch`` (``application.ingestion.DataPolicy``), with the contract's state as Cedar
        context: None when the batch may land, else why not, the denial already recorded."""
        if not isinstance(caller, Identity):
            raise TypeError(f"the data policy decides for an authenticated Identity, not {type(caller).__name__}")
        resource = self.tenant_now(tenant_id)
        if resource is None:
            raise NotFoundError(f"no such tenant: {tenant_id}")
        try:
            self.require(caller, "land_batch", resource, {"contract_status": contract_status}, command=context)
        except Refused as refused:
            return str(refused)
        return None

    def authorize_step(self, tenant_id: str, action: str) -> list[str]:
        """Why the platform, acting for the tenant, may not run this pipeline step now; empty when it may."""
        resource = self.tenant_now(tenant_id) or Resource.tenant(tenant_id, "unknown", [])
        decision = self.decide(acting_for(tenant_id), action, resource)
        if decision.allowed:
            return []
        return [*self.policies.explain(decision, resource), *grounds_of(decision)]

    def _record_denial(
        self,
        command: CommandContext | None,
        identity: Identity,
        action: str,
        resource: Resource,
        reasons: list[str],
    ) -> None:
        """In the log of the tenant it was about when the caller may see it; else (a tenant not theirs) in the
        platform's own log; a platform-level refusal in the caller's tenant's log. Queries record none."""
        if command is None:
            return
        own = resource.id if sees(identity, resource) else None
        tenant_id = identity.tenant_id if resource.type != "Tenant" else own
        self.denials.record_denial(
            command, identity.principal_id, action, resource.label, reasons, tenant_id_or_none(tenant_id)
        )


def refusal_detail(action: str, unmet: list[str], grounds: list[str], context: Mapping[str, Any]) -> str:
    """The problem detail a refused caller reads: the unmet conditions, for the data policies also the grounds."""
    if action == "land_batch":
        why = "; ".join(unmet) or "the tenant may not ingest"
        return f"this batch may not land: {why} ({'; '.join(grounds)})"
    if action == "schedule_job":
        return f"a {context.get('kind')} job may not be scheduled here ({'; '.join(grounds)})"
    return f"{action} is not permitted here" + (f": {'; '.join(unmet)}" if unmet else "")


class PermitAll:
    """The policy engine when PLATFORM_AUTH=off (benchmarks only): everything is permitted."""

    def authorize(
        self, identity: Identity, action: str, resource: Resource, context: dict[str, Any] | None = None
    ) -> Decision:
        return Decision(True, (), ())

    def explain(self, decision: Decision, resource: Resource, context: Mapping[str, Any] | None = None) -> list[str]:
        return []
