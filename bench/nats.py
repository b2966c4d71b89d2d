"""NATS figures: the relay, the read-model consumer and command-to-consumer latency, against raw nats-py.

relay.publish: ``Relay`` catching a SQLite log of N tenant events up into a fresh stream, timed from its start
(connection included) until its ``published`` reaches N; baseline ``js.publish_async`` of the same CloudEvent
bytes, subjects and headers (less the relay's order expectations) into another fresh stream, connection included,
until every ack is in.
consumer.feed: ``build_consumers_app(settings, read_models=...)`` feeding the tenant directory (alone, holding its
lease) from a stream of N tenant events into a fresh SQLite read model, from start until its checkpoint reaches the
log's last position; baseline a raw durable push subscription whose callback acks each message, from start until
the server has routed N acks on the consumer's ack subject.
command.latency: ``TenantService.onboard_tenant`` on a SQLite log, a running ``Relay``, a raw ordered subscription;
a latency is receipt minus command start. Baseline ``js.publish`` of same-sized payloads to the same kind of
subscription. The harness deals in rates, so a trial reports ``Sample(1, p99)``: its "rate" is 1/p99, its
"seconds" the p99, and the figure's ratio is baseline p99 / system p99.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from adapters.nats import cloudevents
from adapters.nats.jetstream import MSG_ID
from adapters.nats.relay import Relay, message_headers
from adapters.readmodels import ReadModelStore, sqlite_url
from application.commands import CommandContext, CommandRunner
from application.tenants import TenantService
from bench.eventstore import write_histories
from bench.harness import Config, Pair, Sample, figure
from bench.jetstream import (
    NATS_URL,
    TIMEOUT,
    Arrivals,
    Streams,
    arrivals_on,
    connected,
    counting_acks,
    nats_figure,
    p99,
    wait_for,
)
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore
from interfaces.consumers import build_consumers_app
from interfaces.settings import Settings
from projections import tenant_directory

READ_MODEL = "tenant_directory"
Message = tuple[str, bytes, dict[str, str]]
"""A message as the relay sends it, its subject less the prefix: (subject suffix, CloudEvent bytes, headers)."""


def sqlite_store(stack: ExitStack, path: Path, events: int) -> RecorderEventStore:
    """A SQLite event store (polled as the platform's settings say) holding ``events`` tenant events."""
    store = open_event_store("sqlite", str(path), poll_interval=Settings().poll_interval)
    stack.callback(store.close)
    if events:
        write_histories(store, events)
    return store


def relay_messages(store: RecorderEventStore, count: int) -> list[Message]:
    """The store's first ``count`` events as the relay sends them, less its order expectations."""
    messages = []
    for recorded in store.read_all(0, count):
        suffix = cloudevents.nats_subject("", recorded).removeprefix(".")  # any prefix goes in front later
        messages.append((suffix, cloudevents.encode(recorded), message_headers(recorded, None, None)))
    return messages


def _warm(*trials: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        for trial in trials:
            trial()

    return run


def _same(what: str, expected: object, actual: object) -> None:
    if expected != actual:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


# --- relay.publish


async def relay_run(store: RecorderEventStore, stream: str, prefix: str, count: int) -> Sample:
    """Runs a Relay (the platform's defaults: batch 1000) into the stream until it has published ``count``."""
    done = asyncio.Event()
    relay = Relay(store, NATS_URL, stream, prefix, retry_wait=0.2)
    relay.progress = lambda published, _position: done.set() if published >= count else None
    stop = threading.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    try:
        await wait_for(done, task)
        return Sample(relay.published, time.perf_counter() - started)
    finally:
        stop.set()
        await task


async def _stream_messages(stream: str) -> int:
    async with connected() as connection:
        return int((await connection.jetstream().stream_info(stream)).state.messages)


def relay_trial(store: RecorderEventStore, streams: Streams, count: int) -> Sample:
    stream, prefix = streams.create("RELAY")
    sample = asyncio.run(relay_run(store, stream, prefix, count))
    _same("messages in the stream", count, asyncio.run(_stream_messages(stream)))
    streams.delete(stream)
    return sample


async def raw_publish(stream: str, prefix: str, messages: list[Message]) -> Sample:
    """``publish_async`` of every message (nats-py's default of 4000 in flight), then every ack awaited."""
    subjects = [f"{prefix}.{suffix}" for suffix, _, _ in messages]
    started = time.perf_counter()
    async with connected() as connection:
        js = connection.jetstream()
        futures = [
            await js.publish_async(subject, payload, headers=headers)
            for subject, (_, payload, headers) in zip(subjects, messages, strict=True)
        ]
        acks = await asyncio.wait_for(asyncio.gather(*futures), TIMEOUT)
        seconds = time.perf_counter() - started
    _same("new messages acked", len(messages), sum(1 for ack in acks if ack.stream == stream and not ack.duplicate))
    return Sample(len(acks), seconds)


def raw_publish_trial(streams: Streams, messages: list[Message]) -> Sample:
    stream, prefix = streams.create("RAWPUB")
    sample = asyncio.run(raw_publish(stream, prefix, messages))
    streams.delete(stream)
    return sample


@figure(
    "relay.publish",
    aim=0.5,
    unit="events/s",
    description="Relay from a SQLite event log into a fresh stream vs raw js.publish_async of the same messages",
)
@contextmanager
def relay_publish(config: Config) -> Iterator[Pair]:
    count = config.size(20_000, 1_000)
    with nats_figure(config, "relay-publish") as (stack, streams, folder):
        store = sqlite_store(stack, folder / "events.db", count)
        messages = relay_messages(store, count)
        size = statistics.median(len(payload) for _, payload, _ in messages)

        def system() -> Sample:
            return relay_trial(store, streams, count)

        def baseline() -> Sample:
            return raw_publish_trial(streams, messages)

        yield Pair(
            system,
            baseline,
            note=f"{count} tenant events/round, ~{size:.0f} B CloudEvents, relay batch 1000, fresh file stream/trial",
            warmup=_warm(system, baseline),
        )


# --- consumer.feed


async def feed(settings: Settings, last_position: int, count: int) -> Sample:
    """The consumers app feeding a fresh read model until its checkpoint reaches the log's last position."""
    read_models = ReadModelStore(settings.read_model_url, [tenant_directory.projection])
    try:
        started = time.perf_counter()
        async with build_consumers_app(settings, read_models=read_models):
            deadline = started + TIMEOUT
            while read_models.checkpoint(READ_MODEL) < last_position:  # a read of one row, every 5 ms
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"not fed within {TIMEOUT}s")
                await asyncio.sleep(0.005)
            seconds = time.perf_counter() - started
        _same("read-model checkpoint", last_position, read_models.checkpoint(READ_MODEL))
        return Sample(count, seconds)
    finally:
        read_models.close()


def feed_trial(settings: Settings, last_position: int, count: int) -> Sample:
    return asyncio.run(feed(settings, last_position, count))


async def raw_consume(stream: str, filter_subject: str, count: int) -> Sample:
    """A raw durable push subscription (nats-py's defaults) whose callback acks each message."""
    durable = f"raw_{uuid.uuid4().hex[:10]}"

    async def ack(msg: Msg) -> None:
        await msg.ack()

    async with counting_acks(stream, durable, count) as acks:
        started = time.perf_counter()
        async with connected() as connection:
            js = connection.jetstream()
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            await js.subscribe(filter_subject, durable=durable, stream=stream, cb=ack, manual_ack=True, config=config)
            await wait_for(acks.done)
            seconds = time.perf_counter() - started
            await js.delete_consumer(stream, durable)
    return Sample(len(acks.acked), seconds)


@figure(
    "consumer.feed",
    aim=0.5,
    unit="messages/s",
    description="consumers app feeding the tenant directory from JetStream vs a raw subscription acking each message",
)
@contextmanager
def consumer_feed(config: Config) -> Iterator[Pair]:
    count = config.size(2_000, 200)
    with nats_figure(config, "consumer-feed") as (stack, streams, folder):
        store = sqlite_store(stack, folder / "events.db", count)
        stream, prefix = streams.create("FEED")
        asyncio.run(relay_run(store, stream, prefix, count))
        read_model_urls = (sqlite_url(folder / f"readmodels-{n}.db") for n in itertools.count())
        filter_subject = cloudevents.subject_filter(prefix, "tenants")

        def system() -> Sample:
            settings = Settings(
                nats_url=NATS_URL,
                nats_stream=stream,
                nats_subject_prefix=prefix,
                read_model_url=next(read_model_urls),
                keys_dir=str(folder / "keys"),
            )
            return feed_trial(settings, store.last_position(), count)

        def baseline() -> Sample:
            return asyncio.run(raw_consume(stream, filter_subject, count))

        yield Pair(
            system,
            baseline,
            note=f"{count} tenant events/round; platform: pull, batches of 500, fresh SQLite read model/round;"
            " raw: push, nats-py defaults, no decode",
            warmup=_warm(system, baseline),
        )


# --- command.latency


async def command_latencies(tenants: TenantService, store: RecorderEventStore, stream: str, slugs: list[str]) -> Sample:
    """Sequential onboardings, each timed from its start until a subscriber to the stream receives its event."""

    async def one(seen: Arrivals, slug: str) -> float:
        started = time.perf_counter()
        context = CommandContext("user:bench", f"cmd-{slug}", f"corr-{slug}")
        result = await asyncio.to_thread(tenants.onboard_tenant, context, slug, "Bench Tenant Ltd", "standard")
        return await asyncio.wait_for(seen.of(str(result.aggregate_id)), TIMEOUT) - started

    prefix, stop = stream.lower(), threading.Event()
    relay = asyncio.create_task(Relay(store, NATS_URL, stream, prefix, retry_wait=0.2).run(stop))
    try:
        async with arrivals_on(stream, prefix, lambda msg: cloudevents.parse(msg.data).streamid) as (_, seen):
            await one(seen, f"{slugs[0]}-probe")  # untimed: the relay is up and following the log
            return p99([await one(seen, slug) for slug in slugs])
    finally:
        stop.set()
        await relay


async def publish_latencies(stream: str, messages: list[Message]) -> Sample:
    """Sequential ``js.publish`` of each message, timed from its start until the subscriber receives it."""
    prefix = stream.lower()
    fresh = [
        (f"{prefix}.{suffix}", payload, headers | {MSG_ID: uuid.uuid4().hex}) for suffix, payload, headers in messages
    ]
    async with arrivals_on(stream, prefix, lambda msg: (msg.headers or {})[MSG_ID]) as (connection, seen):
        js = connection.jetstream()
        latencies = []
        for subject, payload, headers in fresh:
            started = time.perf_counter()
            await js.publish(subject, payload, headers=headers)
            latencies.append(await asyncio.wait_for(seen.of(headers[MSG_ID]), TIMEOUT) - started)
    return p99(latencies[1:])  # the first one is the probe, as in the system trial


def onboarded_messages(stack: ExitStack, path: Path, count: int) -> list[Message]:
    """``count`` TenantOnboarded messages as the relay would send them: the baseline's payloads."""
    store = sqlite_store(stack, path, 0)
    tenants = TenantService(CommandRunner(store, lambda: datetime.now(UTC)))
    for n in range(count):
        tenants.onboard_tenant(
            CommandContext("user:bench", f"p{n}", f"p{n}"), f"bench-p{n}", "Bench Tenant Ltd", "standard"
        )
    return relay_messages(store, count)


@figure(
    "command.latency",
    aim=0.05,
    unit="1/p99 s",
    description="p99 of command -> SQLite log -> Relay -> JetStream -> subscriber vs raw js.publish -> subscriber;"
    " a trial is Sample(1, p99), so rate = 1/p99 and ratio = baseline p99 / system p99",
)
@contextmanager
def command_latency(config: Config) -> Iterator[Pair]:
    count = config.size(300, 30)
    with nats_figure(config, "command-latency") as (stack, streams, folder):
        store = sqlite_store(stack, folder / "events.db", 0)
        tenants = TenantService(CommandRunner(store, lambda: datetime.now(UTC)))
        system_stream, _ = streams.create("LATENCY")
        raw_stream, _ = streams.create("RAWLAT")
        messages = onboarded_messages(stack, folder / "payloads.db", count + 1)
        rounds = itertools.count()

        def system(commands: int = count) -> Sample:
            slugs = [f"bench-r{next(rounds)}-{n}" for n in range(commands)]
            return asyncio.run(command_latencies(tenants, store, system_stream, slugs))

        def baseline(publishes: int = count) -> Sample:
            return asyncio.run(publish_latencies(raw_stream, messages[: publishes + 1]))

        yield Pair(
            system,
            baseline,
            note=f"{count} sequential commands/round, p99 ms = 1000/rate (each round's 'seconds' is its p99);"
            f" the relay polls SQLite every {Settings().poll_interval * 1000:.0f} ms",
            warmup=_warm(lambda: system(10), lambda: baseline(10)),
        )
