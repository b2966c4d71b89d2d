"""Read models fed from NATS: what each read model reads, and a batch of messages made into its events.

Every read model can be fed from JetStream (``adapters/nats/read_model_feeds.py`` runs the feeds). A feed reads
the whole stream, in order, and decodes only the messages of the bounded contexts its read model reads
(``FED_FROM_NATS``, matched on the subject's context token): the others only move its checkpoint, as the
projection worker's batches do, so a read model fed from NATS is as far along as the log it has seen
(``X-Consistent-Position`` and the stall check compare checkpoints with the log). nats-server 2.9 filters a
consumer on one subject only, which would not cover the read models that read several contexts.

Each applied event gets a CONSUMER span whose parent is the message's ``traceparent`` (the CloudEvents
extension, else the NATS header), so a trace runs from the HTTP request through the command to here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer, use_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from adapters.nats import cloudevents
from adapters.nats.jetstream import POSITION, TRACEPARENT
from eventstore.blobs import BlobStore
from eventstore.cipher import FieldCipher
from eventstore.envelope import RecordedEvent

log = logging.getLogger(__name__)
_propagator = TraceContextTextMapPropagator()

EVERY_CONTEXT: frozenset[str] = frozenset()
FED_FROM_NATS: Mapping[str, frozenset[str]] = {
    "tenant_directory": frozenset({"tenants"}),
    "access": frozenset({"access", "tenants"}),
    "secret_directory": frozenset({"secrets", "tenants"}),
    "contracts": frozenset({"contracts"}),
    "schema_registry": frozenset({"schemas"}),
    "policies": frozenset({"policy"}),
    "pipeline_runs": frozenset({"pipeline"}),
    "data_products": frozenset({"products"}),
    "exports": frozenset({"exports"}),
    "lineage": frozenset({"pipeline", "products", "exports", "contracts", "access"}),
    "dead_letters": frozenset({"deadletters"}),
    "webhooks": frozenset({"webhooks", "tenants"}),
    "actions": frozenset({"actions"}),
    "schedules": frozenset({"schedules"}),
    "personal_data": frozenset({"personal_data"}),
}
"""Every read model consumers can keep, with the bounded contexts whose events it reads (EVERY_CONTEXT: all)."""


def durable_name(prefix: str, consumer: str) -> str:
    """A durable consumer's name under a subject prefix (no dots: durable names forbid them)."""
    return cloudevents.subject_token(f"{prefix}-{consumer}")


def parent_context(cloud_event: cloudevents.CloudEvent, headers: Mapping[str, str]) -> Context:
    """The trace context the event was recorded in (an empty one when it carries none)."""
    traceparent = cloud_event.traceparent or headers.get(TRACEPARENT)
    if not traceparent:
        return Context()
    return _propagator.extract({TRACEPARENT: traceparent}, context=Context())


@dataclass
class Batch:
    """Messages read for one read model: the events it reads, how far the batch went in the log and the stream."""

    events: list[RecordedEvent] = field(default_factory=list)
    through: int = 0
    sequence: int = 0


@dataclass(frozen=True)
class Decoder:
    """Makes messages into the events of one read model, opening sealed fields and reading blob fields."""

    name: str
    tracer: Tracer
    cipher: FieldCipher | None = None
    blobs: BlobStore | None = None

    def batch(self, messages: Sequence[Msg], spans: ExitStack) -> Batch:
        """The batch the messages make; each event's span is entered on ``spans`` (closed after the commit)."""
        contexts = FED_FROM_NATS[self.name]
        found = Batch(sequence=messages[-1].metadata.sequence.stream if messages else 0)
        for message in messages:
            position, context = _position(message), message.subject.rsplit(".", 2)[-2]
            if position is not None and contexts and context not in contexts:
                found.through = max(found.through, position)
                continue
            try:
                cloud_event = cloudevents.parse(message.data)
            except cloudevents.NotACloudEventError as error:
                log.error("%s: skipping a message that is not a platform CloudEvent: %s", self.name, error)
                continue
            spans.enter_context(self._span(cloud_event, message))
            found.events.append(cloudevents.to_recorded(cloud_event, self.cipher, self.blobs))
            found.through = max(found.through, int(cloud_event.position))
        return found

    def _span(self, cloud_event: cloudevents.CloudEvent, message: Msg) -> AbstractContextManager[Span]:
        span = self.tracer.start_span(
            f"process {cloud_event.type}",
            context=parent_context(cloud_event, message.headers or {}),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": message.subject,
                "messaging.consumer.group.name": self.name,
                "messaging.message.id": cloud_event.id,
                "cloudevents.event_id": cloud_event.id,
                "cloudevents.event_source": cloud_event.source,
                "cloudevents.event_type": cloud_event.type,
                "cloudevents.event_subject": cloud_event.subject,
                "platform.position": cloud_event.position,
                "platform.read_model": self.name,
            },
        )
        return use_span(span, end_on_exit=True)


def _position(message: Msg) -> int | None:
    text = (message.headers or {}).get(POSITION, "")
    return int(text) if text.isascii() and text.isdigit() else None
