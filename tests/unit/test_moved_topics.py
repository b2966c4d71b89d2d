"""Events stored under the topic of a class that has since moved still decode, as the class at its new home."""

from __future__ import annotations

import dataclasses
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.actions.playbooks import Playbook, Step
from domain.actions.runs import ActionRun, Trigger
from domain.actions.templates import ActionTemplate
from eventstore.codec import context_of, decode, encode, event_data, type_name
from eventstore.moved_topics import MOVED
from tests.unit.test_codec import metadata_for

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


def _stored_under_old_topic(new_event: Any) -> StoredEvent:
    stored = encode(new_event, metadata_for(new_event))
    old_topic = stored.topic.replace("domain.actions.runs:", "domain.actions:").replace(
        "domain.actions.templates:", "domain.actions:"
    )
    assert old_topic != stored.topic
    return dataclasses.replace(stored, topic=old_topic)


@pytest.mark.parametrize("new_event", [*_run_events(), *_template_events()], ids=lambda e: type_name(type(e)))
def test_an_event_stored_under_its_old_topic_decodes_as_the_moved_class(new_event: Any) -> None:
    recorded = decode(7, _stored_under_old_topic(new_event))

    assert type(recorded.event) is type(new_event)
    assert recorded.type == type_name(type(new_event))
    assert recorded.data == event_data(new_event)


def test_every_old_topic_names_a_class_that_now_lives_elsewhere() -> None:
    for old_topic, cls in MOVED.items():
        assert get_topic(cls) != old_topic
        assert context_of(cls) == old_topic.split(":")[0].split(".")[1]


def test_the_moved_events_keep_their_context_and_type_name() -> None:
    """The CloudEvents type (platform.<context>.<TypeName>) and NATS subject of a moved event stay as they were."""
    moved = (ActionRun.Triggered, Playbook.Defined, ActionTemplate.Revised)
    assert [(context_of(cls), type_name(cls)) for cls in moved] == [
        ("actions", "ActionRunTriggered"),
        ("actions", "PlaybookDefined"),
        ("actions", "ActionTemplateRevised"),
    ]
