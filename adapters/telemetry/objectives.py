"""The one table of service-level objectives: every module of the design document, what it promises, and how.

Module names are the design document's (``seed/platform-modules.md``). HTTP routes belong to a module by the
first pattern of ``MODULE_ROUTES`` their path template matches. A module not built yet has a *planned* SLO (no
signal judges it yet), which the README lists all the same, so whoever builds the module knows what to emit.
"""

from __future__ import annotations

import functools
import re

from adapters.telemetry.slo import OK, Slo, render_markdown

_DURATION = "platform_http_request_duration_seconds"
_STEP = "platform_pipeline_step_duration_seconds"
_ATTEMPTS = "platform_pipeline_step_attempts_total"


def _shown(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in labels.items())


def _available(name: str, domain: str, module: str, objective: str, **selector: str) -> Slo:
    """99.9% of the module's API requests (those matching ``selector`` too) are answered without a 5xx."""
    labels = {"module": module, **selector}
    indicator = f'platform_http_requests_total{{{_shown(labels)},status=~"5.."}}'
    return Slo(
        name,
        domain,
        module,
        objective,
        indicator,
        0.999,
        source="http",
        selector=tuple(labels.items()),
        good=frozenset({OK}),
    )


def _within(
    name: str,
    domain: str,
    module: str,
    objective: str,
    target: float,
    source: str,
    threshold: float,
    labels: dict[str, str] | None = None,
) -> Slo:
    """A share of the source's signals (those carrying ``labels``) whose value in seconds is at most ``threshold``."""
    labels = labels or {}
    metric = {"http": _DURATION, "pipeline_step": _STEP}.get(source, f"platform_{source}_seconds")
    indicator = f"{metric}{{{_shown(labels)}}}" if labels else metric
    return Slo(
        name,
        domain,
        module,
        objective,
        indicator,
        target,
        source=source,
        selector=tuple(labels.items()),
        threshold=threshold,
    )


def _share(
    name: str, domain: str, module: str, objective: str, indicator: str, target: float, source: str, *good: str
) -> Slo:
    """A share of the source's signals whose outcome is one of ``good``."""
    return Slo(name, domain, module, objective, indicator, target, source=source, good=frozenset(good))


def _planned(name: str, domain: str, module: str, objective: str, indicator: str, target: float) -> Slo:
    """An SLO of a module not built yet: stated now, measured once the module emits ``indicator``."""
    return Slo(name, domain, module, objective, indicator, target)


