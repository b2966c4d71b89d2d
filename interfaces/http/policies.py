"""Policy documents over HTTP: a tenant's (``/v1/tenants/{id}/policies``) and the platform's (``/v1/policies``).

Both draft, list, read, activate, retire and simulate. A simulation replays the recorded decisions of a period
through the active policies plus a proposal (Cedar text, or a drafted version) and lists those that would flip.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from adapters.auth.cedar import PolicyDocument
from adapters.auth.decision_log import ChangedDecision, simulate
from application.policies import PolicyService, PolicyWritten
from domain.errors import InvalidValueError, NotFoundError
from domain.policy import MAX_DESCRIPTION, Policy, check_name, policy_id_for
from domain.values import TenantId
from interfaces.http.context import command_context
from interfaces.http.schemas import tenant_key
from projections.policies import list_query, policies, versions_query

PROPOSED = "(proposed)"
"""The name a proposed text is simulated under: no policy can have it, so it replaces none."""


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


class VersionView(msgspec.Struct, frozen=True):
    version: int
    cedar: str
    sha256: str
    description: str
    drafted_at: str


class PolicyView(msgspec.Struct, frozen=True):
    policy_id: str
    name: str
    tenant_id: str | None
    status: str
    active_version: int | None
    latest_version: int
    created_at: str
    updated_at: str
    versions: list[VersionView] | None = None


class Outcome(msgspec.Struct, frozen=True):
    allowed: bool
    policies: list[str]


class Change(msgspec.Struct, frozen=True):
    decision_id: int
    decided_at: str
    principal: dict[str, Any]
    action: str
    resource: dict[str, Any]
    old: Outcome
    new: Outcome


class Simulation(msgspec.Struct, frozen=True):
    replayed: int
    changed: int
    complete: bool
    changes: list[Change]


def _service(state: State) -> PolicyService:
    service: PolicyService = state.platform.policy_documents
    return service


def _written(result: PolicyWritten) -> Written:
    return Written(str(result.aggregate_id), result.name, result.version, result.position)


def _list(state: State, tenant: TenantId | None) -> list[PolicyView]:
    with state.platform.read_models.engine.connect() as connection:
        rows = connection.execute(list_query(tenant)).all()
    return [msgspec.convert(row, PolicyView, from_attributes=True) for row in rows]


def _read(state: State, tenant: TenantId | None, name: str) -> PolicyView:
    policy_id = str(policy_id_for(tenant, check_name(name)))
    with state.platform.read_models.engine.connect() as connection:
        row = connection.execute(select(policies).where(policies.c.policy_id == policy_id)).first()
        versions = connection.execute(versions_query(policy_id)).all()
    if row is None:
        raise NotFoundError(f"no such policy: {name}")
    view = msgspec.convert(row, PolicyView, from_attributes=True)
    return msgspec.structs.replace(
        view, versions=[msgspec.convert(v, VersionView, from_attributes=True) for v in versions]
    )


def _proposal(state: State, tenant: TenantId | None, data: Simulate) -> PolicyDocument:
    """The proposed document: the text given, or a drafted version (replacing its policy's active version)."""
    if (data.policies is None) == (data.policy is None) or data.start >= data.end:
        msg = "give 'from' before 'to', and either 'policies' (Cedar text) or 'policy' (a drafted policy's name)"
        raise InvalidValueError(msg)
    if data.policies is not None:
        _service(state).judge_policy(tenant, data.policies)
        return PolicyDocument(PROPOSED, 0, tenant, data.policies)
    found = _drafted(state, tenant, data.policy or "")
    text = found.text(data.version)
    _service(state).judge_policy(tenant, text)
    return PolicyDocument(found.name, data.version or len(found.texts), tenant, text)


def _drafted(state: State, tenant: TenantId | None, reference: str) -> Policy:
    """The tenant's (or platform's) policy named, or with this id."""
    try:
        found = _service(state).policy_with_id(uuid.UUID(reference))
    except ValueError:
        found = None
    if found is None or found.tenant_id != tenant:
        found = _service(state).current_policy(tenant, reference)
    if found is None:
        raise NotFoundError(f"no such policy: {reference}")
    return found


def _simulate(state: State, tenant: TenantId | None, data: Simulate) -> Simulation:
    decide = state.platform.policies.proposing([_proposal(state, tenant, data)])
    log = state.platform.decisions
    log.flush()
    past = log.between(data.start, data.end, tenant)
    try:
        replayed, changed = simulate(past, decide, data.limit)
    finally:
        past.close()
    return Simulation(replayed, len(changed), len(changed) < data.limit, [_change(c) for c in changed])


def _change(changed: ChangedDecision) -> Change:
    past, identity = changed.past, changed.past.identity
    principal = {"id": identity.principal_id, "kind": identity.kind, "tenant_id": identity.tenant_id}
    return Change(
        past.decision_id,
        past.decided_at,
        principal | {"roles": list(identity.roles)},
        past.action,
        {"type": past.resource.type, "id": past.resource.id},
        Outcome(past.allowed, list(past.policy_ids)),
        Outcome(changed.now.allowed, list(changed.now.policy_ids)),
    )


class TenantPolicyController(Controller):
    """A tenant's own policies: forbids on its own tenant, binding its own principals."""

    path = "/v1/tenants/{tenant_id:str}/policies"
    tags = ["policies"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "draft_tenant_policy"})
    def draft(
        self, request: Request[Any, Any, Any], state: State, tenant_id: FromPath[str], data: JSONBody[DraftPolicy]
    ) -> Written:
        """Draft a policy's next version (422 naming Cedar's errors, or any statement that is not a forbid on this
        tenant). Text identical to a drafted version drafts nothing and answers that version."""
        service, context = _service(state), command_context(request)
        return _written(service.draft_policy(context, tenant_key(tenant_id), data.name, data.cedar, data.description))

    @get("/", sync_to_thread=True, opt={"action": "list_tenant_policies"})
    def list_policies(self, state: State, tenant_id: FromPath[str]) -> list[PolicyView]:
        """The tenant's policies with their status and versions."""
        return _list(state, tenant_key(tenant_id))

    @get("/{name:str}", sync_to_thread=True, opt={"action": "read_tenant_policy"})
    def read(self, state: State, tenant_id: FromPath[str], name: FromPath[str]) -> PolicyView:
        """One policy with the Cedar text of every version."""
        return _read(state, tenant_key(tenant_id), name)

    @post("/{name:str}/activate", sync_to_thread=True, status_code=202, opt={"action": "activate_tenant_policy"})
    def activate(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        name: FromPath[str],
        data: JSONBody[ActivatePolicy | None] = None,
    ) -> Written:
        """Make a drafted version (``version``, else the latest) the active one."""
        version = data.version if data else None
        return _written(_service(state).activate_policy(command_context(request), tenant_key(tenant_id), name, version))

    @post("/{name:str}/retire", sync_to_thread=True, status_code=202, opt={"action": "retire_tenant_policy"})
    def retire(
        self,
        request: Request[Any, Any, Any],
        state: State,
        tenant_id: FromPath[str],
        name: FromPath[str],
        data: JSONBody[RetirePolicy | None] = None,
    ) -> Written:
        """Switch an active policy off."""
        reason = data.reason if data else ""
        return _written(_service(state).retire_policy(command_context(request), tenant_key(tenant_id), name, reason))

    @post("/simulate", sync_to_thread=True, status_code=200, opt={"action": "simulate_tenant_policies"})
    def simulate(self, state: State, tenant_id: FromPath[str], data: JSONBody[Simulate]) -> Simulation:
        """Dry run: the decisions on this tenant by its principals in [from, to) that the proposal would flip."""
        return _simulate(state, tenant_key(tenant_id), data)


