"""Policy document rules, read as Given (past events) / When (a command) / Then (new events or an error).

The domain judges an analysis of the Cedar text (the adapter's job to produce), so these tests write analyses.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import ConflictError, InvalidValueError, NotFoundError
from domain.policy import (
    MAX_POLICY_BYTES,
    InvalidPolicyError,
    Policy,
    PolicyAnalysis,
    Statement,
    policy_id_for,
)

TENANT = "6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10"
OTHER = "0b7f5a8e-2c44-4f0e-8d0a-5f3b1c9e7a21"
FORBID_OWN = PolicyAnalysis((), (Statement("forbid", "Tenant", TENANT),))
PERMIT_ANY = PolicyAnalysis((), (Statement("permit"),))
TEXT = f'forbid (principal, action, resource == Tenant::"{TENANT}");'


def given(tenant_id: str | None, *commands: Any) -> Policy:
    """A policy rebuilt from its past events alone: drafted once, then these commands."""
    policy = Policy.open(tenant_id, "no-writes")
    policy.draft(TEXT, "first", FORBID_OWN if tenant_id else PERMIT_ANY)
    for command in commands:
        command(policy)
    rebuilt = None
    for past in policy.collect_events():
        rebuilt = past.mutate(rebuilt)
    assert isinstance(rebuilt, Policy)
    return rebuilt


def when(policy: Policy, command: Any) -> list[Any]:
    command(policy)
    return policy.collect_events()


def test_the_first_draft_creates_the_policy_with_version_one_holding_the_text() -> None:
    policy = Policy.open(TENANT, "no-writes")
    assert policy.draft(TEXT, " Stop writes ", FORBID_OWN) == 1
    created, drafted = policy.collect_events()
    assert isinstance(created, Policy.Created)
    assert (created.tenant_id, created.name, created.originator_id) == (
        TENANT,
        "no-writes",
        policy_id_for(TENANT, "no-writes"),
    )
    assert isinstance(drafted, Policy.Drafted)
    assert (drafted.version, drafted.cedar, drafted.description) == (1, TEXT, "Stop writes")
    assert policy.status == "draft"


def test_a_tenant_and_the_platform_can_name_policies_alike_without_clashing() -> None:
    assert policy_id_for(TENANT, "x") != policy_id_for(None, "x") != policy_id_for(OTHER, "x")


@pytest.mark.parametrize("name", ["", "No-Caps", "-edge", "a" * 65, "under_score"])
def test_a_policy_name_is_a_lowercase_slug(name: str) -> None:
    with pytest.raises(InvalidValueError):
        Policy.open(None, name)


def test_a_new_text_is_the_next_version_and_an_identical_one_records_nothing() -> None:
    policy = given(TENANT)
    other = TEXT.replace("action", 'action == Action::"put_secret"')
    [drafted] = when(policy, lambda p: p.draft(other, "", FORBID_OWN))
    assert drafted.version == 2
    assert policy.draft(TEXT, "again", FORBID_OWN) == 1
    assert policy.collect_events() == []


def test_cedars_errors_refuse_a_draft_naming_every_one() -> None:
    errors = ('[policy0] unrecognized action `Action::"nope"`', "[policy1] attribute `foo` not found")
    with pytest.raises(InvalidPolicyError) as caught:
        Policy.open(None, "bad").draft("permit (...);", "", PolicyAnalysis(errors, ()))
    assert caught.value.reasons == list(errors)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * (MAX_POLICY_BYTES + 1), "é" * (MAX_POLICY_BYTES // 2 + 1)],
    ids=["empty", "blank", "big", "big-utf8"],
)
def test_blank_text_and_text_over_64_kib_are_refused_before_anything_else(text: str) -> None:
    with pytest.raises(InvalidPolicyError, match="1 to 65536 bytes"):
        Policy.open(None, "x").draft(text, "", PERMIT_ANY)


def test_templates_and_statementless_text_are_refused() -> None:
    with pytest.raises(InvalidPolicyError, match="templates"):
        Policy.open(None, "x").draft(
            "permit (principal == ?principal, action, resource);", "", PolicyAnalysis((), (), 1)
        )
    with pytest.raises(InvalidPolicyError, match="no Cedar statement"):
        Policy.open(None, "x").draft("// nothing", "", PolicyAnalysis((), ()))


@pytest.mark.parametrize(
    "statement",
    [
        Statement("permit", "Tenant", TENANT),  # widening, even on its own tenant
        Statement("forbid"),  # unscoped: would reach other tenants and the platform
        Statement("forbid", "Tenant", OTHER),  # another tenant
        Statement("forbid", "Platform", "platform"),
    ],
)
def test_a_tenant_policy_may_only_forbid_on_its_own_tenant(statement: Statement) -> None:
    analysis = PolicyAnalysis((), (Statement("forbid", "Tenant", TENANT), statement))
    with pytest.raises(InvalidPolicyError) as caught:
        Policy.open(TENANT, "x").draft(TEXT + " ", "", analysis)
    [reason] = caught.value.reasons
    assert reason.startswith(f'statement 1 must be a forbid scoped to resource == Tenant::"{TENANT}"')


def test_platform_policies_may_permit_anything() -> None:
    policy = Policy.open(None, "analysts-read-secrets")
    assert policy.draft("permit (principal, action, resource);", "", PERMIT_ANY) == 1


def test_activation_makes_a_version_active_and_is_judged_again() -> None:
    policy = given(TENANT)
    [activated] = when(policy, lambda p: p.activate(None, FORBID_OWN))
    assert isinstance(activated, Policy.Activated)
    assert (activated.version, policy.status, policy.active_version) == (1, "active", 1)
    later = given(TENANT)
    with pytest.raises(InvalidPolicyError, match="unrecognized action"):  # the schema moved since the draft
        later.activate(1, PolicyAnalysis(("unrecognized action",), ()))
    assert later.collect_events() == []


def test_activating_another_version_replaces_the_active_one_and_the_same_one_is_a_conflict() -> None:
    other = TEXT.replace("action", 'action == Action::"put_secret"')
    policy = given(TENANT, lambda p: p.draft(other, "", FORBID_OWN), lambda p: p.activate(2, FORBID_OWN))
    with pytest.raises(ConflictError, match="already active"):
        policy.activate(2, FORBID_OWN)
    [rolled_back] = when(policy, lambda p: p.activate(1, FORBID_OWN))
    assert (rolled_back.version, policy.active_version) == (1, 1)
    with pytest.raises(NotFoundError, match="no version 3"):
        policy.activate(3, FORBID_OWN)


def test_retiring_switches_an_active_policy_off_and_only_an_active_one() -> None:
    policy = given(None, lambda p: p.activate(None, PERMIT_ANY))
    [retired] = when(policy, lambda p: p.retire(" done "))
    assert isinstance(retired, Policy.Retired)
    assert (retired.version, retired.reason, policy.status, policy.active_version) == (1, "done", "retired", None)
    with pytest.raises(ConflictError, match="retired; only an active policy"):
        policy.retire("again")
    with pytest.raises(ConflictError, match="draft; only an active policy"):
        given(None).retire("never active")


def test_a_retired_policy_can_be_activated_again() -> None:
    policy = given(None, lambda p: p.activate(None, PERMIT_ANY), lambda p: p.retire("pause"))
    [activated] = when(policy, lambda p: p.activate(1, PERMIT_ANY))
    assert (activated.version, policy.status) == (1, "active")
