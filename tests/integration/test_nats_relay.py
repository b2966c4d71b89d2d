"""The relay against a real NATS JetStream: every event once, in log order, through restarts and outages."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import PubAck, RawStreamMsg
from nats.js.errors import NotFoundError

from adapters.nats import cloudevents
from adapters.nats.jetstream import Checkpoint, PipelinedPublisher, ensure_stream, read_checkpoint
from adapters.nats.relay import PublishFailedError, Relay, publish_batch
from application.commands import CommandContext, CommandRunner
from application.tenants import TenantService
from eventstore.adapters import open_event_store
from eventstore.envelope import RecordedEvent
from eventstore.recorder_store import RecorderEventStore
from interfaces.relay import run_relay
from interfaces.settings import Settings

pytestmark = pytest.mark.nats


@pytest.fixture
def prefix(stream_name: str) -> str:
    return stream_name.lower()


@pytest.fixture
async def js(nats_url: str, stream_name: str) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(nats_url)
    yield connection.jetstream()
    with suppress(NotFoundError):
        await connection.jetstream().delete_stream(stream_name)
    await connection.close()


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    events = open_event_store("memory")
    yield events
    events.close()


def onboard(store: RecorderEventStore, count: int, start: int = 0) -> None:
    tenants = TenantService(CommandRunner(store, lambda: datetime.now(UTC)))
    for number in range(start, start + count):
        context = CommandContext(actor="user:test", command_id=f"cmd-{number}", correlation_id=f"corr-{number}")
        result = tenants.onboard_tenant(context, f"tenant-{number}", f"Tenant {number}", "trial")
        if number % 3 == 0:
            suspend = CommandContext(actor="user:test", command_id=f"sus-{number}", correlation_id=f"corr-{number}")
            tenants.suspend_tenant(suspend, result.aggregate_id, "unpaid")


def all_events(store: RecorderEventStore) -> list[RecordedEvent]:
    return store.read_all(0, 100_000)


async def stream_messages(js: JetStreamContext, stream: str) -> list[RawStreamMsg]:
    state = (await js.stream_info(stream)).state
    return [await js.get_msg(stream, seq=seq) for seq in range(state.first_seq, state.last_seq + 1)]


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.05)


async def message_count(js: JetStreamContext, stream: str) -> int:
    try:
        return (await js.stream_info(stream)).state.messages
    except NotFoundError:
        return 0


@asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[Relay]:
    stop = threading.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


def relay_for(store: RecorderEventStore, url: str, stream: str, prefix: str) -> Relay:
    """A relay with small batches (so a run spans several) and short waits (so a test stays fast)."""
    return Relay(store, url, stream, prefix, batch=7, ack_timeout=2.0, retry_wait=0.2)


async def assert_stream_is_the_log(js: JetStreamContext, stream: str, store: RecorderEventStore) -> None:
    messages = await stream_messages(js, stream)
    events = all_events(store)
    assert [m.headers["Nats-Msg-Id"] for m in messages if m.headers] == [e.event_id for e in events]
    assert [cloudevents.parse(m.data or b"").position for m in messages] == [str(e.position) for e in events]


async def test_the_relay_publishes_every_event_once_in_log_order_as_cloud_events(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, store: RecorderEventStore
) -> None:
    onboard(store, 12)
    progress: list[tuple[int, int]] = []
    relay = relay_for(store, nats_url, stream_name, prefix)
    relay.progress = lambda count, position: progress.append((count, position))

    async with running(relay):
        await wait_until(lambda: _has(js, stream_name, 16))
        onboard(store, 9, start=12)  # appended while the relay runs
        await wait_until(lambda: _has(js, stream_name, 28))
        await asyncio.sleep(0.3)

    messages = await stream_messages(js, stream_name)
    events = all_events(store)
    assert len(messages) == len(events) == 28
    for message, recorded in zip(messages, events, strict=True):
        assert message.headers is not None
        assert message.headers["Nats-Msg-Id"] == recorded.event_id
        assert message.headers["Platform-Position"] == str(recorded.position)
        assert message.headers["Content-Type"] == "application/cloudevents+json"
        assert message.subject == f"{prefix}.{recorded.tenant_id}.tenants.{recorded.type}"
        cloud_event = cloudevents.parse(message.data or b"")
        assert (cloud_event.id, cloud_event.type) == (recorded.event_id, f"platform.tenants.{recorded.type}")
        assert cloud_event.time == recorded.metadata.recorded_at
        back = cloudevents.to_recorded(cloud_event)
        assert (back.position, back.stream_id, back.version, back.data) == (
            recorded.position,
            recorded.stream_id,
            recorded.version,
            recorded.data,
        )
    assert progress[-1] == (28, events[-1].position)
    assert (await js.stream_info(stream_name)).config.subjects == [f"{prefix}.>"]


async def _has(js: JetStreamContext, stream: str, count: int) -> bool:
    return await message_count(js, stream) >= count


async def test_a_restarted_relay_resumes_after_the_streams_last_message(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, store: RecorderEventStore
) -> None:
    onboard(store, 10)
    async with running(relay_for(store, nats_url, stream_name, prefix)):
        await wait_until(lambda: _has(js, stream_name, 14))

    onboard(store, 5, start=10)
    assert await message_count(js, stream_name) == 14
    async with running(relay_for(store, nats_url, stream_name, prefix)) as second:
        await wait_until(lambda: _has(js, stream_name, 20))
        await asyncio.sleep(0.3)
    async with running(relay_for(store, nats_url, stream_name, prefix)) as third:
        await asyncio.sleep(0.5)

    assert (second.published, third.published) == (6, 0)
    await assert_stream_is_the_log(js, stream_name, store)
    checkpoint = await read_checkpoint(js, stream_name)
    last = all_events(store)[-1]
    assert (checkpoint.position, checkpoint.event_id, checkpoint.sequence) == (last.position, last.event_id, 20)


class DroppingPublisher(PipelinedPublisher):
    """Loses the n-th publish on the way to the server (its ack never comes), as a broken connection might."""

    def __init__(self, publisher: PipelinedPublisher, drop: int) -> None:
        self.inner = publisher
        self.drop = drop
        self.count = 0

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> asyncio.Future[PubAck]:
        self.count += 1
        if self.count == self.drop:
            return asyncio.get_running_loop().create_future()
        return await self.inner.publish(subject, payload, headers)


async def test_a_lost_publish_makes_the_server_refuse_every_later_one(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, store: RecorderEventStore
) -> None:
    onboard(store, 8)  # 11 events
    events = all_events(store)
    await ensure_stream(js, stream_name, prefix)
    connection = await nats.connect(nats_url)
    publisher = PipelinedPublisher(connection)
    await publisher.start()
    try:
        first = await publish_batch(publisher, prefix, events[:3], Checkpoint(), ack_timeout=2.0)
        with pytest.raises(PublishFailedError, match="2 of 8 acked"):
            await publish_batch(DroppingPublisher(publisher, drop=3), prefix, events[3:], first, ack_timeout=1.0)

        assert [m.headers["Nats-Msg-Id"] for m in await stream_messages(js, stream_name) if m.headers] == [
            e.event_id for e in events[:5]
        ]
        resumed = await read_checkpoint(js, stream_name)
        assert resumed == Checkpoint(events[4].position, events[4].event_id, 5)
        await publish_batch(publisher, prefix, events[5:], resumed, ack_timeout=2.0)
    finally:
        await publisher.close()
        await connection.close()
    await assert_stream_is_the_log(js, stream_name, store)


async def test_a_stale_checkpoint_neither_doubles_nor_reorders(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, store: RecorderEventStore
) -> None:
    onboard(store, 4)  # 6 events
    events = all_events(store)
    await ensure_stream(js, stream_name, prefix)
    connection = await nats.connect(nats_url)
    publisher = PipelinedPublisher(connection)
    await publisher.start()
    try:
        done = await publish_batch(publisher, prefix, events[:4], Checkpoint(), ack_timeout=2.0)
        skipping = Checkpoint(events[4].position, events[4].event_id, 5)  # as if event 4 had been stored
        with pytest.raises(PublishFailedError, match="wrong last sequence"):
            await publish_batch(publisher, prefix, events[5:], skipping, ack_timeout=2.0)
        assert await read_checkpoint(js, stream_name) == done
        stale = Checkpoint(events[1].position, events[1].event_id, 2)  # as if the relay forgot what it sent
        with pytest.raises(PublishFailedError, match="already held"):
            await publish_batch(publisher, prefix, events[2:], stale, ack_timeout=2.0)
        # the stale batch's duplicates were dropped and the rest stored in order after them
    finally:
        await publisher.close()
        await connection.close()
    await assert_stream_is_the_log(js, stream_name, store)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OwnNatsServer:
    """A nats-server of this test's own, so it can be stopped and started again."""

    def __init__(self, binary: str, store_dir: Path) -> None:
        self.binary = binary
        self.store_dir = store_dir
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[OwnNatsServer]:
    binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/bin")
    if binary is None:
        pytest.skip("nats-server is not installed, so this test cannot stop and restart one")
    server = OwnNatsServer(binary, tmp_path / "jetstream")
    server.start()
    yield server
    server.stop()


