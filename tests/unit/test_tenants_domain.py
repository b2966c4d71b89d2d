"""Tenant Management rules, read as Given (past events) / When (a command) / Then (new events or an error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import ConflictError, InvalidValueError
from domain.tenants import PLANS, Tenant, TenantNotActiveError, tenant_id_for

Command = Callable[[Tenant], None]


def onboarded(slug: str = "acme") -> list[Any]:
    return Tenant.onboard(slug, "Acme Corp", "standard").collect_events()


def history(*commands: Command) -> list[Any]:
    """The events of an onboarded tenant after these commands."""
    tenant = Tenant.onboard("acme", "Acme Corp", "standard")
    for run in commands:
        run(tenant)
    return tenant.collect_events()


def given(events: list[Any]) -> Tenant:
    """The tenant rebuilt from its past events alone."""
    tenant = None
    for past in events:
        tenant = past.mutate(tenant)
    assert isinstance(tenant, Tenant)
    return tenant


def when(tenant: Tenant, command: Command) -> list[Any]:
    """The new events the command records."""
    command(tenant)
    return tenant.collect_events()


def suspend(tenant: Tenant) -> None:
    tenant.suspend("unpaid invoice")


def reinstate(tenant: Tenant) -> None:
    tenant.reinstate()


def offboard(tenant: Tenant) -> None:
    tenant.offboard("contract ended")


def change_entitlements(tenant: Tenant) -> None:
    tenant.change_entitlements(["exports"], {"rows": 10})


# --- onboarding ------------------------------------------------------------------------------------------


def test_onboarding_records_one_event_on_a_stream_named_by_the_slug() -> None:
    # When
    tenant = Tenant.onboard("acme", "  Acme Corp  ", "trial")
    [new] = tenant.collect_events()
    # Then
    assert isinstance(new, Tenant.Onboarded)
    assert (new.slug, new.display_name, new.plan) == ("acme", "Acme Corp", "trial")
    assert new.originator_id == tenant_id_for("acme") == tenant.id
    assert new.originator_version == 0
    assert (tenant.status, tenant.features, tenant.quotas) == ("active", [], {})


def test_a_slug_names_one_tenant_forever() -> None:
    assert tenant_id_for("acme") == tenant_id_for("acme")
    assert tenant_id_for("acme") != tenant_id_for("acme-2")


@pytest.mark.parametrize("slug", ["a", "acme", "acme-2", "a1-b2-c3", "0day", "a" * 63])
def test_onboarding_accepts_a_valid_slug(slug: str) -> None:
    assert Tenant.onboard(slug, "Acme", "trial").slug == slug


@pytest.mark.parametrize(
    "slug", ["", "Acme", "-acme", "acme-", "ac me", "acme_1", "acmé", "a" * 64, "acme.io", "acme\n", "\nacme"]
)
def test_onboarding_refuses_an_invalid_slug(slug: str) -> None:
    with pytest.raises(InvalidValueError, match="slug"):
        Tenant.onboard(slug, "Acme", "trial")


@pytest.mark.parametrize("display_name", ["", "   ", "x" * 201])
def test_onboarding_refuses_an_empty_or_overlong_display_name(display_name: str) -> None:
    with pytest.raises(InvalidValueError, match="display name"):
        Tenant.onboard("acme", display_name, "trial")


def test_onboarding_accepts_a_display_name_of_200_characters() -> None:
    assert Tenant.onboard("acme", "x" * 200, "trial").display_name == "x" * 200


@pytest.mark.parametrize("plan", PLANS)
def test_onboarding_accepts_every_plan(plan: str) -> None:
    assert Tenant.onboard("acme", "Acme", plan).plan == plan


@pytest.mark.parametrize("plan", ["", "gold", "Trial", " trial"])
def test_onboarding_refuses_an_unknown_plan(plan: str) -> None:
    with pytest.raises(InvalidValueError, match="plan"):
        Tenant.onboard("acme", "Acme", plan)


# --- entitlements ----------------------------------------------------------------------------------------


def test_entitlements_are_recorded_sorted_and_without_duplicates() -> None:
    tenant = given(onboarded())
    # When
    [new] = when(tenant, lambda t: t.change_entitlements(["webhooks", "exports", "webhooks"], {"rows": 5, "api": 0}))
    # Then
    assert isinstance(new, Tenant.EntitlementsChanged)
    assert new.features == ["exports", "webhooks"]
    assert list(new.quotas.items()) == [("api", 0), ("rows", 5)]
    assert new.originator_version == 1
    assert (tenant.features, tenant.quotas) == (["exports", "webhooks"], {"api": 0, "rows": 5})


def test_entitlements_can_be_emptied() -> None:
    tenant = given(history(change_entitlements))
    [new] = when(tenant, lambda t: t.change_entitlements([], {}))
    assert (new.features, new.quotas) == ([], {})


@pytest.mark.parametrize(
    ("features", "quotas"),
    [
        pytest.param(["Exports"], {}, id="feature-uppercase"),
        pytest.param(["1st"], {}, id="feature-starts-with-digit"),
        pytest.param([""], {}, id="feature-empty"),
        pytest.param(["two words"], {}, id="feature-space"),
        pytest.param(["x" * 65], {}, id="feature-65-chars"),
        pytest.param(["exports\n"], {}, id="feature-trailing-newline"),
        pytest.param([], {"rows\n": 1}, id="quota-name-trailing-newline"),
        pytest.param([], {"Rows": 1}, id="quota-name-uppercase"),
        pytest.param([], {"rows": -1}, id="quota-negative"),
        pytest.param([], {"rows": 2**53}, id="quota-over-2-53"),
        pytest.param([], {"rows": 10**30}, id="quota-10-30"),
        pytest.param([], {"rows": True}, id="quota-bool"),
        pytest.param([], {"rows": 1.5}, id="quota-float"),
        pytest.param([], {"rows": "10"}, id="quota-text"),
        pytest.param([], {"rows": None}, id="quota-none"),
    ],
)
def test_invalid_entitlements_are_refused_and_record_nothing(features: list[str], quotas: dict[str, Any]) -> None:
    tenant = given(onboarded())
    with pytest.raises(InvalidValueError):
        tenant.change_entitlements(features, quotas)
    assert tenant.collect_events() == []
    assert (tenant.features, tenant.quotas) == ([], {})


# --- suspension, reinstatement, offboarding --------------------------------------------------------------


def test_an_active_tenant_is_suspended_with_its_reason() -> None:
    tenant = given(onboarded())
    [new] = when(tenant, lambda t: t.suspend("  unpaid invoice "))
    assert isinstance(new, Tenant.Suspended)
    assert new.reason == "unpaid invoice"
    assert tenant.status == "suspended"


def test_a_suspended_tenant_is_reinstated() -> None:
    tenant = given(history(suspend))
    [new] = when(tenant, reinstate)
    assert isinstance(new, Tenant.Reinstated)
    assert tenant.status == "active"


def test_a_reinstated_tenant_takes_commands_again() -> None:
    tenant = given(history(suspend, reinstate))
    [new] = when(tenant, change_entitlements)
    assert isinstance(new, Tenant.EntitlementsChanged)
    assert new.originator_version == 3


def test_an_active_tenant_is_offboarded() -> None:
    tenant = given(history(change_entitlements))
    [new] = when(tenant, offboard)
    assert isinstance(new, Tenant.Offboarded)
    assert new.reason == "contract ended"
    assert tenant.status == "offboarded"


def test_an_active_tenant_cannot_be_reinstated() -> None:
    tenant = given(onboarded())
    with pytest.raises(TenantNotActiveError):
        tenant.reinstate()
    assert tenant.collect_events() == []


@pytest.mark.parametrize("command", [change_entitlements, suspend, offboard], ids=lambda c: c.__name__)
def test_a_suspended_tenant_refuses_every_command_but_reinstate(command: Command) -> None:
    tenant = given(history(suspend))
    with pytest.raises(TenantNotActiveError) as refused:
        command(tenant)
    assert isinstance(refused.value, ConflictError)
    assert tenant.collect_events() == []
    assert tenant.status == "suspended"


@pytest.mark.parametrize("command", [change_entitlements, suspend, reinstate, offboard], ids=lambda c: c.__name__)
def test_offboarding_is_final(command: Command) -> None:
    for past in (history(offboard), history(suspend, reinstate, offboard)):
        tenant = given(past)
        with pytest.raises(TenantNotActiveError, match="offboarded"):
            command(tenant)
        assert tenant.collect_events() == []
        assert tenant.status == "offboarded"


def test_replaying_the_history_gives_the_same_state() -> None:
    live = Tenant.onboard("acme", "Acme Corp", "enterprise")
    change_entitlements(live)
    suspend(live)
    reinstate(live)
    past = live.collect_events()

    rebuilt = given(past)

    assert vars(rebuilt) == vars(live)
    assert [type(e).__name__ for e in past] == ["Onboarded", "EntitlementsChanged", "Suspended", "Reinstated"]


def test_a_quota_out_of_bounds_names_its_field() -> None:
    tenant = given(onboarded())
    with pytest.raises(InvalidValueError, match="from 0 to 9007199254740991") as refused:
        tenant.change_entitlements([], {"rows": 10**30})
    assert refused.value.field == "/quotas/rows"
    assert tenant.collect_events() == []


def test_the_largest_quota_is_2_53_minus_1() -> None:
    tenant = given(onboarded())
    [new] = when(tenant, lambda t: t.change_entitlements([], {"rows": 2**53 - 1, "none": 0}))
    assert new.quotas == {"none": 0, "rows": 2**53 - 1}


# --- erasure carried out ---------------------------------------------------------------------------------------


def test_the_erasure_of_a_tenant_offboarded_with_erase_is_recorded_once() -> None:
    tenant = given(history(lambda t: t.offboard("right to erasure", erase=True)))
    [new] = when(tenant, lambda t: t.record_data_erased(12))
    assert isinstance(new, Tenant.DataErased)
    assert (new.data_key_destroyed, new.files_deleted) == (True, 12)
    again = given([*history(lambda t: t.offboard("right to erasure", erase=True)), new])
    assert when(again, lambda t: t.record_data_erased(0)) == []


@pytest.mark.parametrize("past", [[], [offboard]], ids=["active", "offboarded-without-erase"])
def test_only_a_tenant_offboarded_with_erase_records_an_erasure(past: list[Command]) -> None:
    tenant = given(history(*past))
    with pytest.raises(TenantNotActiveError, match="not offboarded with erasure"):
        tenant.record_data_erased(0)
