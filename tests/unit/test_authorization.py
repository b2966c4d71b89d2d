"""The one authorization path over the real policy engine: pipeline steps as the platform acting for the tenant,
refusals recorded as denials (in the platform's log when the tenant is hidden), and the switched-off path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from adapters.auth.cedar import PolicyDocument, PolicyEngine
from application.authorization import (
    HIDDEN_REASON,
    PIPELINE_STEPS,
    Authorization,
    Decision,
    Identity,
    PermitAll,
    Refused,
    Resource,
    TenantHidden,
    acting_for,
)
from application.commands import CommandContext

T = "6f1d2c7e-5b8a-4c1e-9a55-0c3e2f7b9d10"
OTHER = "0b7f5a8e-2c44-4f0e-8d0a-5f3b1c9e7a21"
ENGINEER = Identity("p-engineer", "person", T, ("data-engineer",), "jwt")
STRANGER = Identity("p-stranger", "person", OTHER, ("tenant-admin",), "jwt")
COMMAND = CommandContext("p-engineer", "command-1", "correlation-1")


@dataclass
class TenantNow:
    status: str
    features: list[str]


@dataclass
class Recorded:
    """Hand-written fakes of the ports the service writes to: the decision log, denials, the tenants' state."""

    tenants: dict[str, TenantNow] = field(default_factory=dict)
    decisions: list[tuple[str, str, bool]] = field(default_factory=list)
    denials: list[tuple[str, list[str], str | None]] = field(default_factory=list)

    def current_tenant(self, tenant_id: UUID) -> TenantNow | None:
        return self.tenants.get(str(tenant_id))

    def record(self, identity: Identity, action: str, resource: Resource, decision: Decision) -> None:
        self.decisions.append((identity.principal_id, action, decision.allowed))

    def record_denial(self, context: CommandContext, principal_id: str | None, *args: Any) -> None:
        action, _resource, reasons, tenant_id = args
        self.denials.append((action, reasons, tenant_id))


class Documents:
    """The engine's document source: the active documents and a counter."""

    def __init__(self) -> None:
        self.counter, self.active = 0, list[PolicyDocument]()

    def version(self) -> int:
        return self.counter

    def documents(self) -> list[PolicyDocument]:
        return self.active


@pytest.fixture
def documents() -> Documents:
    return Documents()


@pytest.fixture
def engine(documents: Documents) -> Iterator[PolicyEngine]:
    engine = PolicyEngine(source=documents, refresh_interval=60)
    yield engine
    engine.close()


@pytest.fixture
def recorded() -> Recorded:
    return Recorded(tenants={T: TenantNow("active", ["ingestion"])})


@pytest.fixture
def authorization(engine: PolicyEngine, recorded: Recorded) -> Authorization:
    return Authorization(engine, recorded, recorded, recorded)


def activate(engine: PolicyEngine, documents: Documents, *active: PolicyDocument) -> None:
    documents.active, documents.counter = list(active), documents.counter + 1
    engine.refresh()


def test_the_platform_runs_the_steps_of_an_active_entitled_tenant(
    authorization: Authorization, recorded: Recorded
) -> None:
    assert PIPELINE_STEPS == ("normalize_batch", "build_kpis", "publish_product")
    for step in PIPELINE_STEPS:
        assert authorization.authorize_step(T, step) == []
    assert recorded.decisions == [("platform", step, True) for step in PIPELINE_STEPS]


def test_a_suspended_tenants_steps_are_refused_naming_the_suspension(
    authorization: Authorization, recorded: Recorded
) -> None:
    recorded.tenants[T].status = "suspended"
    reasons = authorization.authorize_step(T, "build_kpis")
    assert reasons[0] == "the tenant is suspended, so it accepts no changes until it is reinstated"
    assert "forbidden by pipeline-steps-run-only-for-an-active-tenant" in reasons
    assert recorded.decisions == [("platform", "build_kpis", False)]
    assert recorded.denials == []  # the process manager records the refusal on the run


