"""Actions domain: templates, playbooks and runs (given past events, when a command, then events or an error),
and trigger finding over KPI builds: conditions, dimension filters, cooldown and the same build never firing twice."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from application.action_triggers import TriggerFinder, find_all
from domain.action_rules import (
    MAX_NATS_SUBJECT,
    check_condition,
    check_connector,
    check_nats_subject,
    check_params,
    decide,
)
from domain.actions.playbooks import Playbook, Step
from domain.actions.runs import ActionRun, RunClosedError, Trigger, run_id_for
from domain.actions.templates import ActionTemplate
from domain.errors import ConflictError, InvalidValueError
from domain.lineage import ACTION_DELIVERED
from domain.pipeline import PipelineRun, manifest

SPEC: Any = {"parameters": [{"name": "channel", "type": "string", "required": True}], "body": "x", "connector": {}}
STEP = Step(template_id=str(uuid4()), version=1, params={}, requires_approval=False)
GATED = Step(template_id=str(uuid4()), version=1, params={}, requires_approval=True)


def trigger(sha: str = "a" * 64) -> Trigger:
    return Trigger(
        playbook_id=str(uuid4()), playbook="p", contract="c", kpi="k", kpi_sha256=sha, pipeline_run_id=str(uuid4()),
        period_start="2026-01-01T00:00:00Z", dimensions={}, value=5.0, previous=None,
        condition={"operator": "above", "threshold": 1.0, "periods": 1}, reason="r", at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip


def test_a_template_revision_is_a_new_version_and_the_old_one_stays() -> None:
    template = ActionTemplate.define("t", "hook", "http", SPEC)
    template.revise(SPEC | {"body": "y"})
    assert template.latest == 2
    assert template.spec_of(1)["body"] == "x"
    assert template.spec_of(2)["body"] == "y"
    with pytest.raises(ConflictError):
        template.revise(SPEC | {"body": "y"})
    with pytest.raises(InvalidValueError):
        template.spec_of(3)


def test_a_playbook_starts_paused_and_toggles() -> None:
    condition = check_condition({"operator": "above", "threshold": 1})
    playbook = Playbook.define("t", "p", ("c", "k"), condition, {}, 0, [STEP])
    assert not playbook.active
    playbook.activate("me")
    with pytest.raises(ConflictError):
        playbook.activate("me")
    playbook.pause("me")
    assert not playbook.active
    with pytest.raises(InvalidValueError):
        Playbook.define("t", "p", ("c", "k"), condition, {}, 0, [])


def test_a_run_waits_for_approval_then_delivers_citing_the_kpi_version() -> None:
    run = ActionRun.start("t", trigger(), [GATED, STEP], "{}")
    assert run.id == run_id_for(run.trigger["playbook_id"], "a" * 64, "{}")
    assert run.needs_approval(0)
    run.await_approval(0)
    assert run.next_step is None
    with pytest.raises(RunClosedError):
        run.delivered(0, 200, "ok")
    run.approve(0, "steward")
    run.delivered(0, 200, "ok")
    run.delivered(1, 200, "ok")
    events = run.collect_events()
    delivered = [e for e in events if isinstance(e, ActionRun.Delivered)]
    assert [e.final for e in delivered] == [False, True]
    assert run.status == "delivered"
    assert type(delivered[0]).lineage_subject == ACTION_DELIVERED
    assert delivered[0].kpi_sha256 == "a" * 64


def test_a_rejected_step_ends_the_run() -> None:
    run = ActionRun.start("t", trigger(), [GATED], "{}")
    run.await_approval(0)
    run.reject(0, "steward", "no")
    assert run.status == "rejected"
    assert run.next_step is None
    with pytest.raises(RunClosedError):
        run.approve(0, "steward")


def test_the_last_failed_attempt_fails_the_run_and_a_revival_retries() -> None:
    run = ActionRun.start("t", trigger(), [STEP], "{}")
    run.attempt_failed(0, 503, "busy", 0.5)
    assert run.status == "running"
    assert run.attempts == 1
    run.attempt_failed(0, None, "down", None)
    assert run.status == "failed"
    run.revive(0, "operator")
    assert (run.status, run.attempts, run.revivals) == ("running", 0, 1)


@pytest.mark.parametrize(
    ("condition", "value", "previous", "base", "fires"),
    [
        ({"operator": "above", "threshold": 10}, 11, None, None, True),
        ({"operator": "above", "threshold": 10}, 10, None, None, False),
        ({"operator": "below", "threshold": 10}, 9, None, None, True),
        ({"operator": "crosses_above", "threshold": 10}, 11, 9, None, True),
        ({"operator": "crosses_above", "threshold": 10}, 11, 12, None, False),
        ({"operator": "crosses_above", "threshold": 10}, 11, None, None, False),
        ({"operator": "crosses_below", "threshold": 10}, 9, 10, None, True),
        ({"operator": "pct_change", "threshold": 20, "periods": 2}, 120, None, 100, True),
        ({"operator": "pct_change", "threshold": 20, "periods": 2}, 119, None, 100, False),
        ({"operator": "pct_change", "threshold": -20}, 80, None, 100, True),
        ({"operator": "pct_change", "threshold": -20}, 120, None, 100, False),
    ],
)
def test_conditions(condition: Any, value: float, previous: float | None, base: float | None, fires: bool) -> None:
    assert (decide(check_condition(condition), value, previous, base) is not None) is fires


def test_bad_rules_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        check_condition({"operator": "sideways", "threshold": 1})
    with pytest.raises(InvalidValueError, match="secret"):
        check_connector("http", {"url": "https://x", "password": "p"})
    with pytest.raises(InvalidValueError):
        check_connector("email", {"host": "h", "port": 25, "sender": "a", "to": [], "subject": "s"})
    with pytest.raises(InvalidValueError, match="required"):
        check_params(SPEC["parameters"], {})
    with pytest.raises(InvalidValueError, match="string"):
        check_params(SPEC["parameters"], {"channel": 3})


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        ("alerts.*", "wildcards"),
        ("alerts.>", "wildcards"),
        ("alerts.eu*", "wildcards"),
        ("alerts eu", "whitespace"),
        ("alerts\teu", "whitespace"),
        ("alerts\x00", "control"),
        ("alerts\x7f", "control"),
        (".alerts", "empty token"),
        ("alerts.", "empty token"),
        ("alerts..eu", "empty token"),
        ("", "1-200 characters"),
        ("a" * (MAX_NATS_SUBJECT + 1), "1-200 characters"),
        ("alerts.{{ params.region }}", "whitespace"),
        ("alerts.{{params.region}}", "tokens of letters"),
        ("alerts/eu", "tokens of letters"),
        (42, "1-200 characters"),
    ],
)
def test_a_nats_subject_that_is_not_one_literal_subject_is_refused_naming_the_field(subject: Any, why: str) -> None:
    with pytest.raises(InvalidValueError, match=why) as refused:
        check_connector("nats", {"subject": subject})
    assert refused.value.field == "/connector/subject"


@pytest.mark.parametrize("subject", ["alerts", "alerts.eu-west.kpi_2", "a" * MAX_NATS_SUBJECT, "A.b-c._"])
def test_literal_nats_subjects_are_accepted(subject: str) -> None:
    assert check_nats_subject(subject) == subject
    assert check_connector("nats", {"subject": subject}) == {"subject": subject}


# --- trigger finding


def ingested(tenant: str = "t") -> PipelineRun.Ingested:
    raw = manifest("k", "0" * 64, 1, 1, "csv")
    run = PipelineRun.ingest(tenant, "sales", "1.0.0", "lines", "upload", raw, "2026-01-01T00:00:00+00:00")
    event: PipelineRun.Ingested = run.collect_events()[0]
    return event


def built(run: PipelineRun.Ingested, sha: str, at: str, values: dict[str, float], period: str) -> Any:
    summary = [
        {"kpi": "revenue", "period_start": period, "grain": "day", "dimensions": {"country": country}, "value": value}
        for country, value in values.items()
    ]
    return PipelineRun.KpisBuilt(
        originator_id=run.originator_id, originator_version=3, timestamp=run.timestamp,
        inputs=[], kpis=manifest("kpi", sha, 1, 1, "parquet"), rows=1, summary=summary, started_at=at, finished_at=at,
    )  # fmt: skip


def playbook_events(condition: dict[str, Any], cooldown: int = 0, dims: dict[str, str] | None = None) -> list[Any]:
    playbook = Playbook.define("t", "p", ("sales", "revenue"), check_condition(condition), dims or {}, cooldown, [STEP])
    playbook.activate("me")
    return list(playbook.collect_events())


def test_crossing_above_fires_once_per_crossing_per_dimension() -> None:
    run = ingested()
    events = [run, *playbook_events({"operator": "crosses_above", "threshold": 100})]
    events += [
        built(run, "1" * 64, "2026-01-01T01:00:00+00:00", {"DE": 90, "FR": 150}, "2026-01-01"),
        built(run, "2" * 64, "2026-01-02T01:00:00+00:00", {"DE": 120, "FR": 160}, "2026-01-02"),
        built(run, "3" * 64, "2026-01-03T01:00:00+00:00", {"DE": 130, "FR": 90}, "2026-01-03"),
    ]
    found = find_all(TriggerFinder(), [(e, "t") for e in events])
    assert [(f.trigger["dimensions"]["country"], f.trigger["kpi_sha256"][0]) for f in found] == [("DE", "2")]
    assert found[0].trigger["previous"] == 90


def test_the_same_log_finds_the_same_run_ids_and_builds_before_activation_fire_nothing() -> None:
    run = ingested()
    early = built(run, "0" * 64, "2026-01-01T00:30:00+00:00", {"DE": 500}, "2026-01-01")
    events = [run, early, *playbook_events({"operator": "above", "threshold": 100})]
    events.append(built(run, "1" * 64, "2026-01-01T01:00:00+00:00", {"DE": 500}, "2026-01-01"))
    first = [f.run_id for f in find_all(TriggerFinder(), [(e, "t") for e in events])]
    again = [f.run_id for f in find_all(TriggerFinder(), [(e, "t") for e in events])]
    assert len(first) == 1
    assert first == again


def test_cooldown_and_dimension_filter() -> None:
    run = ingested()
    events = [run, *playbook_events({"operator": "above", "threshold": 100}, cooldown=3600, dims={"country": "DE"})]
    for minute, sha in ((0, "1"), (30, "2"), (61, "3")):
        at = f"2026-01-01T0{1 + minute // 60}:{minute % 60:02d}:00+00:00"
        events.append(built(run, sha * 64, at, {"DE": 500, "FR": 500}, "2026-01-01"))
    found = find_all(TriggerFinder(), [(e, "t") for e in events])
    assert [f.trigger["kpi_sha256"][0] for f in found] == ["1", "3"]
    assert {f.trigger["dimensions"]["country"] for f in found} == {"DE"}


def test_pct_change_compares_with_the_value_periods_back() -> None:
    run = ingested()
    events = [run, *playbook_events({"operator": "pct_change", "threshold": 50, "periods": 2})]
    for day, value in ((1, 100), (2, 100), (3, 149), (4, 151)):
        at = f"2026-01-0{day}T01:00:00+00:00"
        events.append(built(run, str(day) * 64, at, {"DE": value}, f"2026-01-0{day}"))
    found = find_all(TriggerFinder(), [(e, "t") for e in events])
    assert [f.trigger["value"] for f in found] == [151]
