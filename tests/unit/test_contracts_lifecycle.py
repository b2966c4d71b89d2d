"""Data contract lifecycle, read as Given (past events) / When (a command) / Then (new events or an error)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from domain.contracts import (
    MAX_DOCUMENT_BYTES,
    BreakingChangeError,
    ContractInvalidError,
    DataContract,
    FourEyesError,
    LifecycleError,
    VersionExistsError,
    VersionNotFoundError,
    canonical_json,
    contract_id_for,
    read_contract,
)
from domain.errors import InvalidValueError
from eventstore.blobs import InMemoryBlobs
from eventstore.codec import MAX_EVENT_BYTES, decode, encode
from eventstore.envelope import Metadata

TENANT = "4f9a1c52-0000-4000-8000-000000000001"
AUTHOR, STEWARD, OTHER_STEWARD = "engineer-1", "steward-1", "steward-2"
Command = Callable[[DataContract], None]


def document(version: str = "1.0.0", **changes: Any) -> dict[str, Any]:
    """An ODCS v3 orders contract; keyword arguments replace top-level keys or (``fields``) the properties."""
    fields = [
        {"name": "order_id", "logicalType": "string", "required": True, "primaryKey": True},
        {"name": "amount", "logicalType": "number", "quality": [{"metric": "nullValues", "mustBe": 0}]},
        {"name": "ordered_at", "logicalType": "timestamp"},
    ]
    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "orders",
        "version": version,
        "name": "Orders",
        "schema": [{"name": "orders", "properties": changes.pop("fields", fields)}],
    }
    return doc | changes


def with_field(doc: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    changed["schema"][0]["properties"].append(field)
    return changed


def drafted(doc: dict[str, Any] | None = None, by: str = AUTHOR) -> list[Any]:
    return DataContract.draft(TENANT, read_contract(doc or document()), by).collect_events()


def given(*histories: list[Any]) -> DataContract:
    """The contract rebuilt from its past events alone."""
    contract = None
    for past in (event for history in histories for event in history):
        contract = past.mutate(contract)
    assert isinstance(contract, DataContract)
    return contract


def when(contract: DataContract, command: Command) -> list[Any]:
    command(contract)
    return contract.collect_events()


def approved(version: str = "1.0.0", by: str = STEWARD) -> Command:
    def run(contract: DataContract) -> None:
        contract.propose(version, AUTHOR)
        contract.approve(version, by)

    return run


def active_v1() -> DataContract:
    contract = given(drafted())
    return given(drafted(), when(contract, approved()))


def add(doc: dict[str, Any], by: str = AUTHOR) -> Command:
    return lambda contract: contract.add_version(read_contract(doc), by)


# --- drafting ---------------------------------------------------------------------------------------------


def test_drafting_records_the_normalized_document_its_hash_and_its_typed_form() -> None:
    [new] = drafted()
    assert isinstance(new, DataContract.Drafted)
    assert new.originator_id == contract_id_for(TENANT, "orders")
    assert (new.tenant_id, new.key, new.version, new.by) == (TENANT, "orders", "1.0.0", AUTHOR)
    assert new.document == document()
    assert len(new.sha256) == 64
    assert [f["name"] for f in new.spec["objects"][0]["fields"]] == ["order_id", "amount", "ordered_at"]
    assert given([new]).versions["1.0.0"].status == "draft"


def test_the_same_contract_id_in_two_tenants_names_two_contracts() -> None:
    assert contract_id_for(TENANT, "orders") != contract_id_for("another-tenant", "orders")


# --- propose, approve (four eyes), reject --------------------------------------------------------------------


def test_a_proposed_version_approved_by_another_steward_becomes_active() -> None:
    contract = given(drafted())
    [proposed, approval] = when(contract, approved(by=STEWARD))
    assert isinstance(proposed, DataContract.Proposed)
    assert isinstance(approval, DataContract.Approved)
    assert (approval.version, approval.by, approval.superseded) == ("1.0.0", STEWARD, None)
    assert (contract.current, contract.versions["1.0.0"].status) == ("1.0.0", "active")


def test_the_author_of_a_version_may_not_approve_it() -> None:
    contract = given(drafted(by=STEWARD))
    contract.propose("1.0.0", STEWARD)
    contract.collect_events()
    with pytest.raises(FourEyesError):
        contract.approve("1.0.0", STEWARD)
    assert contract.collect_events() == []
    assert [type(e) for e in when(contract, lambda c: c.approve("1.0.0", OTHER_STEWARD))] == [DataContract.Approved]


def test_four_eyes_looks_at_the_author_of_that_version_not_of_the_contract() -> None:
    contract = active_v1()
    when(contract, add(with_field(document("1.1.0"), {"name": "note", "logicalType": "string"}), by=STEWARD))
    contract.propose("1.1.0", AUTHOR)
    with pytest.raises(FourEyesError):
        contract.approve("1.1.0", STEWARD)
    contract.approve("1.1.0", AUTHOR)  # the author of 1.0.0 may approve 1.1.0, which someone else drafted
    assert contract.current == "1.1.0"


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (lambda c: c.approve("1.0.0", STEWARD), LifecycleError),
        (lambda c: c.reject("1.0.0", STEWARD, "no"), LifecycleError),
        (lambda c: c.deprecate("1.0.0", STEWARD), LifecycleError),
        (lambda c: c.retire("1.0.0", STEWARD), LifecycleError),
        (lambda c: c.propose("9.9.9", AUTHOR), VersionNotFoundError),
    ],
    ids=["approve-a-draft", "reject-a-draft", "deprecate-a-draft", "retire-a-draft", "unknown-version"],
)
def test_commands_out_of_turn_are_refused_and_record_nothing(command: Command, error: type[Exception]) -> None:
    contract = given(drafted())
    with pytest.raises(error):
        command(contract)
    assert contract.collect_events() == []


def test_a_rejection_needs_a_reason_and_is_final() -> None:
    contract = given(drafted())
    contract.propose("1.0.0", AUTHOR)
    with pytest.raises(InvalidValueError):
        contract.reject("1.0.0", STEWARD, "   ")
    contract.reject("1.0.0", STEWARD, "  amount needs a currency  ")
    rejected = contract.collect_events()[-1]
    assert (rejected.reason, contract.versions["1.0.0"].status) == ("amount needs a currency", "rejected")
    for again in (lambda c: c.propose("1.0.0", AUTHOR), lambda c: c.approve("1.0.0", STEWARD)):
        with pytest.raises(LifecycleError):
            again(contract)


# --- deprecate, retire, supersede ---------------------------------------------------------------------------


def test_approving_a_newer_version_deprecates_the_one_it_supersedes() -> None:
    contract = active_v1()
    when(contract, add(document("1.0.1")))
    [_, approval] = when(contract, approved("1.0.1"))
    assert approval.superseded == "1.0.0"
    assert {v: s.status for v, s in contract.versions.items()} == {"1.0.0": "deprecated", "1.0.1": "active"}


def test_a_deprecated_version_stays_in_force_until_it_is_retired() -> None:
    contract = active_v1()
    [deprecated] = when(contract, lambda c: c.deprecate("1.0.0", STEWARD, "moving to 2.x"))
    assert (deprecated.reason, contract.current) == ("moving to 2.x", "1.0.0")
    [retired] = when(contract, lambda c: c.retire("1.0.0", STEWARD))
    assert isinstance(retired, DataContract.Retired)
    assert (contract.current, contract.versions["1.0.0"].status) == (None, "retired")
    with pytest.raises(LifecycleError):
        contract.retire("1.0.0", STEWARD)


# --- versions and breaking changes -----------------------------------------------------------------------------


def test_versions_only_go_up_and_are_never_replaced() -> None:
    contract = active_v1()
    with pytest.raises(VersionExistsError):
        contract.add_version(read_contract(document("1.0.0+build.7")), AUTHOR)
    with pytest.raises(ContractInvalidError) as lower:
        contract.add_version(read_contract(document("0.9.0")), AUTHOR)
    assert lower.value.issues[0][0] == "/version"
    assert contract.collect_events() == []


def test_a_version_of_another_contract_is_refused() -> None:
    with pytest.raises(ContractInvalidError) as refused:
        active_v1().add_version(read_contract(document("1.1.0", id="invoices")), AUTHOR)
    assert refused.value.issues[0][0] == "/id"


def test_a_compatible_version_is_drafted_against_the_active_one() -> None:
    contract = active_v1()
    [new] = when(contract, add(with_field(document("1.1.0"), {"name": "note", "logicalType": "string"})))
    assert isinstance(new, DataContract.VersionDrafted)
    assert (new.version, new.base_version, new.by) == ("1.1.0", "1.0.0", AUTHOR)
    assert [f["name"] for f in new.spec["objects"][0]["fields"]][-1] == "note"
    assert contract.versions["1.1.0"].status == "draft"


BREAKING = [
    pytest.param(document(fields=[{"name": "order_id", "logicalType": "string", "primaryKey": True}]), id="removed"),
    pytest.param(with_field(document(), {"name": "tax", "logicalType": "number", "required": True}), id="required"),
]


@pytest.mark.parametrize("changed", BREAKING)
def test_a_breaking_change_needs_a_major_bump(changed: dict[str, Any]) -> None:
    contract = active_v1()
    with pytest.raises(BreakingChangeError) as refused:
        contract.add_version(read_contract(changed | {"version": "1.1.0"}), AUTHOR)
    assert refused.value.changes
    assert all(c["breaking"] for c in refused.value.changes)
    assert contract.collect_events() == []
    [new] = when(contract, add(changed | {"version": "2.0.0"}))
    assert (new.version, new.base_version) == ("2.0.0", "1.0.0")


def test_approval_checks_again_against_the_version_active_by_then() -> None:
    contract = active_v1()
    when(contract, add(with_field(document("1.1.0"), {"name": "note", "logicalType": "string"})))
    when(contract, add(document("1.2.0")))  # compatible with 1.0.0, but it drops 1.1.0's note
    when(contract, approved("1.1.0"))
    contract.propose("1.2.0", AUTHOR)
    with pytest.raises(BreakingChangeError):
        contract.approve("1.2.0", STEWARD)


def test_an_older_version_cannot_be_approved_over_a_newer_active_one() -> None:
    contract = active_v1()
    when(contract, add(document("1.1.0")))
    when(contract, add(document("1.2.0")))
    when(contract, approved("1.2.0"))
    contract.propose("1.1.0", AUTHOR)
    with pytest.raises(LifecycleError):
        contract.approve("1.1.0", STEWARD)


# --- size -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["long-descriptions", "many-fields"])
def test_the_largest_contract_accepted_keeps_its_event_small(shape: str) -> None:
    """Document and typed form are stored apart: the event carries their SHA-256 only."""
    doc = document()
    if shape == "long-descriptions":
        doc["description"] = {"purpose": "x" * (MAX_DOCUMENT_BYTES - len(canonical_json(doc)) - 100)}
    else:
        doc["schema"][0]["properties"] = [{"name": f"f{i:04}", "logicalType": "string"} for i in range(6000)]
    [drafted_event] = DataContract.draft(TENANT, read_contract(doc), AUTHOR).collect_events()
    meta = Metadata(
        event_id="e" * 36,
        tenant_id=TENANT,
        actor=AUTHOR,
        command_id="c" * 200,
        correlation_id="r" * 200,
        causation_id=None,
        traceparent="00-" + "0" * 32 + "-" + "0" * 16 + "-01",
        recorded_at="2026-01-01T00:00:00+00:00",
        schema_version=1,
    )
    blobs = InMemoryBlobs()

    stored = encode(drafted_event, meta, blobs=blobs)

    assert len(stored.state) < 4096 < MAX_EVENT_BYTES
    assert (TENANT, drafted_event.sha256) in blobs.blobs
    assert decode(1, stored, blobs=blobs).event.document == drafted_event.document
