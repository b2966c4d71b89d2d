"""PolicySimulation: what may be proposed (text or a drafted version, judged first) and what the replay is asked,
with a fake replay and checker (in-memory event store)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from application.commands import CommandContext, CommandRunner
from application.policies import PolicyService
from application.policy_simulation import (
    PROPOSED,
    FlippedDecision,
    Outcome,
    PolicySimulation,
    Proposal,
    SimulationRequest,
)
from domain.errors import InvalidValueError, NotFoundError
from domain.policy import InvalidPolicyError, PolicyAnalysis, Statement
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
TENANT = str(uuid4())
FORBID = f'forbid (principal, action, resource == Tenant::"{TENANT}");'
PERIOD = (NOW - timedelta(days=1), NOW)


class FakeChecker:
    """Reads a forbid on the tenant from any text but ``broken``."""

    def analyse(self, cedar: str) -> PolicyAnalysis:
        if cedar == "broken":
            return PolicyAnalysis(("unexpected token",), ())
        return PolicyAnalysis((), (Statement("forbid", "Tenant", TENANT),))


def flipped(number: int) -> FlippedDecision:
    return FlippedDecision(
        number, "t", {"id": "p"}, "read_tenant", {"type": "Tenant", "id": TENANT}, Outcome(True, []), Outcome(False, [])
    )


@dataclass
class FakeReplay:
    flips: int = 0
    asked: list[tuple[Proposal, str | None, int]] = field(default_factory=list)

    def replay(
        self, proposal: Proposal, tenant_id: str | None, start: datetime, end: datetime, limit: int
    ) -> tuple[int, list[FlippedDecision]]:
        self.asked.append((proposal, tenant_id, limit))
        return 10, [flipped(n) for n in range(min(self.flips, limit))]


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


@pytest.fixture
def policies(store: RecorderEventStore) -> PolicyService:
    return PolicyService(CommandRunner(store, lambda: NOW), FakeChecker())


def test_proposed_text_is_simulated_under_a_name_no_policy_has(policies: PolicyService) -> None:
    replay = FakeReplay(flips=2)
    simulation = PolicySimulation(policies, replay).simulate_policies(TENANT, SimulationRequest(*PERIOD, text=FORBID))

    assert replay.asked == [(Proposal(PROPOSED, 0, TENANT, FORBID), TENANT, 1000)]
    assert (simulation.replayed, simulation.changed, simulation.complete) == (10, 2, True)


def test_a_drafted_policy_is_proposed_by_name_or_id_with_its_latest_version(policies: PolicyService) -> None:
    context = CommandContext("user:admin", "draft-1", "corr")
    written = policies.draft_policy(context, TENANT, "no-reads", FORBID)
    replay = FakeReplay()
    simulation = PolicySimulation(policies, replay)

    simulation.simulate_policies(TENANT, SimulationRequest(*PERIOD, policy="no-reads"))
    simulation.simulate_policies(TENANT, SimulationRequest(*PERIOD, policy=str(written.aggregate_id), version=1))

    assert [asked[0] for asked in replay.asked] == [Proposal("no-reads", 1, TENANT, FORBID)] * 2


def test_a_listing_that_reaches_the_limit_says_it_may_be_incomplete(policies: PolicyService) -> None:
    request = SimulationRequest(*PERIOD, text=FORBID, limit=3)
    simulation = PolicySimulation(policies, FakeReplay(flips=5)).simulate_policies(TENANT, request)

    assert (simulation.changed, simulation.complete) == (3, False)


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (SimulationRequest(*PERIOD), InvalidValueError),
        (SimulationRequest(*PERIOD, text=FORBID, policy="no-reads"), InvalidValueError),
        (SimulationRequest(PERIOD[1], PERIOD[0], text=FORBID), InvalidValueError),
        (SimulationRequest(*PERIOD, text="broken"), InvalidPolicyError),
        (SimulationRequest(*PERIOD, policy="never-drafted"), NotFoundError),
    ],
    ids=["no proposal", "two proposals", "period backwards", "text Cedar refuses", "unknown policy"],
)
def test_a_proposal_that_cannot_be_simulated_replays_nothing(
    policies: PolicyService, request_: SimulationRequest, error: type[Exception]
) -> None:
    replay = FakeReplay()
    with pytest.raises(error):
        PolicySimulation(policies, replay).simulate_policies(TENANT, request_)
    assert replay.asked == []