class PlatformPolicyController(Controller):
    """The platform's own policies (platform admins only): they may permit or forbid anything."""

    path = "/v1/policies"
    tags = ["policies"]

    @post("/", sync_to_thread=True, status_code=201, opt={"action": "draft_platform_policy"})
    def draft(self, request: Request[Any, Any, Any], state: State, data: JSONBody[DraftPolicy]) -> Written:
        """Draft a platform policy's next version (422 naming Cedar's errors)."""
        service, context = _service(state), command_context(request)
        return _written(service.draft_policy(context, None, data.name, data.cedar, data.description))

    @get("/", sync_to_thread=True, opt={"action": "list_platform_policies"})
    def list_policies(self, state: State) -> list[PolicyView]:
        """The platform's policies with their status and versions."""
        return _list(state, None)

    @get("/{name:str}", sync_to_thread=True, opt={"action": "read_platform_policy"})
    def read(self, state: State, name: FromPath[str]) -> PolicyView:
        """One platform policy with the Cedar text of every version."""
        return _read(state, None, name)

    @post("/{name:str}/activate", sync_to_thread=True, status_code=202, opt={"action": "activate_platform_policy"})
    def activate(
        self,
        request: Request[Any, Any, Any],
        state: State,
        name: FromPath[str],
        data: JSONBody[ActivatePolicy | None] = None,
    ) -> Written:
        """Make a drafted version (``version``, else the latest) the active one."""
        version = data.version if data else None
        return _written(_service(state).activate_policy(command_context(request), None, name, version))

    @post("/{name:str}/retire", sync_to_thread=True, status_code=202, opt={"action": "retire_platform_policy"})
    def retire(
        self,
        request: Request[Any, Any, Any],
        state: State,
        name: FromPath[str],
        data: JSONBody[RetirePolicy | None] = None,
    ) -> Written:
        """Switch an active platform policy off."""
        reason = data.reason if data else ""
        return _written(_service(state).retire_policy(command_context(request), None, name, reason))

    @post("/simulate", sync_to_thread=True, status_code=200, opt={"action": "simulate_platform_policies"})
    def simulate(self, state: State, data: JSONBody[Simulate]) -> Simulation:
        """Dry run: every decision in [from, to) that the proposal would flip."""
        return _simulate(state, None, data)
