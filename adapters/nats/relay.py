"""The relay: publishes the event log to a JetStream stream, every event once and in log order.

**The stream is the checkpoint.** Every message carries its event's id (``Nats-Msg-Id``) and log position
(``Platform-Position``). On start, and after any failure, the relay reads the stream's last message and
resumes the log right after that position. There is no second checkpoint that could disagree with what
the stream really holds: an event whose ack was lost but which was stored is not sent again, and an event
that was never stored is sent again.

**Strict order with many publishes in flight.** A batch of events is published without waiting for acks,
then the acks are awaited together. The batch's first message carries ``Nats-Expected-Last-Sequence`` (the
stream sequence of the last stored message) and each further message ``Nats-Expected-Last-Msg-Id`` (its
predecessor's event id). If one publish is lost or refused, the server refuses every later one in the batch,
so the stream never holds an event ahead of an earlier one; the relay then resumes from the stream's last
message. (The batch head uses the sequence rather than the message id because a restarted server forgets
the last message id once it is older than the duplicate window, while it always knows its last sequence.)

**Duplicates.** ``Nats-Msg-Id`` lets JetStream drop a repeated publish within the duplicate window, the
safety net for anything that slips past the checkpoint (two relays started by mistake, for instance: the
expectations make one of them fail and resync, never both store).

**Outages.** The NATS connection reconnects forever. While NATS is away, publishes and stream look-ups
time out, the relay waits and retries from the stream's last message; no event is lost or doubled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import PubAck

from adapters.nats import cloudevents
from adapters.nats.jetstream import (
    CONTENT_TYPE,
    DUPLICATE_WINDOW,
    EXPECTED_LAST_MSG_ID,
    EXPECTED_LAST_SEQUENCE,
    MSG_ID,
    POSITION,
    TRACEPARENT,
    Checkpoint,
    PipelinedPublisher,
    ensure_stream,
    read_checkpoint,
)
from eventstore.cipher import FieldCipher
from eventstore.envelope import RecordedEvent
from eventstore.port import EventStore, Subscription

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called after each acked batch with (events published since start, position of the last one)."""


class PublishFailedError(Exception):
    """Not every event of a batch was stored; the relay resumes from the stream's last message."""

    def __init__(self, message: str, acked: int) -> None:
        super().__init__(message)
        self.acked = acked
        """How many events at the head of the batch were acked as stored."""


class _SubscriptionEndedError(Exception):
    """The event-store subscription stopped delivering; the relay subscribes again."""


def message_headers(recorded: RecordedEvent, previous_id: str | None, last_sequence: int | None) -> dict[str, str]:
    """NATS headers of one event's message; ``last_sequence`` is given for a batch's first message only."""
    headers = {
        MSG_ID: recorded.event_id,
        POSITION: str(recorded.position),
        CONTENT_TYPE: cloudevents.CONTENT_TYPE,
    }
    if last_sequence is not None:
        headers[EXPECTED_LAST_SEQUENCE] = str(last_sequence)
    elif previous_id is not None:
        headers[EXPECTED_LAST_MSG_ID] = previous_id
    if recorded.metadata.traceparent:
        headers[TRACEPARENT] = recorded.metadata.traceparent
    return headers


async def publish_batch(
    publisher: PipelinedPublisher,
    prefix: str,
    events: Sequence[RecordedEvent],
    after: Checkpoint,
    *,
    ack_timeout: float,
    cipher: FieldCipher | None = None,
) -> Checkpoint:
    """Publishes events in log order, all in flight at once, right after ``after``; returns the new checkpoint.

    Raises PublishFailedError unless every event was acked as newly stored.
    """
    if not events:
        return after
    futures = []
    previous = after.event_id
    for index, recorded in enumerate(events):
        headers = message_headers(recorded, previous, after.sequence if index == 0 else None)
        payload = cloudevents.encode(recorded, cipher)
        futures.append(await publisher.publish(cloudevents.nats_subject(prefix, recorded), payload, headers))
        previous = recorded.event_id
    acks = await _acks(futures, ack_timeout)
    return Checkpoint(events[-1].position, events[-1].event_id, acks[-1].seq)


async def _acks(futures: list[asyncio.Future[PubAck]], timeout: float) -> list[PubAck]:
    done, pending = await asyncio.wait(futures, timeout=timeout)
    for future in pending:
        future.cancel()
    for future in done:
        future.exception()  # marks every refusal as seen, so asyncio does not log it as never retrieved
    acks: list[PubAck] = []
    for future in futures:
        if future not in done:
            raise PublishFailedError(f"{len(acks)} of {len(futures)} acked; no ack within {timeout}s", len(acks))
        error = future.exception()
        if error is not None:
            raise PublishFailedError(f"{len(acks)} of {len(futures)} acked; then {error}", len(acks)) from error
        ack = future.result()
        if ack.duplicate:
            message = f"{len(acks)} of {len(futures)} acked; the stream already held the next one"
            raise PublishFailedError(message, len(acks))
        acks.append(ack)
    return acks


