"""Policy simulation: the decisions recorded in a period, replayed through the active policies plus a proposal
(Cedar text, or a drafted version of a policy), and those that would flip. A dry run: nothing is recorded.

The replay itself (the policy engine with the proposal in force, over the decision log) is the ``DecisionReplay``
port; what may be proposed, and by whom, is this service's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from application.policies import PolicyService
from domain.errors import InvalidValueError, NotFoundError
from domain.policy import Policy
from domain.values import TenantId

PROPOSED = "(proposed)"
"""The name a proposed text is simulated under: no policy can have it, so it replaces none."""


@dataclass(frozen=True)
class Proposal:
    """A policy document as it would be active: it replaces the active version of the policy of its name."""

    name: str
    version: int
    tenant_id: TenantId | None
    text: str


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    policies: list[str]


@dataclass(frozen=True)
class FlippedDecision:
    """A past decision (who asked, to do what, on what) and its outcome then and under the proposal."""

    decision_id: int
    decided_at: str
    principal: dict[str, Any]
    action: str
    resource: dict[str, Any]
    old: Outcome
    new: Outcome


@dataclass(frozen=True)
class Simulation:
    replayed: int
    changed: int
    complete: bool
    """False when the listing stopped at the limit: more decisions may flip."""
    changes: list[FlippedDecision]


@dataclass(frozen=True)
class SimulationRequest:
    """The period [start, end), and the proposal: Cedar text, or a drafted policy's name or id (and version)."""

    start: datetime
    end: datetime
    text: str | None = None
    policy: str | None = None
    version: int | None = None
    limit: int = 1000


class DecisionReplay(Protocol):
    def replay(
        self, proposal: Proposal, tenant_id: TenantId | None, start: datetime, end: datetime, limit: int
    ) -> tuple[int, list[FlippedDecision]]:
        """Replays the decisions recorded in [start, end), oldest first (with a tenant: its principals' on it),
        through the active policies with the proposal in force: how many, and the first ``limit`` that flip."""
        ...


class PolicySimulation:
    """Dry runs of policy changes against what was really asked."""

    def __init__(self, policies: PolicyService, decisions: DecisionReplay) -> None:
        self.policies = policies
        self.decisions = decisions

    def simulate_policies(self, tenant_id: TenantId | None, request: SimulationRequest) -> Simulation:
        """The decisions on the tenant (None: on the platform) that the proposal would flip."""
        proposal = self._proposal(tenant_id, request)
        replayed, changed = self.decisions.replay(proposal, tenant_id, request.start, request.end, request.limit)
        return Simulation(replayed, len(changed), len(changed) < request.limit, changed)

    def _proposal(self, tenant_id: TenantId | None, request: SimulationRequest) -> Proposal:
        """The text given, or a drafted version (replacing its policy's active version); judged either way."""
        if (request.text is None) == (request.policy is None) or request.start >= request.end:
            msg = "give 'from' before 'to', and either 'policies' (Cedar text) or 'policy' (a drafted policy's name)"
            raise InvalidValueError(msg)
        if request.text is not None:
            self.policies.judge_policy(tenant_id, request.text)
            return Proposal(PROPOSED, 0, tenant_id, request.text)
        found = self._drafted(tenant_id, request.policy or "")
        text = found.text(request.version)
        self.policies.judge_policy(tenant_id, text)
        return Proposal(found.name, request.version or len(found.texts), tenant_id, text)

    def _drafted(self, tenant_id: TenantId | None, reference: str) -> Policy:
        """The tenant's (or platform's) policy with this id, or of this name."""
        try:
            found = self.policies.policy_with_id(uuid.UUID(reference))
        except ValueError:
            found = None
        if found is None or found.tenant_id != tenant_id:
            found = self.policies.current_policy(tenant_id, reference)
        if found is None:
            raise NotFoundError(f"no such policy: {reference}")
        return found