async def test_the_relay_rides_out_nats_going_away_and_coming_back(
    own_nats: OwnNatsServer, store: RecorderEventStore
) -> None:
    stream_name, prefix = f"T_{uuid4().hex[:12].upper()}", "outage"
    onboard(store, 6)  # 8 events
    connection = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = connection.jetstream(timeout=1.0)
    try:
        async with running(relay_for(store, own_nats.url, stream_name, prefix)):
            await wait_until(lambda: _has(js, stream_name, 8))
            own_nats.stop()
            onboard(store, 6, start=6)  # 8 more while NATS is away
            await asyncio.sleep(1.0)
            own_nats.start()
            await wait_until(lambda: _has_safely(js, stream_name, 16), timeout=20)
            await asyncio.sleep(0.5)
        await assert_stream_is_the_log(js, stream_name, store)
    finally:
        await connection.close()


async def test_the_relay_waits_for_nats_to_come_up_and_stops_at_once_while_waiting(
    own_nats: OwnNatsServer, store: RecorderEventStore
) -> None:
    stream_name, prefix = f"T_{uuid4().hex[:12].upper()}", "late"
    onboard(store, 3)  # 4 events
    own_nats.stop()
    waiting = relay_for(store, own_nats.url, stream_name, prefix)
    stop = threading.Event()
    task = asyncio.create_task(waiting.run(stop))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 2

    async with running(relay_for(store, own_nats.url, stream_name, prefix)):
        await asyncio.sleep(0.5)
        own_nats.start()
        connection = await nats.connect(own_nats.url)
        try:
            js = connection.jetstream(timeout=1.0)
            await wait_until(lambda: _has_safely(js, stream_name, 4), timeout=20)
            await assert_stream_is_the_log(js, stream_name, store)
        finally:
            await connection.close()