def test_steps_of_a_landed_batch_need_the_tenant_active_not_still_entitled(
    authorization: Authorization, recorded: Recorded
) -> None:
    recorded.tenants[T].features = []  # the entitlement was checked when the batch landed (land_batch)
    assert authorization.authorize_step(T, "normalize_batch") == []
    assert authorization.authorize_step(OTHER, "normalize_batch") != []  # no such tenant


def test_a_tenant_policy_can_forbid_a_step_of_its_own_pipeline_only(
    authorization: Authorization, recorded: Recorded, engine: PolicyEngine, documents: Documents
) -> None:
    recorded.tenants[OTHER] = TenantNow("active", ["ingestion"])
    hold = f'@id("hold") forbid (principal, action == Action::"publish_product", resource == Tenant::"{T}");'
    activate(engine, documents, PolicyDocument("hold", 1, T, hold))
    assert authorization.authorize_step(T, "publish_product") == [f"forbidden by tenant:{T}/hold@1/hold"]
    assert authorization.authorize_step(T, "build_kpis") == []
    assert authorization.authorize_step(OTHER, "publish_product") == []


def test_a_platform_policy_can_forbid_steps(
    authorization: Authorization, engine: PolicyEngine, documents: Documents
) -> None:
    freeze = '@id("freeze") forbid (principal, action in Action::"pipeline_steps", resource);'
    activate(engine, documents, PolicyDocument("freeze", 1, None, freeze))
    assert authorization.authorize_step(T, "normalize_batch") == ["forbidden by platform/freeze@1/freeze"]


def test_the_platform_acting_for_a_tenant_may_do_nothing_but_its_steps(engine: PolicyEngine) -> None:
    own = Resource.tenant(T, "active", ["ingestion"])
    assert not engine.authorize(acting_for(T), "read_tenant", own).allowed
    assert not engine.authorize(acting_for(T), "list_tenants", Resource.platform()).allowed
    assert not engine.authorize(acting_for(OTHER), "build_kpis", own).allowed


def test_a_refused_command_is_recorded_and_explained(authorization: Authorization, recorded: Recorded) -> None:
    recorded.tenants[T].status = "suspended"
    resource = authorization.tenant_now(T)
    assert resource is not None
    with pytest.raises(Refused) as refused:
        authorization.require(ENGINEER, "land_batch", resource, {"contract_status": "active"}, command=COMMAND)
    assert str(refused.value).startswith(
        "this batch may not land: the tenant is suspended, so it accepts no changes until it is reinstated ("
    )
    [(action, reasons, tenant_id)] = recorded.denials
    assert (action, tenant_id) == ("land_batch", T)
    assert "forbidden by batches-land-only-under-an-active-contract-of-an-entitled-tenant" in reasons


def test_a_refused_query_records_no_denial(authorization: Authorization, recorded: Recorded) -> None:
    with pytest.raises(Refused, match=r"^verify_lineage_checksums is not permitted here$"):
        authorization.require(ENGINEER, "verify_lineage_checksums", Resource.tenant(T, "active", []))
    assert recorded.denials == []
    assert recorded.decisions == [("p-engineer", "verify_lineage_checksums", False)]


def test_a_tenant_the_caller_may_not_see_is_hidden_and_its_denial_kept_by_the_platform(
    authorization: Authorization, recorded: Recorded
) -> None:
    resource = Resource.tenant(T, "active", ["ingestion"])
    decision = authorization.decide(STRANGER, "suspend_tenant", resource)
    with pytest.raises(TenantHidden, match=f"^no such tenant: {T.upper()}$"):
        authorization.refuse(STRANGER, "suspend_tenant", resource, decision, command=COMMAND, named=T.upper())
    assert recorded.denials == [("suspend_tenant", [HIDDEN_REASON], None)]


def test_with_authorization_off_everything_is_permitted(recorded: Recorded) -> None:
    recorded.tenants[T].status = "suspended"
    authorization = Authorization(PermitAll(), recorded, recorded, recorded)
    assert authorization.authorize_step(T, "publish_product") == []
    authorization.require(STRANGER, "land_batch", Resource.tenant(T, "suspended", []), command=COMMAND)
    assert recorded.denials == []
