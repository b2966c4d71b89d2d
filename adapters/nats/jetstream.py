"""JetStream plumbing shared by the relay and the consumers: the stream, its last message, pipelined publishing."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, PubAck, RawStreamMsg, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import APIError, BadRequestError, NoStreamResponseError, NotFoundError

from adapters.nats import cloudevents

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
POSITION = "Platform-Position"
TRACEPARENT = "traceparent"
CONTENT_TYPE = "Content-Type"
DUPLICATE_WINDOW = 120.0
"""Seconds JetStream remembers message ids: a publish repeated within it is stored once."""


@dataclass(frozen=True)
class Checkpoint:
    """The newest event the stream holds: its log position, its id and its stream sequence."""

    position: int = 0
    event_id: str | None = None
    sequence: int = 0


async def ensure_stream(
    js: JetStreamContext, name: str, prefix: str, duplicate_window: float = DUPLICATE_WINDOW
) -> StreamInfo:
    """The stream holding ``<prefix>.>``, created (file storage, no age limit) when it does not exist."""
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        config = StreamConfig(
            name=name,
            description="Platform events as CloudEvents, in log order, one message per event",
            subjects=[cloudevents.subject_filter(prefix)],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            duplicate_window=duplicate_window,
        )
        try:
            return await js.add_stream(config)
        except BadRequestError:  # another relay or consumer created it first
            info = await js.stream_info(name)
    if cloudevents.subject_filter(prefix) not in (info.config.subjects or []):
        log.warning("stream %s holds %s, not %s.>", name, info.config.subjects, prefix)
    return info


async def read_checkpoint(js: JetStreamContext, stream: str) -> Checkpoint:
    """Where the stream ends: the position and id its last message carries (nothing: position 0)."""
    info = await js.stream_info(stream)
    state = info.state
    for sequence in range(state.last_seq, max(state.first_seq, 1) - 1, -1):
        try:
            message = await js.get_msg(stream, seq=sequence)
        except NotFoundError:  # deleted by hand; the one before it is the newest
            continue
        return _checkpoint_of(message, sequence)
    return Checkpoint(sequence=state.last_seq)


def _checkpoint_of(message: RawStreamMsg, sequence: int) -> Checkpoint:
    headers = message.headers or {}
    if POSITION in headers and MSG_ID in headers:
        return Checkpoint(int(headers[POSITION]), headers[MSG_ID], sequence)
    cloud_event = cloudevents.parse(message.data or b"")
    return Checkpoint(int(cloud_event.position), cloud_event.id, sequence)


class PipelinedPublisher:
    """JetStream publishes with many in flight, each ack or refusal resolved on its own future.

    It uses core NATS request/reply (one reply subject per message under one inbox subscription), as
    nats-py's ``publish_async`` does, but sets the server's refusal on the future: nats-py 2.16 leaves that
    future pending forever (nats-io/nats.py#985), which would turn every refused publish into a time-out.
    """

    def __init__(self, connection: Client) -> None:
        self._connection = connection
        self._inbox = ""
        self._tokens = itertools.count()
        self._pending: dict[str, asyncio.Future[PubAck]] = {}
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._inbox = self._connection.new_inbox()
        self._subscription = await self._connection.subscribe(f"{self._inbox}.*", cb=self._on_reply)

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future[PubAck]:
        token = str(next(self._tokens))
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        try:
            await self._connection.publish(subject, payload, reply=f"{self._inbox}.{token}", headers=headers)
        except BaseException:
            self._pending.pop(token, None)
            raise
        return future

    async def _on_reply(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return
        outcome = _ack_or_error(msg)
        if isinstance(outcome, PubAck):
            future.set_result(outcome)
        else:
            future.set_exception(outcome)

    def abandon(self) -> None:
        """Forgets every publish still waiting for its ack (their futures are cancelled)."""
        pending, self._pending = self._pending, {}
        for future in pending.values():
            future.cancel()

    async def close(self) -> None:
        self.abandon()
        if self._subscription is not None and not self._connection.is_closed:
            await self._subscription.unsubscribe()
        self._subscription = None


def _ack_or_error(msg: Msg) -> PubAck | Exception:
    if msg.headers and msg.headers.get("Status") == "503":
        return NoStreamResponseError()
    try:
        response = json.loads(msg.data)
    except ValueError as error:
        return error
    if "error" in response:
        return _api_error(response["error"])
    return PubAck.from_response(response)


def _api_error(error: dict[str, object]) -> APIError:
    try:
        APIError.from_error(error)  # raises the subclass that fits the code
    except APIError as raised:
        return raised
    return APIError(description=str(error))
