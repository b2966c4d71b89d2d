"""Service-level objectives: what an SLO is, how a signal is judged against it, and error-budget burn rates.

An SLO says what a module promises (``objective``), which metric shows it (``indicator``), the share of good
events it promises (``target``) and over which window. A measured SLO also names the *signal* it is judged on:
the telemetry emits ``Signal(source, labels, value, outcome)`` as things happen (a request answered, a pipeline
step finished, a webhook delivered, a lag sampled at scrape time), and each SLO whose source and label selector
match counts the signal as good or bad: good when its value is at most the threshold, or, without a threshold,
when its outcome is one of the good ones. An SLO without a source is *planned*: its module is not built yet.

The burn rate over a window is the share of bad events in it divided by the error budget (1 - target): 1 spends
the budget exactly over the SLO window, 14.4 over an hour spends 2% of a 30-day budget (the usual page).
The table itself is in ``objectives.py``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

OK, SERVER_ERROR = "ok", "server_error"
"""The outcome of an HTTP signal: answered (any status below 500), or a server error."""

BURN_WINDOWS: dict[str, float] = {"5m": 300.0, "30m": 1800.0, "1h": 3600.0, "6h": 21600.0}
"""The windows burn rates are exposed for (seconds): pairs of them make multi-window burn-rate alerts."""
BUCKET_SECONDS = 30.0


@dataclass(frozen=True)
class Signal:
    """Something that happened which an SLO may judge: from ``source``, with labels, a value and/or an outcome."""

    source: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class Slo:
    """One promise of one module, with the metric that shows whether it is kept."""

    name: str
    domain: str
    module: str
    objective: str
    indicator: str
    target: float
    window: str = "30d"
    source: str | None = None
    """The signal source judging it; None while the module is not built (a planned SLO)."""
    selector: tuple[tuple[str, str], ...] = ()
    """Labels a signal must carry to count for this SLO."""
    threshold: float | None = None
    """A signal is good when its value is at most this (latency, duration, lag)."""
    good: frozenset[str] = frozenset()
    """Without a threshold: a signal is good when its outcome is one of these."""

    @property
    def measured(self) -> bool:
        return self.source is not None

    @property
    def error_budget(self) -> float:
        return max(1.0 - self.target, 1e-9)

    def judge(self, signal: Signal) -> bool | None:
        """True (good), False (bad), or None when the signal is not one this SLO counts."""
        if signal.source != self.source or any(signal.labels.get(k) != v for k, v in self.selector):
            return None
        if self.threshold is not None:
            return None if signal.value is None else signal.value <= self.threshold
        return None if signal.outcome is None else signal.outcome in self.good


class BurnRates:
    """Good and bad counts per SLO in 30-second buckets over the longest window, for burn rates on scrape.

    In memory, so a restarted process starts from nothing: alert on the PromQL form over
    ``platform_slo_events_total`` when the history must survive restarts.
    """

    def __init__(self, slos: tuple[Slo, ...]) -> None:
        self.slos = {slo.name: slo for slo in slos}
        self._horizon = max(BURN_WINDOWS.values())
        self._buckets: dict[str, deque[list[float]]] = {slo.name: deque() for slo in slos}
        self._lock = threading.Lock()

    def record(self, name: str, good: bool, now: float) -> None:
        start = now - now % BUCKET_SECONDS
        with self._lock:
            buckets = self._buckets[name]
            if not buckets or buckets[-1][0] != start:
                buckets.append([start, 0.0, 0.0])
            buckets[-1][1 if good else 2] += 1
            while buckets and buckets[0][0] <= now - self._horizon - BUCKET_SECONDS:
                buckets.popleft()

    def burn_rate(self, name: str, window: str, now: float) -> float:
        """Bad share over the window divided by the error budget; 0 when nothing was counted in it."""
        since = now - BURN_WINDOWS[window]
        with self._lock:
            counted = [(good, bad) for start, good, bad in self._buckets[name] if start + BUCKET_SECONDS > since]
        good, bad = sum(g for g, _ in counted), sum(b for _, b in counted)
        if not good + bad:
            return 0.0
        return (bad / (good + bad)) / self.slos[name].error_budget


def render_markdown(slos: tuple[Slo, ...]) -> str:
    """An SLO table as Markdown."""
    lines = [
        "| domain | module | objective | indicator (metric) | target | window | SLO (`slo` label) | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for slo in slos:
        status = "measured" if slo.measured else "planned (module not built yet)"
        target = f"{slo.target * 100:g}%"
        indicator = slo.indicator.replace("|", "\\|")
        lines.append(
            f"| {slo.domain} | {slo.module} | {slo.objective} | `{indicator}` | {target} | {slo.window} "
            f"| `{slo.name}` | {status} |"
        )
    return "\n".join(lines) + "\n"
