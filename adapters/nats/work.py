"""Pipeline work from NATS: the orchestrator as a JetStream work-queue consumer that N processes share.

Every process binds the same durable pull consumers (one per subject filter: the pipeline's events and the
exports'), so JetStream hands each message to one of them. A message names a run or an export; the handler does
whatever that run or export has due (``Orchestrator.handle``). Effects stay exactly-once however the messages
are shared or redelivered: steps are recorded under command ids derived from the run, a run accepts only the step
it waits for, and dataset files are content-addressed.

Redelivery is bounded: a message that keeps failing (the database away, say) is redelivered with growing delays
(``BACKOFF``), and after its last delivery it becomes a dead letter (source ``consumer``) instead of blocking.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

import anyio
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from faststream.nats.message import NatsMessage as Message
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind, Tracer

from adapters.nats import cloudevents
from adapters.nats.consumers import durable_name, parent_context
from application.commands import CommandContext
from application.deadletters import DeadLetterService
from application.orchestrator import Orchestrator
from domain.values import tenant_id_or_none

log = logging.getLogger(__name__)
WORK_CONTEXTS = ("pipeline", "exports", "webhooks")
"""The bounded contexts whose events carry pipeline work, exports, and compensations of failed notifications
(NATS 2.9 takes one filter subject per consumer)."""
BACKOFF = (1.0, 5.0, 30.0, 120.0)
"""Seconds before each redelivery; the delivery after the last one is the final attempt."""
MAX_DELIVER = len(BACKOFF) + 1
ACK_WAIT = 30.0
"""Seconds without an ack or a progress beat before JetStream hands the message to another process (the one
holding it died); a long step keeps its message by beating every ACK_WAIT / 3 seconds."""


def work_config(durable: str, filter_subject: str, ack_wait: float = ACK_WAIT) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        description="pipeline work shared by every consumer process",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=JsAckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=MAX_DELIVER,
        backoff=list(BACKOFF),
        max_ack_pending=64,
        filter_subject=filter_subject,
    )


class PipelineWorker:
    """Handles one work message: the orchestrator does what is due, then the message is acked."""

    def __init__(
        self, orchestrator: Orchestrator, dead_letters: DeadLetterService, tracer: Tracer, ack_wait: float = ACK_WAIT
    ) -> None:
        self.orchestrator = orchestrator
        self.dead_letters = dead_letters
        self.tracer = tracer
        self.ack_wait = ack_wait

    async def _work(self, message: Message, stream_id: UUID) -> int:
        """The orchestrator's work for the message, with a progress beat so JetStream keeps it with us."""
        done, failure = 0, None

        async def work() -> None:
            nonlocal done, failure
            try:
                done = await anyio.to_thread.run_sync(self.orchestrator.handle, stream_id)
            except Exception as error:  # handed back to the caller as it is, not wrapped in a group
                failure = error
            finally:
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            group.start_soon(work)
            while True:
                await anyio.sleep(self.ack_wait / 3)
                await message.in_progress()
        if failure is not None:
            raise failure
        return done

    async def handle(self, message: Message, name: str) -> None:
        try:
            cloud_event = cloudevents.parse(message.body)
        except cloudevents.NotACloudEventError as error:
            log.error("%s: dropping a message that is not a platform CloudEvent: %s", name, error)
            await message.reject()
            return
        context = parent_context(cloud_event, message.headers)
        span_name = f"process {cloud_event.type}"
        with self.tracer.start_as_current_span(span_name, context=context, kind=SpanKind.CONSUMER) as span:
            span.set_attribute("messaging.consumer.group.name", name)
            try:
                done = await self._work(message, UUID(cloud_event.streamid))
            except Exception as error:  # redelivered with backoff; the last delivery becomes a dead letter
                span.record_exception(error)
                delivered = message.raw_message.metadata.num_delivered
                if delivered >= MAX_DELIVER:
                    log.error("%s: event %s failed its last delivery; dead-lettered", name, cloud_event.id)
                    await anyio.to_thread.run_sync(self._dead_letter, cloud_event, name, error, delivered)
                    await message.ack()
                    return
                log.warning("%s: event %s failed (delivery %d): %s", name, cloud_event.id, delivered, error)
                await message.nack(delay=BACKOFF[min(delivered, len(BACKOFF)) - 1])
                return
        if done:
            log.info("%s: %d step(s) done for %s %s", name, done, cloud_event.type, cloud_event.streamid)
        await message.ack()

    def _dead_letter(self, cloud_event: cloudevents.CloudEvent, name: str, error: Exception, attempts: int) -> None:
        context = CommandContext(f"system:{name}", f"consumer-dead-letter|{name}|{cloud_event.id}", cloud_event.id)
        self.dead_letters.record(
            context,
            tenant_id_or_none(cloud_event.tenantid),
            "consumer",
            str(cloud_event.streamid),
            name,
            f"{type(error).__name__}: {error}",
            attempts,
            (cloud_event.id, cloud_event.type),
        )


def subscribe_pipeline_work(broker: NatsBroker, worker: PipelineWorker, stream: str, prefix: str) -> None:
    """Registers the shared durable consumers of pipeline work on the broker."""
    for context in WORK_CONTEXTS:
        filter_subject = cloudevents.subject_filter(prefix, context)
        durable = durable_name(prefix, f"orchestrator-{context}")

        broker.subscriber(
            filter_subject,
            stream=JStream(stream, declare=False),
            durable=durable,
            config=work_config(durable, filter_subject, worker.ack_wait),
            pull_sub=PullSub(batch_size=1, timeout=1.0),
            ack_policy=AckPolicy.MANUAL,
            title=f"pipeline work ({context})",
            description=f"Runs the pipeline steps and export jobs that {filter_subject} events make due.",
        )(_handler(worker, durable))


def _handler(worker: PipelineWorker, name: str) -> Callable[[NatsMessage], Awaitable[None]]:
    async def handle(message: NatsMessage) -> None:
        await worker.handle(message, name)

    return handle
