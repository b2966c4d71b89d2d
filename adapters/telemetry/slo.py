"""Every module's service-level objectives, in one table, and the signals that judge them.

An SLO says what a module promises (``objective``), which metric shows it (``indicator``), the share of good
events it promises (``target``) and over which window. A measured SLO also names the *signal* it is judged on:
the telemetry calls ``Signal(source, labels, value, outcome)`` as things happen (a request answered, a pipeline
step finished, a webhook delivered, a lag sampled at scrape time), and each SLO whose source and label selector
match counts the signal as good or bad: good when its value is at most the threshold, or, without a threshold,
when its outcome is one of the good ones. An SLO without a source is *planned*: its module is not built yet.

Module names are the design document's (docs: ``seed/platform-modules.md``). HTTP routes belong to a module by
the first pattern of ``MODULE_ROUTES`` their path template matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

OK, SERVER_ERROR = "ok", "server_error"
"""The outcome of an HTTP signal: answered (any status below 500), or a server error."""


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

    def judge(self, signal: Signal) -> bool | None:
        """True (good), False (bad), or None when the signal is not one this SLO counts."""
        if signal.source != self.source or any(signal.labels.get(k) != v for k, v in self.selector):
            return None
        if self.threshold is not None:
            return None if signal.value is None else signal.value <= self.threshold
        return None if signal.outcome is None else signal.outcome in self.good


def render_markdown(slos: tuple[Slo, ...] = SLOS) -> str:
    """The SLO table as Markdown, for the README."""
    lines = [
        "| domain | module | objective | indicator (metric) | target | window | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for slo in slos:
        status = "measured" if slo.measured else "planned (module not built yet)"
        target = f"{slo.target * 100:g}%"
        indicator = slo.indicator.replace("|", "\\|")
        lines.append(
            f"| {slo.domain} | {slo.module} | {slo.objective} | `{indicator}` | {target} | {slo.window} | {status} |"
        )
    return "\n".join(lines) + "\n"
