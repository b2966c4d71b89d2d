"""Consumer lag and relay lag read from a real NATS JetStream; a NATS that does not answer never holds a scrape."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError
from prometheus_client.parser import text_string_to_metric_families

import projections
from adapters.nats.jetstream import Checkpoint, PipelinedPublisher, ensure_stream
from adapters.nats.relay import publish_batch
from adapters.readmodels import ReadModelStore, sqlite_url
from adapters.telemetry import Telemetry
from adapters.telemetry.nats_probe import NatsProbe
from application.commands import CommandContext, CommandRunner
from application.tenants import TenantService
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

pytestmark = pytest.mark.nats
T0 = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def prefix(stream_name: str) -> str:
    return stream_name.lower()


@pytest.fixture
async def js(nats_url: str, stream_name: str, prefix: str) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(nats_url)
    context = connection.jetstream()
    await ensure_stream(context, stream_name, prefix)
    yield context
    with suppress(NotFoundError):
        await context.delete_stream(stream_name)
    await connection.close()


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    events = open_event_store("memory")
    yield events
    events.close()


@pytest.fixture
def read_models(tmp_path: Path) -> Iterator[ReadModelStore]:
    found = ReadModelStore(sqlite_url(tmp_path / "rm.db"), projections.ALL)
    yield found
    found.close()


def onboard(store: RecorderEventStore, slugs: list[str]) -> None:
    tenants = TenantService(CommandRunner(store, lambda: T0))
    for slug in slugs:
        tenants.onboard_tenant(CommandContext("user:test", f"cmd-{slug}", "corr"), slug, slug.title(), "trial")


async def publish(
    js: JetStreamContext, nats_url: str, stream: str, prefix: str, store: RecorderEventStore, count: int
) -> None:
    """Publishes the log's first ``count`` events as the relay does."""
    connection = await nats.connect(nats_url)
    publisher = PipelinedPublisher(connection)
    await publisher.start()
    try:
        info = await js.stream_info(stream)
        await publish_batch(publisher, prefix, store.read_all(0, count), Checkpoint(sequence=info.state.last_seq),
                            ack_timeout=5.0)  # fmt: skip
    finally:
        await publisher.close()
        await connection.close()


def samples(telemetry: Telemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(telemetry.scrape().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_consumer_backlog_and_relay_lag_come_from_jetstream(
    js: JetStreamContext, nats_url: str, stream_name: str, prefix: str, store: RecorderEventStore,
    read_models: ReadModelStore,
) -> None:  # fmt: skip
    onboard(store, ["a", "b", "c", "d", "e"])
    durable = f"{prefix}-reader"
    await js.add_consumer(stream_name, ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT))
    await publish(js, nats_url, stream_name, prefix, store, 3)
    clock = lambda: T0 + timedelta(seconds=20)  # noqa: E731
    telemetry = Telemetry(store, read_models, clock, nats_url=nats_url, nats_stream=stream_name)
    probe = telemetry.samplers[-1].probe  # type: ignore[attr-defined]
    probe.budget = 5.0  # this test waits for the first answer; scrapes never do
    found = await anyio.to_thread.run_sync(samples, telemetry)
    assert found["platform_nats_up", ()] == 1
    assert found["platform_consumer_pending_messages", (("consumer", durable),)] == 3
    assert found["platform_consumer_ack_pending_messages", (("consumer", durable),)] == 0
    assert found["platform_relay_lag_events", ()] == 2  # 5 events in the log, the stream holds the first 3
    assert found["platform_relay_lag_seconds", ()] == 20.0
    assert found["platform_slo_events_total", (("outcome", "bad"), ("slo", "relay-lag"))] == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_nats_that_does_not_answer_holds_no_scrape_longer_than_the_budget() -> None:
    probe = NatsProbe(f"nats://127.0.0.1:{_closed_port()}", "NOWHERE", budget=0.2, timeout=1.0)
    started = time.monotonic()
    first = probe.state()
    assert time.monotonic() - started < 0.5
    assert first is None  # still asking in the background
    deadline = time.monotonic() + 5
    while (state := probe.state()) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state is not None
    assert not state.up
    started = time.monotonic()
    assert probe.state() is state  # cached for ttl: no new attempt
    assert time.monotonic() - started < 0.05


def test_a_scrape_reports_nats_down_and_everything_else(store: RecorderEventStore, read_models: ReadModelStore) -> None:
    telemetry = Telemetry(store, read_models, lambda: T0, nats_url=f"nats://127.0.0.1:{_closed_port()}")
    telemetry.request_done("GET", "/health", "operations", 200, 0.001)
    started = time.monotonic()
    found = samples(telemetry)
    assert time.monotonic() - started < 1.0
    assert found["platform_nats_up", ()] == 0
    assert ("platform_relay_lag_events", ()) not in found
    assert found["platform_read_side_up", ()] == 1
