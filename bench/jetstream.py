"""JetStream plumbing for the NATS figures (bench/nats.py): skip when NATS is away, throwaway streams, and
observers that see when acks and messages arrive without sitting in the code under test."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from adapters.nats.jetstream import ensure_stream
from bench.harness import Config, Sample, SkipFigure
from interfaces.settings import Settings

NATS_URL = Settings().nats_url
TIMEOUT = 300.0
"""Seconds a trial may wait for its messages before it is declared broken."""
ACKS = (b"", Msg.Ack.Ack)
"""What an ack carries: nothing (nats-py's ``Msg.ack``) or ``+ACK``; a nak or a progress note is no ack."""


def acked_sequence(subject: str) -> str:
    """The stream sequence in an ack subject: ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...`` (9
    tokens), or with ``<domain>.<account hash>`` after ``ACK`` and a random token at the end (12 tokens)."""
    tokens = subject.split(".")
    return tokens[5] if len(tokens) == 9 else tokens[7]


def require_nats(url: str | None = None) -> None:
    """Raises SkipFigure unless a NATS server with JetStream answers at the URL (NATS_URL by default)."""
    url = url or NATS_URL
    parsed = urlparse(url)
    try:  # a refused TCP connection fails at once; nats-py would retry it for a while
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=1).close()
        asyncio.run(_account_info(url))
    except (OSError, TimeoutError, nats.errors.Error) as error:
        raise SkipFigure(f"no NATS JetStream at {url}: {type(error).__name__} {error}") from error


async def _account_info(url: str) -> None:
    async with connected(url) as connection:
        await connection.jetstream().account_info()


async def _quiet(_error: Exception) -> None:
    return None


@asynccontextmanager
async def connected(url: str | None = None) -> AsyncIterator[Client]:
    """A plain nats-py connection (to NATS_URL by default) that gives up rather than reconnecting."""
    connection = await asyncio.wait_for(
        nats.connect(url or NATS_URL, connect_timeout=1, allow_reconnect=False, error_cb=_quiet), timeout=5
    )
    try:
        yield connection
    finally:
        await connection.close()


class Streams:
    """The streams one figure creates: fresh names, the relay's own stream config, all deleted at the end."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or NATS_URL
        self.names: set[str] = set()

    def create(self, tag: str) -> tuple[str, str]:
        """A new stream and its subject prefix (two streams cannot share subjects, so each has its own)."""
        name = f"BENCH_{tag}_{uuid.uuid4().hex[:10].upper()}"
        self.names.add(name)
        asyncio.run(self._run(lambda js: ensure_stream(js, name, name.lower())))
        return name, name.lower()

    def delete(self, name: str) -> None:
        asyncio.run(self._run(lambda js: js.delete_stream(name)))
        self.names.discard(name)

    def delete_consumer(self, stream: str, consumer: str) -> None:
        asyncio.run(self._run(lambda js: js.delete_consumer(stream, consumer)))

    def close(self) -> None:
        for name in list(self.names):
            self.delete(name)

    async def _run(self, action: Callable[[Any], Awaitable[object]]) -> None:
        async with connected(self.url) as connection:
            with suppress(NotFoundError):
                await action(connection.jetstream())


@contextmanager
def nats_figure(config: Config, folder: str) -> Iterator[tuple[ExitStack, Streams, Path]]:
    """Skips unless NATS answers; yields an exit stack, the figure's streams (deleted last) and its folder."""
    require_nats()
    with ExitStack() as stack:
        streams = Streams()
        stack.callback(streams.close)
        yield stack, streams, config.workdir / folder


async def wait_for(event: asyncio.Event, task: asyncio.Task[None] | None = None) -> None:
    """Waits for the event; fails if the task (a relay, say) ends first or TIMEOUT passes."""
    waiting = asyncio.ensure_future(event.wait())
    done, _ = await asyncio.wait({waiting, *([task] if task else [])}, timeout=TIMEOUT, return_when="FIRST_COMPLETED")
    if waiting in done:
        return
    waiting.cancel()
    if task is not None and task in done:
        task.result()  # raises whatever ended it
        raise RuntimeError("the task ended before the trial was done")
    raise TimeoutError(f"not done within {TIMEOUT}s")


class AckCounter:
    """Counts the distinct stream sequences a consumer acks, from copies of its ``$JS.ACK`` messages."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.acked: set[str] = set()
        self.done = asyncio.Event()

    async def on_ack(self, msg: Msg) -> None:
        if msg.data in ACKS:
            self.acked.add(acked_sequence(msg.subject))
            if len(self.acked) >= self.expected:
                self.done.set()


@asynccontextmanager
async def counting_acks(stream: str, consumer: str, expected: int) -> AsyncIterator[AckCounter]:
    """Watches the consumer's acks as the server routes them (any subscriber to the ack subject gets a copy)."""
    counter = AckCounter(expected)
    async with connected() as connection:
        for subject in (f"$JS.ACK.{stream}.{consumer}.>", f"$JS.ACK.*.*.{stream}.{consumer}.>"):
            await connection.subscribe(subject, cb=counter.on_ack)
        await connection.flush()
        yield counter


class Arrivals:
    """When each message arrived (read first thing in the callback), as futures keyed by ``key(msg)``."""

    def __init__(self, key: Callable[[Msg], str]) -> None:
        self.key = key
        self.futures: dict[str, asyncio.Future[float]] = {}

    def of(self, key: str) -> asyncio.Future[float]:
        return self.futures.setdefault(key, asyncio.get_running_loop().create_future())

    async def on_message(self, msg: Msg) -> None:
        received = time.perf_counter()
        arrival = self.of(self.key(msg))
        if not arrival.done():
            arrival.set_result(received)


@asynccontextmanager
async def arrivals_on(stream: str, prefix: str, key: Callable[[Msg], str]) -> AsyncIterator[tuple[Client, Arrivals]]:
    """A raw ordered push subscription to the stream's new messages, recording when each arrives."""
    arrivals = Arrivals(key)
    async with connected() as connection:
        js = connection.jetstream()
        await js.subscribe(
            f"{prefix}.>",
            stream=stream,
            cb=arrivals.on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
        )
        yield connection, arrivals


def p99(latencies: list[float]) -> Sample:
    """The 99th percentile as a Sample of one operation taking that long: its rate is 1/p99."""
    return Sample(1, statistics.quantiles(latencies, n=100, method="inclusive")[98])
