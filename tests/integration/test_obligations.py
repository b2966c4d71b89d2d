"""Lineage obligations: the rules as data, their pure evaluation (given facts, then this verdict), and the results
the lineage read model gives for a log (given these events, then these results), checksums included."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar
from uuid import uuid4

import pytest
from lineage_story import (
    ENGINEER_EVENTS,
    FILES,
    KPI,
    RAW,
    START,
    STEWARD_EVENTS,
    TENANT,
    Seen,
    contract,
    export,
    log,
    pipeline_run,
    principal,
    project,
    the_story,
)

from adapters.datasets.store import DatasetStore
from adapters.lineage.obligations import count_violations, results, verify_checksums
from domain import lineage as ln
from domain.access import Principal
from domain.aggregate import Aggregate
from tests.data_keys import data_keys

SUBJECT = "product_version:p:1"
APPROVED = ln.ContractVersion("retail-sales", "1.0.0", "engineer", ln.Approval("steward", ("data-steward",), 7))
GOOD = ln.Facts(SUBJECT, ln.PRODUCT_VERSION, "retail-sales v1", APPROVED, (ln.RawBatch("t/raw/a.csv", "a" * 64),))
O1, O2, O3 = ln.in_force()


def verdict(obligation: ln.Obligation, facts: ln.Facts) -> tuple[str, tuple[str, ...]]:
    found = ln.evaluate(obligation, facts)
    return found.status, found.reasons


# --- the rules as data


def test_every_requirement_names_a_check_and_every_obligation_is_versioned() -> None:
    assert [o.id for o in ln.in_force()] == ["O1", "O2", "O3"]
    assert all(r.check in ln.CHECKS for o in ln.OBLIGATIONS for r in o.requires)
    assert all(o.version >= 1 and o.statement for o in ln.OBLIGATIONS)
    assert O1.as_dict()["requires"][1] == {"check": "approver_held_role", "params": {"role": "data-steward"}}


def test_the_latest_version_of_an_obligation_is_the_one_in_force_and_results_name_it() -> None:
    stricter = replace(
        O1, version=2, requires=(*O1.requires, ln.Requirement("approver_held_role", (("role", "tenant-admin"),)))
    )
    assert ln.in_force([stricter, O1, O2]) == (stricter, O2)
    [result] = ln.evaluate_all([GOOD], [stricter])
    assert (result.version, result.status) == (2, "violated")
    assert "not tenant-admin" in result.reasons[0]


# --- O1: approved by a steward who is not the author


@pytest.mark.parametrize(
    ("contract", "status", "reason"),
    [
        (APPROVED, "satisfied", None),
        (replace(APPROVED, approval=None), "violated", "was never approved"),
        (replace(APPROVED, author=None, approval=None), "violated", "is not in the log"),
        (replace(APPROVED, approval=ln.Approval("admin", ("platform-admin",), 7)), "violated", "held platform-admin"),
        (replace(APPROVED, approval=ln.Approval("steward", (), 7)), "violated", "held no role"),
        (replace(APPROVED, author="steward"), "violated", "approved by its own author steward"),
        (None, "violated", "names no contract version"),
    ],
    ids=["steward", "unapproved", "unknown-version", "platform-admin", "no-role", "own-author", "no-contract"],
)
def test_o1(contract: ln.ContractVersion | None, status: str, reason: str | None) -> None:
    found, reasons = verdict(O1, replace(GOOD, contract=contract))
    assert found == status
    assert (reason is None and reasons == ()) or any(reason in r for r in reasons), reasons


# --- O2: traces to raw batches whose checksums verify


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({}, "satisfied", None),
        ({"raw_batches": ()}, "violated", "no raw batch"),
        ({"gaps": ("no recorded step produced t/gdp/x",)}, "violated", "no recorded step produced"),
        ({"waiting_for": ("publish of run r",)}, "pending", "publish of run r has not finished"),
        ({"raw_batches": (ln.RawBatch("t/raw/a.csv", "a" * 64, True),)}, "satisfied", None),
        ({"raw_batches": (ln.RawBatch("t/raw/a.csv", "a" * 64, False, "it is missing"),)}, "violated", "it is missing"),
    ],
    ids=["traced", "no-raw", "gap", "unfinished", "verified", "checksum-fails"],
)
def test_o2(change: dict[str, Any], status: str, reason: str | None) -> None:
    found, reasons = verdict(O2, replace(GOOD, **change))
    assert found == status
    assert (reason is None and reasons == ()) or any(reason in r for r in reasons), reasons


def test_a_violation_outranks_a_pending_step_and_only_its_own_reasons_are_given() -> None:
    facts = replace(GOOD, waiting_for=("publish of run r",), raw_batches=(ln.RawBatch("k", "s", False, "altered"),))
    assert verdict(O2, facts) == ("violated", ("raw batch k fails its checksum: altered",))


# --- O3: delivered actions cite their KPI version


@pytest.mark.parametrize(
    ("cited", "known", "status"),
    [("a" * 64, True, "satisfied"), (None, False, "violated"), ("b" * 64, False, "violated")],
    ids=["cited", "uncited", "unknown-kpi"],
)
def test_o3(cited: str | None, known: bool, status: str) -> None:
    action = ln.Facts("action:x:1", ln.ACTION, "action x", cited_kpi=cited, kpi_known=known)
    assert verdict(O3, action)[0] == status


def test_an_obligation_decides_only_its_own_subjects() -> None:
    with pytest.raises(ValueError, match="about action nodes"):
        ln.evaluate(O3, GOOD)
    assert [r.obligation for r in ln.evaluate_all([GOOD])] == ["O1", "O2"]


# --- from events: given a log, then these results


def results_of(tmp_path: Path, events: list[Seen], store: DatasetStore | None = None) -> dict[str, ln.Result]:
    read_models = project(tmp_path, events)
    with read_models.engine.connect() as connection:
        found = results(connection, TENANT, store)
    read_models.close()
    return {f"{r.obligation}:{r.label}": r for r in found}


def test_a_version_made_under_a_contract_a_steward_approved_from_an_ingested_batch_meets_every_obligation(
    tmp_path: Path,
) -> None:
    _, events = the_story()
    found = results_of(tmp_path, events)
    assert {k: r.status for k, r in found.items()} == {
        "O1:retail-sales v1": "satisfied",
        "O2:retail-sales v1": "satisfied",
    }


def test_an_approver_is_judged_by_the_roles_held_at_approval_not_later(tmp_path: Path) -> None:
    run = pipeline_run()
    steward = Principal.register("person", "test", "steward", "Steward", TENANT)
    steward.grant("data-steward")
    steward.collect_events()
    steward.revoke("data-steward")
    later = list(steward.collect_events())  # the steward loses the role after approving
    events = log(ENGINEER_EVENTS, STEWARD_EVENTS, contract(), later, run.steps, run.product, run.published)
    assert results_of(tmp_path, events)["O1:retail-sales v1"].status == "satisfied"


def test_a_contract_approved_by_a_platform_admin_who_is_no_steward_breaks_o1(tmp_path: Path) -> None:
    run = pipeline_run()
    admin, admin_events = principal("admin", "platform-admin", tenant=None)
    events = log(ENGINEER_EVENTS, admin_events, contract(approver=admin), run.steps, run.product, run.published)
    found = results_of(tmp_path, events)["O1:retail-sales v1"]
    assert found.status == "violated"
    assert found.reasons == (f"its approver {admin} held platform-admin at approval time, not data-steward",)


def test_a_steward_role_granted_only_after_the_approval_does_not_count(tmp_path: Path) -> None:
    run = pipeline_run()
    late, late_events = principal("late", "data-steward")
    [registered, granted] = late_events
    events = log(ENGINEER_EVENTS, [registered], contract(approver=late), [granted], run.steps, run.product)
    assert results_of(tmp_path, events)["O1:retail-sales v1"].status == "violated"


def test_a_version_whose_run_has_not_recorded_its_publish_step_is_pending_then_satisfied(tmp_path: Path) -> None:
    run = pipeline_run()
    before = log(ENGINEER_EVENTS, STEWARD_EVENTS, contract(), run.steps, run.product)
    pending = results_of(tmp_path / "before", before)["O2:retail-sales v1"]
    assert (pending.status, pending.reasons) == ("pending", (f"publish of run {run.run_id} has not finished",))
    after = log(ENGINEER_EVENTS, STEWARD_EVENTS, contract(), run.steps, run.product, run.published)
    assert results_of(tmp_path / "after", after)["O2:retail-sales v1"].status == "satisfied"


def test_a_version_whose_inputs_no_step_produced_breaks_o2(tmp_path: Path) -> None:
    run = pipeline_run()
    # The run's own ingest and normalize are missing from the log: the golden data points come from nowhere.
    events = log(ENGINEER_EVENTS, STEWARD_EVENTS, contract(), run.steps[2:], run.product, run.published)
    found = results_of(tmp_path, events)["O2:retail-sales v1"]
    assert found.status == "violated"
    assert any(reason.startswith("no recorded step produced") and "/gdp/" in reason for reason in found.reasons)


@pytest.fixture
def stored(tmp_path: Path) -> DatasetStore:
    store = DatasetStore.open(str(tmp_path / "datasets"), tmp_path / "scratch", data_keys(tmp_path / "keys"))
    for key, data in FILES.items():
        store.put_bytes(key, data)
    return store


def test_raw_checksums_verify_until_the_stored_bytes_are_altered(tmp_path: Path, stored: DatasetStore) -> None:
    _, events = the_story()
    read_models = project(tmp_path, events)
    with read_models.engine.connect() as connection:
        assert verify_checksums(stored, connection, TENANT) == []
        path = tmp_path / "datasets" / RAW["key"]
        os.chmod(path, 0o640)
        path.write_bytes(b"altered")
        [violation] = verify_checksums(stored, connection, TENANT)
        unchecked = results(connection, TENANT)
    read_models.close()
    assert (violation.obligation, violation.status) == ("O2", "violated")
    assert violation.reasons[0].startswith(f"raw batch {RAW['key']} fails its checksum")
    assert all(r.status == "satisfied" for r in unchecked)  # without a store nothing is hashed again


class ActionDelivered(Aggregate.Event):
    lineage_subject: ClassVar[str] = ln.ACTION_DELIVERED
    kpi_sha256: str | None


def delivered(kpi: str | None) -> Any:
    return ActionDelivered(originator_id=uuid4(), originator_version=1, timestamp=START, kpi_sha256=kpi)


def test_o3_holds_vacuously_until_actions_are_delivered_then_each_must_cite_a_kpi_version(tmp_path: Path) -> None:
    run, events = the_story()
    assert not [r for r in results_of(tmp_path / "none", events).values() if r.obligation == "O3"]
    actions = [delivered(KPI["sha256"]), delivered(None), delivered("f" * 64)]
    found = results_of(tmp_path / "some", log(ENGINEER_EVENTS, STEWARD_EVENTS, contract(), run.steps, actions))
    assert sorted(r.status for r in found.values() if r.obligation == "O3") == ["satisfied", "violated", "violated"]


def test_violations_are_counted_per_tenant_and_obligation(tmp_path: Path) -> None:
    run = pipeline_run()
    admin, admin_events = principal("admin", "platform-admin", tenant=None)
    parts = (ENGINEER_EVENTS, admin_events, contract(approver=admin), run.steps, run.product, run.published)
    read_models = project(tmp_path, log(*parts, export(run)))
    with read_models.engine.connect() as connection:
        assert count_violations(connection) == {(TENANT, "O1"): 1, (TENANT, "O2"): 0, (TENANT, "O3"): 0}
        assert count_violations(connection, "other") == {("other", "O1"): 0, ("other", "O2"): 0, ("other", "O3"): 0}
    read_models.close()
