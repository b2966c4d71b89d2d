"""Events stored under the topic of a class that has since moved still decode, as the class at its new home."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.access.api_keys import ApiKey
from domain.access.denials import Denial
from domain.access.principals import Principal
from domain.actions.playbooks import Playbook, Step
from domain.actions.runs import ActionRun, Trigger
from domain.actions.templates import ActionTemplate
from domain.schedules.job_runs import JobRun
from domain.schedules.schedules import Schedule
from domain.values import TenantId
from domain.webhooks.deliveries import DEFAULT_SCHEDULE, Delivery, Outcome
from domain.webhooks.endpoints import WebhookEndpoint
from eventstore.codec import context_of, decode, encode, event_data, type_name
from eventstore.moved_topics import MOVED
from tests.unit.test_codec import metadata_for

TENANT = TenantId(str(uuid4()))
NOW = datetime(2026, 1, 2, tzinfo=UTC)
STEP = Step(template_id=str(uuid4()), version=1, params={}, requires_approval=True)


def _trigger(playbook_id: str) -> Trigger:
    condition: Any = {"op": "gt", "threshold": 1.0}
    return Trigger(
        playbook_id=playbook_id,
        playbook="p",
        contract="sales",
        kpi="revenue",
        kpi_sha256="0" * 64,
        pipeline_run_id=str(uuid4()),
        period_start="2026-01-01",
        dimensions={},
        value=2.0,
        previous=None,
        condition=condition,
        reason="over 1.0",
        at="2026-01-02T00:00:00+00:00",
    )


def _run_events() -> list[Any]:
    run = ActionRun.start("tenant", _trigger(str(uuid4())), [STEP], "")
    run.await_approval(0)
    run.approve(0, "user:alice")
    return list(run.collect_events())


def _template_events() -> list[Any]:
    template = ActionTemplate.define("tenant", "notify", "http", {"parameters": [], "body": "x", "connector": {}})
    return list(template.collect_events())


def _playbook_events() -> list[Any]:
    condition: Any = {"operator": "above", "threshold": 1.0, "periods": 1}
    playbook = Playbook.define(TENANT, "p", ("sales", "revenue"), condition, {}, 0, [STEP])
    playbook.activate("user:alice")
    return list(playbook.collect_events())


def _access_events() -> list[Any]:
    principal = Principal.register("service", "local", "loader", "Loader", TENANT)
    principal.grant("service")
    key = ApiKey.issue(uuid4(), str(principal.id), TENANT, "abcdefghijkl", "00", "11")
    key.revoke("rotated")
    denial = Denial.record(uuid4(), str(principal.id), "land_batch", "contract:sales", ["suspended"])
    return [*principal.collect_events(), *key.collect_events(), *denial.collect_events()]


def _webhook_events() -> list[Any]:
    known = frozenset({"platform.tenants.TenantOnboarded"})
    endpoint = WebhookEndpoint.subscribe(uuid4(), TENANT, "https://example.com/hook", known, known)
    endpoint.disable("maintenance")
    delivery = Delivery.start(TENANT, str(endpoint.id), str(uuid4()), "platform.tenants.TenantOnboarded", 7)
    delivery.record(Outcome(500), NOW, DEFAULT_SCHEDULE)
    delivery.record(Outcome(200), NOW, DEFAULT_SCHEDULE)
    return [*endpoint.collect_events(), *delivery.collect_events()]


def _schedule_events() -> list[Any]:
    job = {"kind": "ledger_checkpoint"}
    schedule = Schedule.create(TENANT, "cmd-1", "nightly", job, "0 2 * * *", None, "UTC", NOW, "user:alice")
    schedule.pause("user:alice")
    run = JobRun.due(TENANT, schedule.id, NOW + timedelta(hours=2), job, 0)
    run.start(1, "scheduler-1", NOW + timedelta(hours=2), 60.0)
    return [*schedule.collect_events(), *run.collect_events()]


def _stored_under_old_topic(new_event: Any) -> StoredEvent:
    stored = encode(new_event, metadata_for(new_event))
    old_topic = next(
        old + stored.topic.removeprefix(get_topic(cls))
        for old, cls in MOVED.items()
        if stored.topic.startswith(f"{get_topic(cls)}.")
    )
    assert old_topic != stored.topic
    return dataclasses.replace(stored, topic=old_topic)


MOVED_EVENTS = [
    *_run_events(),
    *_template_events(),
    *_playbook_events(),
    *_access_events(),
    *_webhook_events(),
    *_schedule_events(),
]


@pytest.mark.parametrize("new_event", MOVED_EVENTS, ids=lambda e: type_name(type(e)))
def test_an_event_stored_under_its_old_topic_decodes_as_the_moved_class(new_event: Any) -> None:
    recorded = decode(7, _stored_under_old_topic(new_event))

    assert type(recorded.event) is type(new_event)
    assert recorded.type == type_name(type(new_event))
    assert recorded.data == event_data(new_event)


def test_every_old_topic_names_a_class_that_now_lives_elsewhere() -> None:
    for old_topic, cls in MOVED.items():
        assert get_topic(cls) != old_topic
        assert context_of(cls) == old_topic.split(":")[0].split(".")[1]


def test_every_moved_class_has_an_event_decoded_under_its_old_topic_here() -> None:
    assert {type(e).__qualname__.split(".")[0] for e in MOVED_EVENTS} == {cls.__name__ for cls in MOVED.values()}


def test_the_moved_events_keep_their_context_and_type_name() -> None:
    """The CloudEvents type (platform.<context>.<TypeName>) and NATS subject of a moved event stay as they were."""
    moved = (
        ActionRun.Triggered,
        Playbook.Defined,
        ActionTemplate.Revised,
        Principal.Registered,
        ApiKey.Revoked,
        Denial.Recorded,
        WebhookEndpoint.Subscribed,
        Delivery.Delivered,
        Schedule.Created,
        JobRun.Started,
    )
    assert [(context_of(cls), type_name(cls)) for cls in moved] == [
        ("actions", "ActionRunTriggered"),
        ("actions", "PlaybookDefined"),
        ("actions", "ActionTemplateRevised"),
        ("access", "PrincipalRegistered"),
        ("access", "ApiKeyRevoked"),
        ("access", "DenialRecorded"),
        ("webhooks", "WebhookEndpointSubscribed"),
        ("webhooks", "DeliveryDelivered"),
        ("schedules", "ScheduleCreated"),
        ("schedules", "JobRunStarted"),
    ]