SLOS: tuple[Slo, ...] = (
    # Host
    _available("policy-api-availability", "Host", "Policy Engine", "99.9% of policy API requests answer without a 5xx"),
    _available(
        "contract-api-availability", "Host", "Data Contract Registry", "99.9% of contract requests answer without a 5xx"
    ),
    _available("tenant-api-availability", "Host", "Tenant Management", "99.9% of tenant requests answer without a 5xx"),
    _share(
        "lineage-recorded",
        "Host",
        "Lineage Obligations",
        "99.99% of pipeline step events name their inputs and outputs",
        "platform_lineage_records_total{complete}",
        0.9999,
        "lineage",
        "true",
    ),
    # Compute
    _within(
        "ingest-latency",
        "Compute",
        "Ingestion",
        "99% of batch uploads are answered within 10 s",
        0.99,
        "http",
        10.0,
        labels={"kind": "ingest"},
    ),
    _within(
        "normalize-duration",
        "Compute",
        "Normalization",
        "95% of normalize steps finish within 30 s",
        0.95,
        "pipeline_step",
        30.0,
        labels={"step": "normalize"},
    ),
    _within(
        "kpi-build-duration",
        "Compute",
        "KPI Build",
        "95% of KPI builds finish within 30 s",
        0.95,
        "pipeline_step",
        30.0,
        labels={"step": "build_kpis"},
    ),
    _within(
        "publish-duration",
        "Compute",
        "Publish",
        "95% of publish steps finish within 15 s",
        0.95,
        "pipeline_step",
        15.0,
        labels={"step": "publish"},
    ),
    _within(
        "freshness",
        "Compute",
        "Orchestration",
        "95% of landed batches are published within 60 s of landing (raw landed to published)",
        0.95,
        "pipeline_freshness",
        60.0,
    ),
    # Data Storage
    Slo(
        "raw-store-landing",
        "Data Storage",
        "Raw Store",
        "99.9% of batch uploads land their bytes without a 5xx",
        'platform_http_requests_total{kind="ingest",status=~"5.."}',
        0.999,
        source="http",
        selector=(("kind", "ingest"),),
        good=frozenset({OK}),
    ),
    *(
        Slo(
            f"{stage}-store-writes",
            "Data Storage",
            module,
            f"99% of {step} attempts write their {what} without failing",
            f'{_ATTEMPTS}{{step="{step}",outcome="failed"}}',
            0.99,
            source="pipeline_step",
            selector=(("step", step),),
            good=frozenset({"ok", "rejected"}),
        )
        for stage, module, step, what in (
            ("gdp", "GDP Store", "normalize", "golden data points"),
            ("kpi", "KPI Store", "build_kpis", "KPI datasets"),
            ("published", "Published Store", "publish", "published datasets"),
        )
    ),
    # Consumption
    _within(
        "activation-latency",
        "Consumption",
        "Activation APIs",
        "99% of product and row reads are answered within 500 ms",
        0.99,
        "http",
        0.5,
        labels={"module": "Activation APIs", "kind": "query"},
    ),
    _share(
        "exports-complete",
        "Consumption",
        "Exports",
        "99% of export jobs complete (not failed)",
        "platform_exports_finished_total{outcome}",
        0.99,
        "export",
        "completed",
    ),
    _share(
        "webhook-delivery",
        "Consumption",
        "Webhooks",
        "99.5% of webhook deliveries succeed within the retry window (retries up to 24 h)",
        "platform_webhook_deliveries_total{outcome}",
        0.995,
        "webhook_delivery",
        "delivered",
    ),
    _available("catalog-availability", "Consumption", "Catalog", "99.9% of catalog requests answer without a 5xx"),
    # Action
    _within(
        "action-trigger-delay",
        "Action",
        "Action Engine",
        "99% of playbooks fire within 60 s of the KPI build that crossed their threshold",
        0.99,
        "action_trigger_delay",
        60.0,
    ),
    _available(
        "action-catalog-availability",
        "Action",
        "Action Catalog",
        "99.9% of action template and playbook requests answer without a 5xx",
    ),
    _share(
        "action-delivery",
        "Action",
        "Action Delivery",
        "99% of action deliveries succeed within their retry window",
        "platform_action_deliveries_total{outcome}",
        0.99,
        "action_delivery",
        "delivered",
    ),
    # Application
    _available(
        "admin-app-availability", "Application", "Admin App", "99.9% of admin app page loads answer without a 5xx"
    ),
    _available(
        "customer-app-availability",
        "Application",
        "Customer App",
        "99.9% of customer app page loads answer without a 5xx",
    ),
    # Security
    Slo(
        "api-availability",
        "Security",
        "Gateway",
        "99.9% of all API requests answer without a 5xx",
        'platform_http_requests_total{status=~"5.."}',
        0.999,
        source="http",
        good=frozenset({OK}),
    ),
    _within(
        "command-latency",
        "Security",
        "Gateway",
        "99% of commands (POST, PUT, PATCH, DELETE; batch uploads apart) are answered within 250 ms",
        0.99,
        "http",
        0.25,
        labels={"kind": "command"},
    ),
    _within(
        "query-latency",
        "Security",
        "Gateway",
        "99% of queries are answered within 500 ms",
        0.99,
        "http",
        0.5,
        labels={"kind": "query"},
    ),
    _planned(
        "tls-everywhere",
        "Security",
        "Network Security",
        "100% of production requests arrive over TLS",
        'platform_http_requests_total{scheme="http"}',
        1.0,
    ),
    # Access
    _available(
        "access-api-availability",
        "Access",
        "Authentication",
        "99.9% of principal and API-key requests answer without a 5xx",
    ),
    _planned(
        "authorization-latency",
        "Access",
        "Authorization",
        "99% of authorization decisions take under 10 ms",
        "platform_authorization_duration_seconds",
        0.99,
    ),
    # Trust
    _planned(
        "ledger-checkpoints",
        "Trust",
        "Evidence Ledger",
        "99.9% of ledger checkpoints are signed within 60 s of their last event",
        "platform_ledger_checkpoint_delay_seconds",
        0.999,
    ),
    _available("secrets-api-availability", "Trust", "Secrets", "99.9% of secrets requests answer without a 5xx"),
    _planned(
        "sealed-fields-open",
        "Trust",
        "Encryption",
        "99.99% of sealed fields open with their tenant's data key (crypto-shredded tenants apart)",
        "platform_field_decryptions_total{outcome}",
        0.9999,
    ),
    # Runtime
    _within(
        "scheduler-punctuality",
        "Runtime",
        "Scheduler",
        "99% of due jobs start within 60 s of their due time",
        0.99,
        "scheduler_job_delay",
        60.0,
    ),
    _within(
        "relay-lag",
        "Runtime",
        "Messaging and Events",
        "99% of samples find the NATS stream less than 5 s behind the event log",
        0.99,
        "relay_lag",
        5.0,
    ),
    _within(
        "projection-lag",
        "Runtime",
        "Messaging and Events",
        "99% of samples find every read model less than 5 s behind the event log",
        0.99,
        "projection_lag",
        5.0,
    ),
    _within(
        "metrics-scrape",
        "Runtime",
        "Observability",
        "99% of /metrics scrapes are answered within 1 s",
        0.99,
        "http",
        1.0,
        labels={"route": "/metrics"},
    ),
    _share(
        "dead-letter-rate",
        "Runtime",
        "Error Handling",
        "99% of pipeline runs end published or rejected, not in the dead letters",
        "platform_pipeline_runs_finished_total{outcome}",
        0.99,
        "pipeline_run",
        "published",
        "rejected",
    ),
    # Data Utilities
    _available(
        "schema-registry-availability",
        "Data Utilities",
        "Schema Registry",
        "99.9% of schema registry requests answer without a 5xx",
    ),
    _planned(
        "discovery-latency",
        "Data Utilities",
        "Catalog and Discovery",
        "99% of searches are answered within 500 ms",
        'platform_http_request_duration_seconds{module="Catalog and Discovery"}',
        0.99,
    ),
    _planned(
        "migration-reads",
        "Data Utilities",
        "Migration Service",
        "99.99% of stored events read back in their current shape (upcast) without error",
        "platform_upcast_failures_total",
        0.9999,
    ),
)