async def _has_safely(js: JetStreamContext, stream: str, count: int) -> bool:
    try:
        return await _has(js, stream, count)
    except (TimeoutError, nats.errors.Error):  # still reconnecting
        return False


def relay_settings(nats_url: str, stream_name: str, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        event_store="sqlite",
        event_store_url=str(tmp_path / "events.db"),
        nats_url=nats_url,
        nats_stream=stream_name,
        nats_subject_prefix=prefix,
    )


async def test_run_relay_publishes_the_configured_store_until_stopped(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, tmp_path: Path
) -> None:
    settings = relay_settings(nats_url, stream_name, prefix, tmp_path)
    writer = open_event_store("sqlite", settings.event_store_url)
    onboard(writer, 3)  # 4 events
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    thread = threading.Thread(target=run_relay, args=(settings, stop, lambda n, p: seen.append((n, p))))
    thread.start()
    try:
        await wait_until(lambda: _has(js, stream_name, 4))
        onboard(writer, 3, start=3)  # 4 more, found by polling the SQLite file
        await wait_until(lambda: _has(js, stream_name, 8))
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 15)
    assert not thread.is_alive()
    await assert_stream_is_the_log(js, stream_name, writer)
    assert seen[-1] == (8, all_events(writer)[-1].position)
    writer.close()


async def test_the_relay_process_stops_cleanly_on_sigterm(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, tmp_path: Path
) -> None:
    settings = relay_settings(nats_url, stream_name, prefix, tmp_path)
    writer = open_event_store("sqlite", settings.event_store_url)
    onboard(writer, 2)  # 3 events
    writer.close()
    environment = os.environ | {
        "PLATFORM_EVENT_STORE": "sqlite",
        "PLATFORM_EVENT_STORE_URL": settings.event_store_url,
        "PLATFORM_NATS_URL": nats_url,
        "PLATFORM_NATS_STREAM": stream_name,
        "PLATFORM_NATS_SUBJECT_PREFIX": prefix,
    }
    code = "from interfaces import relay, settings; relay.run_relay(settings.Settings.from_env())"
    process = subprocess.Popen([sys.executable, "-c", code], env=environment, cwd=Path(__file__).parents[2])
    try:
        await wait_until(lambda: _has(js, stream_name, 3), timeout=20)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    assert await message_count(js, stream_name) == 3
