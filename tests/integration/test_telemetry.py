"""Telemetry: the SLO table, burn rates, request and command metrics, what the log observer reads from events,
read-side lag and readiness, and JSON logs with trace ids."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

import projections
from adapters.projection_worker import ProjectionWorker
from adapters.readmodel_leases import ReadModelLeases
from adapters.readmodels import ReadModelStore, sqlite_url
from adapters.telemetry import (
    SLOS,
    JsonFormatter,
    MeteredCommandRunner,
    Signal,
    Slo,
    Telemetry,
    build_tracer_provider,
    configure_logging,
)
from adapters.telemetry.objectives import module_of, slo_table_markdown
from adapters.telemetry.slo import BurnRates
from application.commands import CommandContext, CommandRunner
from application.tenants import SlugTakenError, TenantService
from domain.action_rules import Condition
from domain.actions.playbooks import Step
from domain.actions.runs import ActionRun, Trigger
from domain.deadletters import DeadLetter
from domain.pipeline import PipelineRun, manifest, run_id_for
from domain.schedules import JobRun
from domain.webhooks import Delivery, Outcome
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

DESIGN_MODULES = {
    "Host": ["Policy Engine", "Data Contract Registry", "Tenant Management", "Lineage Obligations"],
    "Compute": ["Ingestion", "Normalization", "KPI Build", "Publish", "Orchestration"],
    "Data Storage": ["Raw Store", "GDP Store", "KPI Store", "Published Store"],
    "Consumption": ["Activation APIs", "Exports", "Webhooks", "Catalog"],
    "Action": ["Action Engine", "Action Catalog", "Action Delivery"],
    "Application": ["Admin App", "Customer App"],
    "Security": ["Gateway", "Network Security"],
    "Access": ["Authentication", "Authorization"],
    "Trust": ["Evidence Ledger", "Secrets", "Encryption"],
    "Runtime": ["Scheduler", "Messaging and Events", "Observability", "Error Handling"],
    "Data Utilities": ["Schema Registry", "Catalog and Discovery", "Migration Service"],
}
"""Every module of the design document (seed/platform-modules.md), by domain."""


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    memory = open_event_store("memory")
    yield memory
    memory.close()


@pytest.fixture
def read_models(tmp_path: Path) -> Iterator[ReadModelStore]:
    found = ReadModelStore(sqlite_url(tmp_path / "rm.db"), projections.ALL)
    yield found
    found.close()


@pytest.fixture
def telemetry(store: RecorderEventStore, read_models: ReadModelStore, clock: Clock) -> Telemetry:
    return Telemetry(store, read_models, clock, now=lambda: clock().timestamp())


def samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(telemetry.scrape().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(telemetry: Telemetry, name: str, **labels: str) -> float | None:
    return samples(telemetry).get((name, tuple(sorted(labels.items()))))


def context(command_id: str | None = None) -> CommandContext:
    return CommandContext("user:test", command_id or str(uuid4()), "corr")


# --- the SLO table ---------------------------------------------------------------------------------------


def test_every_module_of_the_design_document_states_its_slos_in_the_one_table() -> None:
    stated = {(slo.domain, slo.module) for slo in SLOS}
    expected = {(domain, module) for domain, modules in DESIGN_MODULES.items() for module in modules}
    assert stated == expected
    assert len({slo.name for slo in SLOS}) == len(SLOS)


@pytest.mark.parametrize("slo", [s for s in SLOS if s.measured], ids=lambda s: s.name)
def test_a_measured_slo_has_a_rule_to_judge_by(slo: Slo) -> None:
    assert 0 < slo.target < 1 or slo.target == 1.0
    assert (slo.threshold is not None) != bool(slo.good)
    assert slo.indicator.startswith("platform_")


def test_the_slos_the_brief_names_are_there_with_their_targets() -> None:
    by_name = {slo.name: slo for slo in SLOS}
    assert (by_name["command-latency"].threshold, by_name["command-latency"].target) == (0.25, 0.99)
    assert (by_name["freshness"].threshold, by_name["freshness"].target) == (60.0, 0.95)
    assert by_name["projection-lag"].threshold == 5.0
    assert by_name["webhook-delivery"].indicator == "platform_webhook_deliveries_total{outcome}"


def test_a_signal_is_good_under_the_threshold_or_with_a_good_outcome_and_ignored_elsewhere() -> None:
    latency = next(s for s in SLOS if s.name == "command-latency")
    assert latency.judge(Signal("http", {"kind": "command"}, 0.2, "ok")) is True
    assert latency.judge(Signal("http", {"kind": "command"}, 0.3, "ok")) is False
    assert latency.judge(Signal("http", {"kind": "query"}, 0.3, "ok")) is None
    assert latency.judge(Signal("pipeline_step", {"kind": "command"}, 0.3)) is None
    runs = next(s for s in SLOS if s.name == "dead-letter-rate")
    assert runs.judge(Signal("pipeline_run", outcome="rejected")) is True
    assert runs.judge(Signal("pipeline_run", outcome="dead_lettered")) is False


def test_burn_rate_is_the_bad_share_over_the_error_budget_within_each_window() -> None:
    slo = Slo("x", "d", "m", "o", "platform_x", 0.99, source="s", good=frozenset({"ok"}))
    rates = BurnRates((slo,))
    start = 1_000_000.0
    rates.record("x", False, start)  # two hours ago: in the 6h window only
    for second in range(10):
        rates.record("x", second != 0, start + 7200 + second)
    now = start + 7210
    assert rates.burn_rate("x", "5m", now) == pytest.approx(0.1 / 0.01)
    assert rates.burn_rate("x", "6h", now) == pytest.approx((2 / 11) / 0.01)
    assert rates.burn_rate("x", "1h", start + 7200 + 7200) == 0.0


@pytest.mark.parametrize(
    ("route", "module"),
    [
        ("/v1/tenants", "Tenant Management"),
        ("/v1/tenants/{tenant_id:str}/suspend", "Tenant Management"),
        ("/v1/tenants/{tenant_id:str}/contracts/{contract:str}/batches", "Ingestion"),
        ("/v1/tenants/{tenant_id:str}/contracts/{contract:str}/approve", "Data Contract Registry"),
        ("/v1/tenants/{tenant_id:str}/runs/{run_id:str}", "Orchestration"),
        ("/v1/tenants/{tenant_id:str}/products/{product:str}/versions/{version:int}/rows", "Activation APIs"),
        ("/v1/tenants/{tenant_id:str}/principals/{principal_id:str}/roles", "Authentication"),
        ("/v1/tenants/{tenant_id:str}/schemas/subjects", "Schema Registry"),
        ("/v1/policies/{name:str}/activate", "Policy Engine"),
        ("/v1/dead-letters", "Error Handling"),
        ("/v1/catalog", "Catalog"),
        ("/v1/tenants/{tenant_id:str}/action-templates/{template_id:str}/versions", "Action Catalog"),
        ("/v1/tenants/{tenant_id:str}/playbooks/{playbook_id:str}/backtest", "Action Catalog"),
        ("/v1/tenants/{tenant_id:str}/action-runs/{run_id:str}", "Action Engine"),
        ("/metrics", "Observability"),
        ("/v1/event-types", "Observability"),
        ("/schema/openapi.json", "Gateway"),
        ("/admin/tenants/{tenant_id:str}/suspend", "Admin App"),
        ("/app/t/{tenant_id:str}/runs/{run_id:str}", "Customer App"),
        ("/app/t/{tenant_id:str}/contracts/{contract:str}/approve", "Customer App"),
        ("/web/sign-in", "Customer App"),
    ],
)
def test_routes_belong_to_the_module_whose_api_they_are(route: str, module: str) -> None:
    assert module_of(route) == module


def test_the_readme_table_has_one_row_per_slo_and_says_which_are_planned() -> None:
    table = slo_table_markdown().splitlines()
    assert table[0].startswith("| domain | module | objective")
    assert len(table) == 2 + len(SLOS)
    freshness = next(line for line in table if "raw landed to published" in line)
    assert "`platform_pipeline_freshness_seconds`" in freshness
    assert "| 95% |" in freshness
    assert "| `freshness` | measured |" in freshness
    assert any("| Migration Service |" in line and "planned" in line for line in table)
    assert all("measured" in line for line in table if "| Admin App |" in line or "| Customer App |" in line)
    assert all("measured" in line for line in table if "| Action " in line)


# --- requests and commands ------------------------------------------------------------------------------


def test_each_instance_has_its_own_registry(telemetry: Telemetry, store: Any, read_models: ReadModelStore) -> None:
    other = Telemetry(store, read_models, Clock())
    telemetry.request_done("GET", "/v1/tenants", "query", 200, 0.01)
    assert value(other, "platform_http_requests_total", method="GET", route="/v1/tenants", module="Tenant Management",
                 kind="query", status="200") is None  # fmt: skip


def test_a_request_is_counted_timed_and_judged_by_the_slos_that_cover_it(telemetry: Telemetry) -> None:
    for seconds in (0.01, 0.02, 0.3, 0.04):
        telemetry.request_done("POST", "/v1/tenants", "command", 201, seconds)
    telemetry.request_done("POST", "/v1/tenants", "command", 503, 0.01)
    labels = {"method": "POST", "route": "/v1/tenants", "module": "Tenant Management", "kind": "command"}
    assert value(telemetry, "platform_http_requests_total", status="201", **labels) == 4
    assert value(telemetry, "platform_http_request_duration_seconds_count", **labels) == 5
    assert value(telemetry, "platform_http_request_duration_seconds_bucket", le="0.25", **labels) == 4
    assert value(telemetry, "platform_slo_events_total", slo="command-latency", outcome="bad") == 1
    assert value(telemetry, "platform_slo_events_total", slo="command-latency", outcome="good") == 4
    assert value(telemetry, "platform_slo_events_total", slo="tenant-api-availability", outcome="bad") == 1
    assert value(telemetry, "platform_slo_events_total", slo="query-latency", outcome="good") is None
    burn = value(telemetry, "platform_slo_error_budget_burn_rate", slo="command-latency", window="5m")
    assert burn == pytest.approx((1 / 5) / 0.01)


def test_commands_are_counted_by_name_and_outcome(store: RecorderEventStore, telemetry: Telemetry) -> None:
    tenants = TenantService(MeteredCommandRunner(store, Clock(), telemetry.metrics))
    first = context()
    tenants.onboard_tenant(first, "acme", "Acme", "trial")
    tenants.onboard_tenant(first, "acme", "Acme", "trial")  # the same command again: replayed
    with pytest.raises(SlugTakenError):
        tenants.onboard_tenant(context(), "acme", "Acme again", "trial")
    for outcome, count in (("ok", 1), ("replayed", 1), ("rejected", 1)):
        assert value(telemetry, "platform_commands_total", command="onboard_tenant", outcome=outcome) == count
    assert value(telemetry, "platform_command_duration_seconds_count", command="onboard_tenant") == 3


# --- what the log says ----------------------------------------------------------------------------------

RAW = manifest("raw/a.csv", "a" * 64, 100, 10, "csv")
GDP = manifest("gdp/a.parquet", "b" * 64, 90, 9, "parquet", "s1")
KPIS = manifest("kpi/a.parquet", "c" * 64, 50, 3, "parquet", "s2")
OUT = manifest("published/a.parquet", "d" * 64, 50, 3, "parquet", "s2")


def _at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def run_pipeline(store: RecorderEventStore, clock: Clock) -> UUID:
    """One run through every step: landed at T0, normalized 0-4 s, KPIs 5-7 s, published 8-9 s, recorded at 9 s."""
    runner = CommandRunner(store, clock)
    run_id = run_id_for("t1", "sales", "1.0.0", "orders", RAW["sha256"])

    def step(seconds: float, change: Any) -> None:
        clock.now = T0 + timedelta(seconds=seconds)
        runner.update(context(), "pipeline_step", run_id, change, lambda r: r.tenant_id)

    runner.create(context(), "ingest_batch", run_id, tenant_of=lambda r: r.tenant_id, exists=SlugTakenError,
                  make=lambda: PipelineRun.ingest("t1", "sales", "1.0.0", "orders", "test", RAW, _at(0)))  # fmt: skip
    counts = {"rows_in": 10, "rows_out": 9, "rejected": 1, "duplicates": 0}
    step(4, lambda r: r.fail_step("normalize", "disk full", 0.5, 3))
    step(4, lambda r: r.normalized(GDP, None, counts, [], _at(0), _at(4)))
    step(7, lambda r: r.kpis_built([GDP], KPIS, 3, [], _at(5), _at(7)))
    step(9, lambda r: r.published("sales", 1, [KPIS], [OUT], _at(8), _at(9)))
    return run_id


def test_pipeline_events_give_step_durations_attempts_freshness_and_run_outcomes(
    store: RecorderEventStore, telemetry: Telemetry, clock: Clock
) -> None:
    run_pipeline(store, clock)
    assert value(telemetry, "platform_pipeline_step_duration_seconds_sum", step="normalize", outcome="ok") == 4.0
    assert value(telemetry, "platform_pipeline_step_duration_seconds_sum", step="build_kpis", outcome="ok") == 2.0
    assert value(telemetry, "platform_pipeline_step_duration_seconds_sum", step="publish", outcome="ok") == 1.0
    assert value(telemetry, "platform_pipeline_step_attempts_total", step="normalize", outcome="failed") == 1
    assert value(telemetry, "platform_pipeline_freshness_seconds_sum") == 9.0
    assert value(telemetry, "platform_pipeline_runs_finished_total", outcome="published") == 1
    assert value(telemetry, "platform_pipeline_runs_finished_total", outcome="dead_lettered") == 0
    assert value(telemetry, "platform_lineage_records_total", step="publish", complete="true") == 1
    assert value(telemetry, "platform_events_appended_total", type="platform.pipeline.PipelineRunIngested") == 1
    assert value(telemetry, "platform_events_appended_total", type="platform.pipeline.PipelineRunStepFailed") == 1
    assert value(telemetry, "platform_slo_events_total", slo="freshness", outcome="good") == 1
    assert value(telemetry, "platform_slo_events_total", slo="gdp-store-writes", outcome="bad") == 1


def test_the_observer_counts_only_what_was_appended_after_it_started_and_reads_each_event_once(
    store: RecorderEventStore, read_models: ReadModelStore, clock: Clock
) -> None:
    TenantService(CommandRunner(store, clock)).onboard_tenant(context(), "before", "Before", "trial")
    telemetry = Telemetry(store, read_models, clock)
    TenantService(CommandRunner(store, clock)).onboard_tenant(context(), "after", "After", "trial")
    telemetry.scrape()
    assert value(telemetry, "platform_events_appended_total", type="platform.tenants.TenantOnboarded") == 1


def test_freshness_of_a_run_that_landed_before_the_observer_started_comes_from_its_stream(
    store: RecorderEventStore, read_models: ReadModelStore, clock: Clock
) -> None:
    runner = CommandRunner(store, clock)
    run_id = run_id_for("t1", "sales", "1.0.0", "orders", RAW["sha256"])
    runner.create(context(), "ingest_batch", run_id, tenant_of=lambda r: r.tenant_id, exists=SlugTakenError,
                  make=lambda: PipelineRun.ingest("t1", "sales", "1.0.0", "orders", "test", RAW, _at(0)))  # fmt: skip
    telemetry = Telemetry(store, read_models, clock)
    clock.now = T0 + timedelta(seconds=75)
    counts = {"rows_in": 10, "rows_out": 9, "rejected": 1, "duplicates": 0}
    for change in (
        lambda r: r.normalized(GDP, None, counts, [], _at(1), _at(2)),
        lambda r: r.kpis_built([GDP], KPIS, 3, [], _at(3), _at(4)),
        lambda r: r.published("sales", 1, [KPIS], [OUT], _at(5), _at(6)),
    ):
        runner.update(context(), "pipeline_step", run_id, change, lambda r: r.tenant_id)
    assert value(telemetry, "platform_pipeline_freshness_seconds_sum") == 75.0
    assert value(telemetry, "platform_slo_events_total", slo="freshness", outcome="bad") == 1


def test_webhook_deliveries_and_scheduled_job_delays_come_from_their_events(
    store: RecorderEventStore, telemetry: Telemetry, clock: Clock
) -> None:
    runner = CommandRunner(store, clock)
    schedule = [0.0, 5.0]
    for number, statuses in enumerate(([200], [500, 410], [503, 502])):
        delivery = Delivery.start("t1", "endpoint-1", f"event-{number}", "platform.tenants.TenantOnboarded", number)
        runner.create(context(), "start_delivery", delivery.id, make=lambda d=delivery: d, tenant_of=lambda d: "t1",
                      exists=SlugTakenError)  # fmt: skip
        for status in statuses:
            runner.update(context(), "record_attempt", delivery.id,
                          lambda d, s=status: d.record(Outcome(s), clock(), schedule), lambda d: "t1")  # fmt: skip
    job = JobRun.due("t1", uuid4(), T0, {"kind": "rebuild_kpis"}, 0)
    runner.create(context(), "due", job.id, make=lambda: job, tenant_of=lambda j: "t1", exists=SlugTakenError)
    clock.now = T0 + timedelta(seconds=90)
    runner.update(context(), "start", job.id, lambda j: j.start(1, "scheduler-1", clock(), 600), lambda j: "t1")
    runner.update(context(), "succeed", job.id, lambda j: j.succeed(1, clock(), {}), lambda j: "t1")
    found = samples(telemetry)
    assert found["platform_webhook_deliveries_total", (("outcome", "delivered"),)] == 1
    assert found["platform_webhook_deliveries_total", (("outcome", "failed"),)] == 2
    assert found["platform_slo_events_total", (("outcome", "bad"), ("slo", "webhook-delivery"))] == 2
    assert found["platform_scheduler_job_delay_seconds_sum", ()] == 90.0
    assert found["platform_scheduler_runs_finished_total", (("outcome", "succeeded"),)] == 1
    assert found["platform_slo_events_total", (("outcome", "bad"), ("slo", "scheduler-punctuality"))] == 1


def trigger(at: str, kpi_sha256: str) -> Trigger:
    condition: Condition = {"operator": "below", "threshold": 2000.0, "periods": 1}
    return Trigger(playbook_id=str(uuid4()), playbook="alert", contract="sales", kpi="revenue", kpi_sha256=kpi_sha256,
                   pipeline_run_id=str(uuid4()), period_start=_at(0), dimensions={}, value=98.0, previous=None,
                   condition=condition, reason="value 98 is below 2000", at=at)  # fmt: skip


def test_action_trigger_delays_and_deliveries_come_from_their_events(
    store: RecorderEventStore, telemetry: Telemetry, clock: Clock
) -> None:
    runner = CommandRunner(store, clock)
    step = Step(template_id=str(uuid4()), version=1, params={}, requires_approval=False)
    clock.now = T0 + timedelta(seconds=90)
    for built_at, delivered in ((_at(80), True), (_at(0), False)):
        run = ActionRun.start("t1", trigger(built_at, built_at), [step], "")
        runner.create(context(), "trigger", run.id, make=lambda r=run: r, tenant_of=lambda r: "t1",
                      exists=SlugTakenError)  # fmt: skip
        change = (lambda r: r.delivered(0, 204, "ok")) if delivered else (lambda r: r.attempt_failed(0, 500, "x", None))
        runner.update(context(), "deliver", run.id, change, lambda r: "t1")
    found = samples(telemetry)
    assert found["platform_action_trigger_delay_seconds_sum", ()] == 10.0 + 90.0
    assert found["platform_slo_events_total", (("outcome", "good"), ("slo", "action-trigger-delay"))] == 1
    assert found["platform_slo_events_total", (("outcome", "bad"), ("slo", "action-trigger-delay"))] == 1
    assert found["platform_action_deliveries_total", (("outcome", "delivered"),)] == 1
    assert found["platform_action_deliveries_total", (("outcome", "failed"),)] == 1
    assert found["platform_slo_events_total", (("outcome", "bad"), ("slo", "action-delivery"))] == 1


# --- the read side and readiness --------------------------------------------------------------------------


def test_projection_lag_is_counted_in_events_and_in_seconds_since_the_oldest_unapplied_event(
    store: RecorderEventStore, read_models: ReadModelStore, telemetry: Telemetry, clock: Clock
) -> None:
    tenants = TenantService(CommandRunner(store, clock))
    for slug in ("a", "b", "c"):
        tenants.onboard_tenant(context(), slug, slug.upper(), "trial")
    clock.now = T0 + timedelta(seconds=12)
    behind = samples(telemetry)
    assert behind["platform_projection_lag_events", (("projection", "tenant_directory"),)] == 3
    assert behind["platform_projection_lag_seconds", (("projection", "tenant_directory"),)] == 12.0
    assert behind["platform_event_log_position", ()] == 3
    assert behind["platform_slo_events_total", (("outcome", "bad"), ("slo", "projection-lag"))] == 1
    ProjectionWorker(store, read_models).catch_up()
    caught_up = samples(telemetry)
    assert caught_up["platform_projection_lag_events", (("projection", "tenant_directory"),)] == 0
    assert caught_up["platform_projection_lag_seconds", (("projection", "tenant_directory"),)] == 0.0
    assert caught_up["platform_projection_checkpoint", (("projection", "tenant_directory"),)] == 3
    assert caught_up["platform_slo_events_total", (("outcome", "good"), ("slo", "projection-lag"))] == 1
    assert caught_up["platform_read_model_feeder", (("feeder", ""), ("projection", "tenant_directory"))] == 1
    ReadModelLeases(read_models.engine, ["tenant_directory"], "host:1:feeder").keep()
    held = samples(telemetry)
    assert held["platform_read_model_feeder", (("feeder", "host:1:feeder"), ("projection", "tenant_directory"))] == 1


def test_dead_letters_are_counted_by_source_and_status(
    store: RecorderEventStore, read_models: ReadModelStore, telemetry: Telemetry, clock: Clock
) -> None:
    runner = CommandRunner(store, clock)
    letter = DeadLetter.record("t1", "webhook", "delivery-1", "deliver", "HTTP 500", 8, None, None)
    runner.create(context(), "record_dead_letter", letter.id, make=lambda: letter, tenant_of=lambda d: "t1",
                  exists=SlugTakenError)  # fmt: skip
    ProjectionWorker(store, read_models).catch_up()
    assert value(telemetry, "platform_dead_letters", source="webhook", status="open") == 1
    assert value(telemetry, "platform_dead_letters", source="pipeline", status="open") == 0


class Flaky:
    """The real store, until ``down`` is set: then it answers nothing."""

    def __init__(self, inner: RecorderEventStore) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        if self.down:
            raise ConnectionError("connection refused")
        return getattr(self.inner, name)


def test_when_the_store_does_not_answer_a_scrape_says_so_and_the_process_is_not_ready(
    store: RecorderEventStore, read_models: ReadModelStore, clock: Clock
) -> None:
    flaky = Flaky(store)
    telemetry = Telemetry(flaky, read_models, clock)  # type: ignore[arg-type]
    telemetry.request_done("GET", "/health", "operations", 200, 0.001)
    assert value(telemetry, "platform_read_side_up") == 1
    assert value(telemetry, "platform_log_observer_up") == 1
    flaky.down = True
    assert value(telemetry, "platform_read_side_up") == 0
    assert value(telemetry, "platform_log_observer_up") == 0
    assert value(telemetry, "platform_projection_lag_events", projection="tenant_directory") is None
    health = {"method": "GET", "route": "/health", "module": "Observability", "kind": "operations", "status": "200"}
    assert value(telemetry, "platform_http_requests_total", **health) == 1
    problems = telemetry.readiness().problems
    assert problems == ("the event store does not answer: ConnectionError: connection refused",)


def test_readiness_says_which_read_model_is_too_far_behind(
    store: RecorderEventStore, read_models: ReadModelStore, clock: Clock
) -> None:
    telemetry = Telemetry(store, read_models, clock, ready_max_lag=2)
    tenants = TenantService(CommandRunner(store, clock))
    tenants.onboard_tenant(context(), "a", "A", "trial")
    assert telemetry.readiness().ready
    for slug in ("b", "c"):
        tenants.onboard_tenant(context(), slug, slug.upper(), "trial")
    readiness = telemetry.readiness()
    assert not readiness.ready
    assert "read model tenant_directory is 3 events behind the log (at most 2)" in readiness.problems
    ProjectionWorker(store, read_models).catch_up()
    assert telemetry.readiness().ready
    assert telemetry.readiness().log_end == 3


# --- logs -----------------------------------------------------------------------------------------------


def test_json_logs_carry_the_trace_and_span_of_the_current_span_and_extra_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.telemetry.json")
    logger.addHandler(handler)
    logger.propagate = False
    tracer = TracerProvider().get_tracer("test")
    try:
        logger.warning("outside %s", "a span")
        with tracer.start_as_current_span("work") as span:
            logger.warning("inside", extra={"run_id": "r-1"})
            expected = span.get_span_context()
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    outside, inside, failed = (json.loads(line) for line in stream.getvalue().splitlines())
    assert outside["message"] == "outside a span"
    assert "trace_id" not in outside
    assert inside["trace_id"] == f"{expected.trace_id:032x}"
    assert inside["span_id"] == f"{expected.span_id:016x}"
    assert (inside["level"], inside["logger"], inside["run_id"]) == ("WARNING", "test.telemetry.json", "r-1")
    assert "ValueError: boom" in failed["exception"]


def test_configure_logging_installs_one_json_or_text_handler_on_the_root_logger() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        handler = configure_logging("debug", json=True)
        assert root.handlers == [handler]
        assert isinstance(handler.formatter, JsonFormatter)
        assert root.level == logging.DEBUG
        handler = configure_logging("INFO", json=False)
        assert root.handlers == [handler]
        assert not isinstance(handler.formatter, JsonFormatter)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_every_measured_slo_has_its_indicator_on_the_metrics_page(telemetry: Telemetry) -> None:
    exposed = {family.name for family in text_string_to_metric_families(telemetry.scrape().decode())}
    needs_nats = {"relay_lag"}  # shown when NATS answers: tests/integration/test_telemetry_nats.py
    for slo in (s for s in SLOS if s.measured and s.source not in needs_nats):
        assert slo.indicator.split("{", 1)[0].removesuffix("_total") in exposed, slo.name


def test_the_tracer_provider_names_the_service_and_makes_spans_with_real_ids() -> None:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider("platform-test", exporter)
    with provider.get_tracer("t").start_as_current_span("work") as span:
        assert span.get_span_context().is_valid
    provider.force_flush()
    [finished] = exporter.get_finished_spans()
    assert finished.resource.attributes["service.name"] == "platform-test"