def _next_batch(subscription: Subscription, limit: int) -> list[RecordedEvent]:
    try:
        return subscription.next_batch(limit, timeout=0.2)
    except StopIteration:  # cannot cross into asyncio: say it another way
        raise _SubscriptionEndedError("the event-store subscription ended") from None


class Relay:
    """Follows the event log and publishes each event to the JetStream stream as a CloudEvent."""

    def __init__(
        self,
        store: EventStore,
        nats_url: str,
        stream: str,
        prefix: str,
        *,
        batch: int = 1000,
        ack_timeout: float = 5.0,
        retry_wait: float = 1.0,
        duplicate_window: float = DUPLICATE_WINDOW,
        cipher: FieldCipher | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.nats_url = nats_url
        self.stream = stream
        self.prefix = prefix
        self.batch = batch
        self.ack_timeout = ack_timeout
        self.retry_wait = retry_wait
        self.duplicate_window = duplicate_window
        self.cipher = cipher
        self.progress = progress
        self.published = 0

    async def run(self, stop: threading.Event) -> None:
        """Publishes new events until ``stop`` is set, through NATS outages."""
        connection = await self._connect(stop)
        if connection is None:
            return
        publisher = PipelinedPublisher(connection)
        try:
            await publisher.start()
            while not stop.is_set():
                try:
                    await self._follow(connection, publisher, stop)
                except Exception as error:
                    _log_pause(error)
                    publisher.abandon()
                    await _pause(stop, self.retry_wait)
        finally:
            await publisher.close()
            await connection.close()

    async def _connect(self, stop: threading.Event) -> Client | None:
        """Connects, retrying until NATS answers (None if stopped first); later drops reconnect by themselves."""
        while not stop.is_set():
            connecting = asyncio.ensure_future(
                nats.connect(
                    self.nats_url,
                    name="platform-relay",
                    max_reconnect_attempts=-1,  # also retries the first connection, for as long as it takes
                    reconnect_time_wait=1,
                    connect_timeout=2,
                    error_cb=_log_error,
                )
            )
            while not connecting.done():
                if stop.is_set():  # nats-py may swallow one cancellation in its retry loop: repeat it
                    connecting.cancel()
                await asyncio.wait({connecting}, timeout=0.2)
            try:
                return await connecting
            except asyncio.CancelledError:
                return None
            except Exception as error:
                log.warning("relay cannot connect to NATS at %s (%s); trying again", self.nats_url, error)
                await _pause(stop, self.retry_wait)
        return None

    async def _follow(self, connection: Client, publisher: PipelinedPublisher, stop: threading.Event) -> None:
        js = connection.jetstream(timeout=self.ack_timeout)
        await ensure_stream(js, self.stream, self.prefix, self.duplicate_window)
        checkpoint = await read_checkpoint(js, self.stream)
        log.info(
            "relay resumes after position %s (stream %s, sequence %s)",
            checkpoint.position,
            self.stream,
            checkpoint.sequence,
        )
        subscription = self.store.subscribe(checkpoint.position)
        try:
            while not stop.is_set():
                events = await asyncio.to_thread(_next_batch, subscription, self.batch)
                if events:
                    checkpoint = await self._publish(publisher, events, checkpoint)
        finally:
            await asyncio.to_thread(subscription.stop)

    async def _publish(
        self, publisher: PipelinedPublisher, events: list[RecordedEvent], after: Checkpoint
    ) -> Checkpoint:
        try:
            checkpoint = await publish_batch(
                publisher, self.prefix, events, after, ack_timeout=self.ack_timeout, cipher=self.cipher
            )
        except PublishFailedError as error:
            if error.acked:
                self._report(error.acked, events[error.acked - 1].position)
            raise
        self._report(len(events), checkpoint.position)
        return checkpoint

    def _report(self, count: int, position: int) -> None:
        self.published += count
        if self.progress is not None:
            self.progress(self.published, position)


def _log_pause(error: Exception) -> None:
    if isinstance(error, NatsError | PublishFailedError | TimeoutError | OSError):
        log.warning("relay paused (%s); resuming from the stream's last message", error)
    else:
        log.exception("relay failed; resuming from the stream's last message")


async def _pause(stop: threading.Event, seconds: float) -> None:
    """Sleeps up to ``seconds``, waking early when stop is set."""
    await asyncio.to_thread(stop.wait, seconds)


async def _log_error(error: Exception) -> None:
    log.info("relay NATS connection: %s", error)