MODULE_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), module)
    for pattern, module in (
        (r"^/admin\b", "Admin App"),  # the web apps first: their paths hold /runs, /products, /contracts too
        (r"^/(app|web)\b", "Customer App"),
        (r"/batches$", "Ingestion"),
        (r"/dead-letters\b", "Error Handling"),
        (r"/runs\b", "Orchestration"),
        (r"/products\b", "Activation APIs"),
        (r"/exports\b", "Exports"),
        (r"/webhooks\b", "Webhooks"),
        (r"^/v1/catalog\b", "Catalog"),
        (r"/contracts\b", "Data Contract Registry"),
        (r"/schemas\b", "Schema Registry"),
        (r"/policies\b", "Policy Engine"),
        (r"/secrets\b", "Secrets"),
        (r"/(principals|api-keys|denials)\b", "Authentication"),
        (r"/(schedules|jobs)\b", "Scheduler"),
        (r"/(action-templates|playbooks)\b", "Action Catalog"),
        (r"/action-runs\b", "Action Engine"),
        (r"^/(metrics|ready|health|asyncapi)$|^/v1/event-types\b", "Observability"),
        (r"^/v1/tenants\b", "Tenant Management"),
    )
)


@functools.cache
def module_of(route: str) -> str:
    """The design-document module an HTTP route template belongs to (the Gateway when none claims it)."""
    return next((module for pattern, module in MODULE_ROUTES if pattern.search(route)), "Gateway")


def slo_table_markdown() -> str:
    """The README's SLO table."""
    return render_markdown(SLOS)
