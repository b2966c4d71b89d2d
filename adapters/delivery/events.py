"""What webhooks carry: the CloudEvents types that may be subscribed to, and the payload sent for an event.

The types are those of ``adapters/nats/cloudevents.py`` (``platform.<context>.<EventName>``) for every event class
of every aggregate in ``domain``, found by walking the package. The webhooks context's own events are not offered:
a delivery's events would trigger deliveries of themselves.

A payload is the event's CloudEvent in structured JSON mode, as NATS carries it, except that the fields an event
class declares encrypted (secret values, personal data) are left out: they never leave the platform by webhook.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import msgspec
from eventsourcing.domain import CanInitAggregate, CanMutateAggregate

import domain
from adapters.nats.cloudevents import to_cloud_event
from domain.aggregate import Aggregate
from eventstore import codec
from eventstore.cipher import encrypted_fields_of
from eventstore.envelope import RecordedEvent

WEBHOOKS_CONTEXT = "webhooks"
_encoder = msgspec.json.Encoder()


def type_of_class(cls: type) -> str:
    """The CloudEvents type of an event class (as ``cloudevents.event_type`` names a recorded event)."""
    return f"platform.{codec.context_of(cls)}.{codec.type_name(cls)}"


def _aggregates() -> list[type]:
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    found, todo = [], list(Aggregate.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.startswith("domain.")]


def _events_of(aggregate: type) -> list[type]:
    """The event classes an aggregate records: its nested events, without the bases eventsourcing adds to each
    aggregate (``Event``; ``Created`` when another class creates the aggregate)."""
    nested = [
        cls
        for name, cls in vars(aggregate).items()
        if inspect.isclass(cls) and issubclass(cls, CanMutateAggregate) and name != "Event"
    ]
    creators = [cls for cls in nested if issubclass(cls, CanInitAggregate)]
    unused_created = len(creators) > 1
    return [cls for cls in nested if not (unused_created and cls.__name__ == "Created")]


@functools.cache
def event_types() -> frozenset[str]:
    """Every CloudEvents type the platform's aggregates emit."""
    return frozenset(type_of_class(cls) for aggregate in _aggregates() for cls in _events_of(aggregate))


def webhook_event_types() -> frozenset[str]:
    """The types an endpoint may subscribe to: every type but the webhooks context's own."""
    own = f"platform.{WEBHOOKS_CONTEXT}."
    return frozenset(name for name in event_types() if not name.startswith(own))


def webhook_payload(recorded: RecordedEvent) -> bytes:
    """The event as CloudEvent JSON, its encrypted fields and the request fingerprint (internal) left out."""
    cloud_event = msgspec.structs.replace(to_cloud_event(recorded), requestfingerprint=None)
    withheld = encrypted_fields_of(type(recorded.event))
    if withheld:
        data = {name: value for name, value in cloud_event.data.items() if name not in withheld}
        cloud_event = msgspec.structs.replace(cloud_event, data=data)
    return _encoder.encode(cloud_event)
