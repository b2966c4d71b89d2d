"""The policy engine with active documents: reparsing on the counter, tenant scoping, lock-out safety, dry runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.auth.cedar import POLICY_ADMIN_ACTIONS, PolicyDocument, PolicyEngine
from adapters.auth.decision_log import RecordedDecision, simulate
from application.authorization import Identity, Resource
from domain.policy import Statement

T = "6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10"
OTHER = "0b7f5a8e-2c44-4f0e-8d0a-5f3b1c9e7a21"
ANALYST = Identity("p-analyst", "person", T, ("analyst",), "jwt")
TENANT_ADMIN = Identity("p-tadmin", "person", T, ("tenant-admin",), "jwt")
STRANGER = Identity("p-other", "person", OTHER, ("analyst",), "jwt")
ADMIN = Identity("p-admin", "person", None, ("platform-admin",), "jwt")
OWN = Resource.tenant(T, "active", [])
LOCK_ALL = f'@id("all") forbid (principal, action, resource == Tenant::"{T}");'


class FakeSource:
    """A hand-written fake of the engine's document source: a list and a counter, counting reads."""

    def __init__(self) -> None:
        self.counter, self.reads = 0, 0
        self.active: list[PolicyDocument] = []

    def set(self, *documents: PolicyDocument) -> None:
        self.active, self.counter = list(documents), self.counter + 1

    def version(self) -> int:
        return self.counter

    def documents(self) -> list[PolicyDocument]:
        self.reads += 1
        return self.active


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def engine(source: FakeSource) -> Iterator[PolicyEngine]:
    engine = PolicyEngine(source=source, refresh_interval=60)
    yield engine
    engine.close()


def test_documents_count_only_after_the_counter_moves_and_are_read_once(
    engine: PolicyEngine, source: FakeSource
) -> None:
    assert engine.authorize(ANALYST, "read_tenant", OWN).allowed
    source.active = [PolicyDocument("lock", 1, T, LOCK_ALL)]  # the counter has not moved: not read
    assert engine.refresh() is False
    assert engine.authorize(ANALYST, "read_tenant", OWN).allowed
    source.set(*source.active)
    assert engine.refresh() is True
    reads = source.reads
    assert engine.refresh() is False
    assert source.reads == reads
    decision = engine.authorize(ANALYST, "read_tenant", OWN)
    assert (decision.allowed, decision.policy_ids) == (False, (f"tenant:{T}/lock@1/all",))


def test_a_tenant_document_binds_only_that_tenants_principals(engine: PolicyEngine, source: FakeSource) -> None:
    source.set(PolicyDocument("lock", 1, T, LOCK_ALL))
    engine.refresh()
    assert not engine.authorize(TENANT_ADMIN, "list_principals", OWN).allowed
    assert engine.authorize(ADMIN, "suspend_tenant", OWN).allowed
    assert engine.authorize(STRANGER, "read_tenant", Resource.tenant(OTHER, "active", [])).allowed


def test_managing_policies_is_decided_by_the_built_in_policies_alone(engine: PolicyEngine, source: FakeSource) -> None:
    source.set(PolicyDocument("freeze", 1, None, "forbid (principal, action, resource);"))
    engine.refresh()
    assert not engine.authorize(ADMIN, "list_tenants", Resource.platform()).allowed
    for action in sorted(POLICY_ADMIN_ACTIONS):
        resource = Resource.platform() if "platform" in action else OWN
        assert engine.authorize(ADMIN, action, resource).allowed, action
    assert engine.authorize(TENANT_ADMIN, "retire_tenant_policy", OWN).allowed
    assert not engine.authorize(ANALYST, "retire_tenant_policy", OWN).allowed


def test_an_active_document_that_no_longer_validates_denies_its_scope(engine: PolicyEngine, source: FakeSource) -> None:
    stale = PolicyDocument("stale", 3, T, f'forbid (principal, action == Action::"gone", resource == Tenant::"{T}");')
    source.set(stale)
    engine.refresh()
    decision = engine.authorize(ANALYST, "read_tenant", OWN)
    assert not decision.allowed
    assert decision.errors[0].startswith(f"tenant:{T}/stale@3: [policy0] for policy `policy0`, unrecognized action")
    assert engine.authorize(STRANGER, "read_tenant", Resource.tenant(OTHER, "active", [])).allowed
    assert engine.authorize(TENANT_ADMIN, "retire_tenant_policy", OWN).allowed
    source.set(PolicyDocument("stale", 1, None, 'permit (principal, action == Action::"gone", resource);'))
    engine.refresh()
    assert not engine.authorize(ADMIN, "list_tenants", Resource.platform()).allowed


def test_a_proposal_replaces_its_own_policys_active_version_and_changes_nothing_live(
    engine: PolicyEngine, source: FakeSource
) -> None:
    source.set(PolicyDocument("lock", 1, T, LOCK_ALL))
    engine.refresh()
    decide = engine.proposing([PolicyDocument("lock", 2, T, LOCK_ALL.replace("action,", 'action == Action::"x",'))])
    assert not decide(ANALYST, "read_tenant", OWN).allowed  # "x" is no action: the proposal does not validate
    decide = engine.proposing(
        [PolicyDocument("lock", 2, T, LOCK_ALL.replace("action,", 'action == Action::"list_secrets",'))]
    )
    assert decide(ANALYST, "read_tenant", OWN).allowed  # version 1's lock-all is replaced
    assert not engine.authorize(ANALYST, "read_tenant", OWN).allowed  # live decisions are unchanged


def test_analysis_reads_validation_errors_effects_and_resource_scopes(engine: PolicyEngine) -> None:
    analysis = engine.analyse(LOCK_ALL + '\npermit (principal, action == Action::"read_tenant", resource is Tenant);')
    assert analysis.errors == ()
    assert analysis.statements == (Statement("forbid", "Tenant", T), Statement("permit"))
    assert engine.analyse("permit (principal == ?principal, action, resource);").templates == 1
    broken = engine.analyse("forbid (principal,")
    assert broken.statements == ()
    assert "parse error" in broken.errors[0]


def past(decision_id: int, identity: Identity, action: str, allowed: bool) -> RecordedDecision:
    return RecordedDecision(decision_id, "2026-01-01T00:00:00.000000+00:00", identity, action, OWN, allowed, ())


def test_a_simulation_lists_the_decisions_that_flip_up_to_a_limit(engine: PolicyEngine) -> None:
    decide = engine.proposing([PolicyDocument("p", 1, T, LOCK_ALL)])
    history = [
        past(1, ANALYST, "read_tenant", True),  # flips
        past(2, ANALYST, "put_secret", False),  # denied before and after
        past(3, ADMIN, "read_tenant", True),  # admins are not bound by tenant documents
        past(4, TENANT_ADMIN, "list_principals", True),  # flips
    ]
    replayed, changed = simulate(iter(history), decide, limit=10)
    assert replayed == 4
    assert [(c.past.decision_id, c.now.policy_ids) for c in changed] == [
        (1, (f"tenant:{T}/p@1/all",)),
        (4, (f"tenant:{T}/p@1/all",)),
    ]
    replayed, changed = simulate(iter(history), decide, limit=1)
    assert (replayed, [c.past.decision_id for c in changed]) == (1, [1])
