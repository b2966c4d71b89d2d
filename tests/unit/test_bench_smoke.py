"""The bench harness on scripted trials (no databases): alternating order, median per-round ratio, the aim."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.harness import Config, Figure, Pair, Sample, SkipFigure, Trial, figure, measure, run_rounds, select


def scripted(rates: list[int], calls: list[str], label: str) -> Trial:
    """A trial that reports the given rates in turn (count per one second) and logs when it runs."""
    remaining = iter(rates)

    def trial() -> Sample:
        calls.append(label)
        return Sample(count=next(remaining), seconds=1.0)

    return trial


def toy_registry(system: list[int], baseline: list[int], calls: list[str], aim: float) -> dict[str, Figure]:
    registry: dict[str, Figure] = {}

    @figure("toy.pair", aim=aim, registry=registry)
    @contextmanager
    def toy(config: Config) -> Iterator[Pair]:
        yield Pair(scripted(system, calls, "system"), scripted(baseline, calls, "baseline"), note="toy")

    @figure("other.skipped", aim=aim, registry=registry)
    @contextmanager
    def skipped(config: Config) -> Iterator[Pair]:
        raise SkipFigure("no server here")
        yield Pair(scripted([], calls, "never"), scripted([], calls, "never"))

    return registry


def test_rounds_alternate_and_the_figure_is_the_median_of_per_round_ratios() -> None:
    calls: list[str] = []
    # per-round ratios 0.5, 0.3, 0.4, 10, 1.1: median 0.5 (the ratio of the medians would be 55 / 100 = 0.55)
    registry = toy_registry([50, 60, 40, 1000, 55], [100, 200, 100, 100, 50], calls, aim=0.5)

    result = measure(registry["toy.pair"], Config())

    assert calls == ["system", "baseline", "baseline", "system"] * 2 + ["system", "baseline"]
    assert [r.system_first for r in result.rounds] == [True, False, True, False, True]
    assert (result.status, result.note) == ("ok", "toy")
    assert result.ratio == pytest.approx(0.5)
    assert (result.system_rate, result.baseline_rate) == (55, 100)
    assert result.met
    assert not measure(toy_registry([50] * 5, [100] * 5, [], aim=0.6)["toy.pair"], Config()).met


def test_skips_and_errors_are_reported_not_raised_and_rounds_are_at_least_five() -> None:
    registry = toy_registry([1] * 5, [1] * 5, [], aim=1.0)
    broken = measure(toy_registry([1], [1], [], aim=1.0)["toy.pair"], Config())  # runs out after one round

    assert measure(registry["other.skipped"], Config()).status == "skipped"
    assert (broken.status, broken.met, broken.rounds) == ("error", False, [])
    assert [f.name for f in select(["toy"], registry)] == ["toy.pair"]
    with pytest.raises(ValueError, match="at least 5"):
        run_rounds(Pair(scripted([1] * 4, [], "s"), scripted([1] * 4, [], "b")), rounds=4)
