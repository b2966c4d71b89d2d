"""Value types: the step order, retry backoff and status words, each said once."""

from __future__ import annotations

import json
from enum import StrEnum

import msgspec
import pytest

from domain import values
from domain.lineage import ObligationStatus
from domain.pipeline import STEPS
from domain.values import Shard, Step, backoff_delay, step_order
from projections.runs import STEP_ORDER


def test_steps_run_in_one_order_everywhere() -> None:
    assert STEPS == ("ingest", "normalize", "build_kpis", "publish")
    assert [step_order(step) for step in STEPS] == [0, 1, 2, 3]
    assert STEP_ORDER == {"ingest": 0, "normalize": 1, "build_kpis": 2, "publish": 3}
    assert step_order(Step.PUBLISH) == 3
    with pytest.raises(ValueError, match="sleep"):
        step_order("sleep")


def test_backoff_doubles_from_the_base_after_each_attempt() -> None:
    assert [backoff_delay(0.5, attempt) for attempt in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_a_shard_exists_only_below_its_count() -> None:
    assert Shard.of(1, 3) == (1, 3)
    with pytest.raises(ValueError, match="shard 3 of 3 does not exist"):
        Shard.of(3, 3)


STATUS_WORDS: dict[type[StrEnum], list[str]] = {
    values.RunStatus: ["running", "dead-lettered", "rejected", "succeeded", "denied"],
    values.StepStatus: ["succeeded", "retrying", "failed", "dead-lettered", "denied", "rejected"],
    values.TenantStatus: ["active", "suspended", "offboarded"],
    values.ContractStatus: ["draft", "proposed", "active", "rejected", "deprecated", "retired"],
    values.PolicyStatus: ["draft", "active", "retired"],
    values.ProductVersionStatus: ["published", "retracted"],
    values.ScheduleStatus: ["active", "paused", "deleted"],
    values.JobRunStatus: ["due", "started", "succeeded", "failed"],
    values.EndpointStatus: ["active", "disabled", "offboarded"],
    values.DeliveryStatus: ["pending", "retrying", "failing", "delivered", "failed"],
    values.PlaybookStatus: ["active", "paused"],
    values.ActionRunStatus: ["running", "awaiting_approval", "rejected", "failed", "delivered"],
    values.ApiKeyStatus: ["active", "revoked"],
    values.SecretStatus: ["active", "deleted"],
    values.ExportStatus: ["requested", "completed", "failed"],
    values.DeadLetterStatus: ["open", "retrying", "resolved", "discarded"],
    ObligationStatus: ["satisfied", "violated", "pending"],
}
"""The words read models, lineage and the API have always shown: an enum may name them, never change them."""


def test_every_status_enum_of_the_domain_is_listed_with_its_words() -> None:
    declared = {
        v for v in vars(values).values() if isinstance(v, type) and issubclass(v, StrEnum) and v not in (StrEnum, Step)
    }
    assert declared | {ObligationStatus} == set(STATUS_WORDS)


@pytest.mark.parametrize("enum", list(STATUS_WORDS), ids=lambda e: e.__name__)
def test_a_status_is_stored_and_served_as_the_word_it_always_was(enum: type[StrEnum]) -> None:
    assert [member.value for member in enum] == STATUS_WORDS[enum]
    for member in enum:
        assert json.dumps({"status": member}) == json.dumps({"status": member.value})
        assert msgspec.json.encode(member) == msgspec.json.encode(member.value)
        assert f"{member}" == member.value
        assert hash(member) == hash(member.value)  # a dict of read-model rows finds it by its word
