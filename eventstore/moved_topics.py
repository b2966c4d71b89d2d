"""The classes that moved, by the topic their events were stored under: the one place that keeps old topics alive.

A stored event names its class by topic (module path and qualified name, eventsourcing's ``get_topic``). When a
class moves, its events keep their old topic in the log for ever, so the old topic is registered here for the class
at its new home (``eventsourcing.utils.register_topic``). Registering an aggregate's topic covers its nested event
classes: ``resolve_topic`` finds ``<module>:<Aggregate>.<Event>`` through the registered ``<module>:<Aggregate>``.
The codec calls ``register_moved_topics`` when it is imported, so the registration is made before any event is decoded.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic

from domain.access.api_keys import ApiKey
from domain.access.denials import Denial
from domain.access.principals import Principal
from domain.actions.playbooks import Playbook
from domain.actions.runs import ActionRun
from domain.actions.templates import ActionTemplate
from domain.schedules.job_runs import JobRun
from domain.schedules.schedules import Schedule
from domain.webhooks.deliveries import Delivery
from domain.webhooks.endpoints import WebhookEndpoint

MOVED: dict[str, type] = {
    # issue 14: domain/actions.py became one module per aggregate
    "domain.actions:ActionTemplate": ActionTemplate,
    "domain.actions:Playbook": Playbook,
    "domain.actions:ActionRun": ActionRun,
    # issue 14: domain/access.py, domain/webhooks.py and domain/schedules.py became one module per aggregate
    "domain.access:Principal": Principal,
    "domain.access:ApiKey": ApiKey,
    "domain.access:Denial": Denial,
    "domain.webhooks:WebhookEndpoint": WebhookEndpoint,
    "domain.webhooks:Delivery": Delivery,
    "domain.schedules:Schedule": Schedule,
    "domain.schedules:JobRun": JobRun,
}
"""Old topic -> the class it names now."""


def register_moved_topics() -> None:
    """Makes every old topic resolve to its class's new home (registering again is harmless)."""
    for topic, cls in MOVED.items():
        register_topic(topic, cls)
