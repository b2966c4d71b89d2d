"""The Observability module: Prometheus metrics, SLOs and their burn rates, readiness, structured JSON logs.

``Telemetry`` (``core.py``) is what the composition root builds, one per platform process; ``SLOS``
(``objectives.py``) is the one table of every module's service-level objectives; ``configure_logging``
(``logs.py``) sets up JSON or text logs carrying trace ids; ``configure_tracing`` (``tracing.py``) gives the
process a real tracer provider, without which there are no trace ids to carry.
"""

from __future__ import annotations

from adapters.telemetry.commands import MeteredCommandRunner
from adapters.telemetry.core import CONTENT_TYPE, Readiness, Telemetry
from adapters.telemetry.logs import JsonFormatter, configure_logging
from adapters.telemetry.objectives import SLOS, module_of, slo_table_markdown
from adapters.telemetry.slo import Signal, Slo
from adapters.telemetry.tracing import build_tracer_provider, configure_tracing

__all__ = [
    "CONTENT_TYPE",
    "SLOS",
    "JsonFormatter",
    "MeteredCommandRunner",
    "Readiness",
    "Signal",
    "Slo",
    "Telemetry",
    "build_tracer_provider",
    "configure_logging",
    "configure_tracing",
    "module_of",
    "slo_table_markdown",
]
