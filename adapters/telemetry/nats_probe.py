"""What JetStream says about the platform's stream: each consumer's backlog and where the relay has got to.

A scrape must not hang on NATS. The probe keeps the last answer for ``ttl`` seconds; when it is older, one
background thread asks again (connect, consumer infos, the stream's last message, close, within ``timeout``)
and the scrape waits for it at most ``budget`` seconds, then goes on with whatever answer it has (maybe none).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

import nats
from nats.aio.client import Client

from adapters.nats.jetstream import read_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerState:
    """One durable consumer of the stream: messages not yet delivered, delivered but unacked, redelivered."""

    name: str
    pending: int
    ack_pending: int
    redelivered: int


@dataclass(frozen=True)
class StreamState:
    """An answer from NATS (``error`` says why there is none), with the monotonic time it was asked."""

    checked_at: float
    consumers: tuple[ConsumerState, ...] = ()
    relay_position: int | None = None
    """The log position of the newest event in the stream (None when NATS did not answer)."""
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.error is None


class NatsProbe:
    """Cached, bounded look-ups of the stream's consumers and last message."""

    def __init__(self, url: str, stream: str, *, ttl: float = 3.0, budget: float = 0.2, timeout: float = 2.0) -> None:
        self.url = url
        self.stream = stream
        self.ttl = ttl
        self.budget = budget
        self.timeout = timeout
        self._state: StreamState | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def state(self) -> StreamState | None:
        """The newest answer, refreshed in the background when stale; waits at most ``budget`` seconds."""
        with self._lock:
            current = self._state
            stale = current is None or time.monotonic() - current.checked_at >= self.ttl
            if stale and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._refresh, name="nats-probe", daemon=True)
                self._thread.start()
            thread = self._thread
        if stale and thread is not None:
            thread.join(self.budget)
        with self._lock:
            return self._state

    def _refresh(self) -> None:
        asked = time.monotonic()
        try:
            state = asyncio.run(asyncio.wait_for(self._ask(asked), self.timeout))
        except Exception as error:  # any failure is an answer too: NATS is down or the stream is missing
            state = StreamState(asked, error=f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
            log.debug("NATS probe of %s failed: %s", self.stream, state.error)
        with self._lock:
            self._state = state

    async def _ask(self, asked: float) -> StreamState:
        connection = await _connect(self.url, self.timeout)
        try:
            js = connection.jetstream(timeout=self.timeout)
            infos = await js.consumers_info(self.stream)
            checkpoint = await read_checkpoint(js, self.stream)
        finally:
            await connection.close()
        consumers = tuple(
            ConsumerState(
                str(info.name),
                int(info.num_pending or 0),
                int(info.num_ack_pending or 0),
                int(info.num_redelivered or 0),
            )
            for info in infos
        )
        return StreamState(asked, consumers, checkpoint.position)


async def _connect(url: str, timeout: float) -> Client:
    async def quiet(_error: Exception) -> None:
        return None  # a refused connection is reported once, as the probe's answer

    return await nats.connect(
        url,
        name="platform-metrics",
        connect_timeout=timeout,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        error_cb=quiet,
    )
