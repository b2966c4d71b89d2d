"""The process's OpenTelemetry tracer provider: without one, spans are no-ops, so neither logs nor stored events
carry trace ids. ``configure_tracing`` installs the SDK's provider once per process, named after the service,
exporting to the span exporter given (none: spans get real ids and propagate, but are not shipped anywhere).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def build_tracer_provider(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """A tracer provider for ``service``, batching its spans to ``exporter`` when there is one."""
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def configure_tracing(service: str, exporter: SpanExporter | None = None) -> trace.TracerProvider:
    """Installs the SDK tracer provider unless the process already has one; returns the one in force."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = build_tracer_provider(service, exporter)
    trace.set_tracer_provider(provider)
    return provider
