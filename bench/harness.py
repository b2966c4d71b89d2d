"""The measuring frame: a registry of figures, alternating rounds, medians and ratios.

A figure is a function that sets up a system trial and its baseline (as a context manager yielding a Pair)
and is registered with ``@figure(name, aim=...)``. Each round runs both trials, alternating which goes first,
so drift (page cache, WAL growth, a noisy neighbour) hits both; the figure is the median of per-round ratios.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIN_ROUNDS = 5


class SkipFigure(Exception):
    """A figure cannot run here (e.g. its database is unreachable); it is reported, not failed."""


@dataclass(frozen=True)
class Sample:
    """How many operations one trial did, in how many seconds."""

    count: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


Trial = Callable[[], Sample]


@dataclass(frozen=True)
class Pair:
    """The system under test and its baseline, measured in the same units."""

    system: Trial
    baseline: Trial
    note: str = ""
    warmup: Callable[[], None] | None = None


@dataclass(frozen=True)
class Config:
    """What every figure may read: how hard to push, where to put files, which servers to use."""

    rounds: int = MIN_ROUNDS
    quick: bool = False
    workdir: Path = Path(".")
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/test"
    run_id: str = "bench"

    def size(self, full: int, quick: int) -> int:
        """The workload size for this run: ``full`` normally, ``quick`` under ``--quick``."""
        return quick if self.quick else full


FigureSetup = Callable[[Config], AbstractContextManager[Pair]]


@dataclass(frozen=True)
class Figure:
    """A registered figure: its name, the ratio it aims for and how to set it up."""

    name: str
    aim: float
    setup: FigureSetup
    unit: str = "events/s"
    description: str = ""


REGISTRY: dict[str, Figure] = {}


def figure(
    name: str, *, aim: float, unit: str = "events/s", description: str = "", registry: dict[str, Figure] | None = None
) -> Callable[[FigureSetup], FigureSetup]:
    """Registers a figure's setup function under ``name``."""
    target = REGISTRY if registry is None else registry

    def register(setup: FigureSetup) -> FigureSetup:
        if name in target:
            msg = f"figure {name!r} is registered twice"
            raise ValueError(msg)
        target[name] = Figure(name, aim, setup, unit, description or (setup.__doc__ or "").strip())
        return setup

    return register


@dataclass(frozen=True)
class Round:
    """One round: both trials, and which one ran first."""

    system: Sample
    baseline: Sample
    system_first: bool

    @property
    def ratio(self) -> float:
        return self.system.rate / self.baseline.rate


@dataclass
class Result:
    """A figure's outcome: medians over rounds, the median per-round ratio, and whether it meets its aim."""

    name: str
    aim: float
    unit: str
    status: str = "ok"
    note: str = ""
    detail: str = ""
    seconds: float = 0.0
    rounds: list[Round] = field(default_factory=list)

    @property
    def system_rate(self) -> float:
        return statistics.median(r.system.rate for r in self.rounds) if self.rounds else 0.0

    @property
    def baseline_rate(self) -> float:
        return statistics.median(r.baseline.rate for r in self.rounds) if self.rounds else 0.0

    @property
    def ratio(self) -> float:
        return statistics.median(r.ratio for r in self.rounds) if self.rounds else 0.0

    @property
    def met(self) -> bool:
        return self.status == "ok" and self.ratio >= self.aim

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "unit": self.unit,
            "system_rate": self.system_rate,
            "baseline_rate": self.baseline_rate,
            "ratio": self.ratio,
            "aim": self.aim,
            "met": self.met,
            "note": self.note,
            "detail": self.detail,
            "seconds": round(self.seconds, 2),
            "rounds": [_round_json(r) for r in self.rounds],
        }


def _round_json(r: Round) -> dict[str, Any]:
    return {
        "system_first": r.system_first,
        "system": {"count": r.system.count, "seconds": r.system.seconds, "rate": r.system.rate},
        "baseline": {"count": r.baseline.count, "seconds": r.baseline.seconds, "rate": r.baseline.rate},
        "ratio": r.ratio,
    }


def run_rounds(pair: Pair, rounds: int) -> list[Round]:
    """Runs ``rounds`` rounds, the system first in even rounds and the baseline first in odd ones."""
    if rounds < MIN_ROUNDS:
        msg = f"a figure needs at least {MIN_ROUNDS} rounds, not {rounds}"
        raise ValueError(msg)
    done: list[Round] = []
    for index in range(rounds):
        system_first = index % 2 == 0
        if system_first:
            system = pair.system()
            baseline = pair.baseline()
        else:
            baseline = pair.baseline()
            system = pair.system()
        done.append(Round(system, baseline, system_first))
    return done


def measure(spec: Figure, config: Config) -> Result:
    """Sets the figure up, warms it up, runs its rounds and tears it down; failures become a status."""
    result = Result(spec.name, spec.aim, spec.unit)
    started = time.perf_counter()
    try:
        with spec.setup(config) as pair:
            result.note = pair.note
            if pair.warmup is not None:
                pair.warmup()
            result.rounds = run_rounds(pair, config.rounds)
    except SkipFigure as skip:
        result.status, result.detail = "skipped", str(skip)
    except Exception as error:  # one broken figure must not hide the others
        result.status, result.detail = "error", f"{type(error).__name__}: {error}"
        result.rounds = []
        traceback.print_exc()
    result.seconds = time.perf_counter() - started
    return result


def profile(spec: Figure, config: Config, sort: str = "tottime", limit: int = 30) -> str:
    """Sets up and warms the figure, then profiles one system trial (its untimed preparation shows too)."""
    with spec.setup(config) as pair:
        if pair.warmup is not None:
            pair.warmup()
        profiler = cProfile.Profile()
        sample = profiler.runcall(pair.system)
    out = io.StringIO()
    out.write(f"{spec.name}: system {sample.rate:,.0f}/s under the profiler\n")
    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(limit)
    return out.getvalue()


def select(names: list[str] | None, registry: dict[str, Figure] | None = None) -> list[Figure]:
    """The registered figures whose names start with any of ``names`` (all of them when none given)."""
    figures = list((REGISTRY if registry is None else registry).values())
    if not names:
        return figures
    return [f for f in figures if any(f.name.startswith(n) for n in names)]


def timed(action: Callable[[], int]) -> Sample:
    """Runs ``action`` (which returns how many operations it did) under a monotonic clock."""
    started = time.perf_counter()
    count = action()
    return Sample(count, time.perf_counter() - started)


def each(items: list[Any], action: Callable[[Any], object]) -> Callable[[], int]:
    """An action applying ``action`` to every item in turn and returning the item count."""

    def run() -> int:
        for item in items:
            action(item)
        return len(items)

    return run
