"""The platform's Prometheus instruments, in a registry of their own (one per Platform, never the global one).

Counters and histograms that change as things happen live here; values read at scrape time (lags, dead
letters, burn rates) come from the collectors in ``collectors.py``, registered into the same registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds; 0.25 and 0.5 are SLO thresholds (commands, queries), so the histogram answers them exactly."""
STEP_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0)
"""Seconds a pipeline step takes; 15 and 30 are SLO thresholds."""
FRESHNESS_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 14400.0)
"""Seconds from a batch landing to its KPIs being published; 60 is the SLO threshold."""


class Metrics:
    """Every counter and histogram the platform updates as it works."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "platform_http_requests",
            "HTTP requests answered, by route template, module, kind (command, query, ingest, operations), status",
            ["method", "route", "module", "kind", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "platform_http_request_duration_seconds",
            "Seconds from a request's arrival to its response's last byte, by route template, module and kind",
            ["method", "route", "module", "kind"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commands = Counter(
            "platform_commands",
            "Commands run by the application, by name and outcome (ok, replayed, rejected, conflict, error)",
            ["command", "outcome"],
            registry=r,
        )
        self.command_duration = Histogram(
            "platform_command_duration_seconds",
            "Seconds a command takes to load, decide and append, by name",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.observer_up = Gauge(
            "platform_log_observer_up",
            "1 when the last scrape could read the event log's new events (events, pipeline, webhook metrics)",
            registry=r,
        )
        self.events_appended = Counter(
            "platform_events_appended",
            "Events appended to the event log since this process started watching it, by CloudEvents type",
            ["type"],
            registry=r,
        )
        self.step_duration = Histogram(
            "platform_pipeline_step_duration_seconds",
            "Seconds a pipeline step took (its event's finished_at minus started_at), by step and outcome",
            ["step", "outcome"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.step_attempts = Counter(
            "platform_pipeline_step_attempts",
            "Pipeline step attempts, by step and outcome (ok, rejected, failed)",
            ["step", "outcome"],
            registry=r,
        )
        self.freshness = Histogram(
            "platform_pipeline_freshness_seconds",
            "Seconds from a batch landing in the raw store to its run's publication",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.runs_finished = Counter(
            "platform_pipeline_runs_finished",
            "Pipeline runs that ended, by outcome (published, rejected, dead_lettered)",
            ["outcome"],
            registry=r,
        )
        self.lineage = Counter(
            "platform_lineage_records",
            "Pipeline step events by step and whether they name both inputs and outputs (complete)",
            ["step", "complete"],
            registry=r,
        )
        self.exports_finished = Counter(
            "platform_exports_finished",
            "Export jobs that ended, by outcome (completed, failed)",
            ["outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "platform_webhook_deliveries",
            "Webhook deliveries that ended, by outcome: delivered, or failed (retries spent, or the endpoint is gone)",
            ["outcome"],
            registry=r,
        )
        self.action_trigger_delay = Histogram(
            "platform_action_trigger_delay_seconds",
            "Seconds from the KPI build that met a playbook's condition to the action run it triggered",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.action_deliveries = Counter(
            "platform_action_deliveries",
            "Action steps that ended, by outcome: delivered, or failed (attempts spent)",
            ["outcome"],
            registry=r,
        )
        self.scheduler_delay = Histogram(
            "platform_scheduler_job_delay_seconds",
            "Seconds from a job run's due time (its slot) to its first start",
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.scheduler_runs_finished = Counter(
            "platform_scheduler_runs_finished",
            "Scheduled job runs that ended, by outcome (succeeded, failed)",
            ["outcome"],
            registry=r,
        )
        self.slo_events = Counter(
            "platform_slo_events",
            "Events judged against each SLO, by outcome (good, bad): the ratio behind every SLO",
            ["slo", "outcome"],
            registry=r,
        )
