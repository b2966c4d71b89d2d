"""Value types: the step order and retry backoff, each said once."""

from __future__ import annotations

import pytest

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
