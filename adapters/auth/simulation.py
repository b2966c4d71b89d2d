"""The policy simulation's replay (``application.policy_simulation.DecisionReplay``): the policy engine with a
proposal in force, over the decisions the decision log recorded."""

from __future__ import annotations

from datetime import datetime

from adapters.auth.cedar import PolicyEngine
from adapters.auth.decision_log import ChangedDecision, DecisionLog, simulate
from application.policy_simulation import FlippedDecision, Outcome, Proposal


class DecisionLogReplay:
    def __init__(self, engine: PolicyEngine, log: DecisionLog) -> None:
        self.engine = engine
        self.log = log

    def replay(
        self, proposal: Proposal, tenant_id: str | None, start: datetime, end: datetime, limit: int
    ) -> tuple[int, list[FlippedDecision]]:
        decide = self.engine.proposing([proposal])
        self.log.flush()  # decisions still queued for the writer belong to the period too
        past = self.log.between(start, end, tenant_id)
        try:
            replayed, changed = simulate(past, decide, limit)
        finally:
            past.close()
        return replayed, [_flipped(c) for c in changed]


def _flipped(changed: ChangedDecision) -> FlippedDecision:
    past, identity = changed.past, changed.past.identity
    principal = {"id": identity.principal_id, "kind": identity.kind, "tenant_id": identity.tenant_id}
    return FlippedDecision(
        past.decision_id,
        past.decided_at,
        principal | {"roles": list(identity.roles)},
        past.action,
        {"type": past.resource.type, "id": past.resource.id},
        Outcome(past.allowed, list(past.policy_ids)),
        Outcome(changed.now.allowed, list(changed.now.policy_ids)),
    )
