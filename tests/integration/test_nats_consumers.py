"""The NATS consumers against a real JetStream: every read model fed from CloudEvents, in order, once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from poison import NUL, Cause
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from adapters.nats import cloudevents
from adapters.nats.read_model_feeds import stored_sequence
from adapters.nats.relay import Relay
from adapters.parking import parked
from adapters.projection_worker import ProjectionWorker
from adapters.readmodels import ReadModelStore, sqlite_url
from application.commands import CommandContext, CommandRunner
from application.tenants import TenantService
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore
from interfaces.bootstrap import open_field_cipher, open_read_models
from interfaces.consumers import build_consumers_app
from interfaces.settings import Settings
from projections.base import EventView
from projections.tenant_directory import tenants as tenant_table

pytestmark = pytest.mark.nats
READ_MODEL = "tenant_directory"


@pytest.fixture
def settings(nats_url: str, stream_name: str, tmp_path: Path) -> Settings:
    return Settings(
        nats_url=nats_url,
        nats_stream=stream_name,
        nats_subject_prefix=stream_name.lower(),
        read_model_url=sqlite_url(tmp_path / "readmodels.db"),
        keys_dir=str(tmp_path / "keys"),
    )


@pytest.fixture
async def js(settings: Settings) -> AsyncIterator[JetStreamContext]:
    connection = await nats.connect(settings.nats_url)
    yield connection.jetstream()
    with suppress(NotFoundError):
        await connection.jetstream().delete_stream(settings.nats_stream)
    await connection.close()


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    events = open_event_store("memory")
    yield events
    events.close()


@pytest.fixture
def read_models(settings: Settings) -> Iterator[ReadModelStore]:
    models = open_read_models(settings.stores, open_field_cipher(settings.keys))
    yield models
    models.close()


def tenant_service(store: RecorderEventStore) -> TenantService:
    return TenantService(CommandRunner(store, lambda: datetime.now(UTC)))


def command(name: str) -> CommandContext:
    return CommandContext(actor="user:test", command_id=name, correlation_id=f"corr-{name}")


def onboard(store: RecorderEventStore, count: int) -> list[UUID]:
    """Onboards tenants; every third one is suspended, the first one then reinstated."""
    tenants = tenant_service(store)
    ids = [
        tenants.onboard_tenant(command(f"on-{n}"), f"tenant-{n}", f"Tenant {n}", "trial").aggregate_id
        for n in range(count)
    ]
    for number in range(0, count, 3):
        tenants.suspend_tenant(command(f"sus-{number}"), ids[number], "unpaid")
    tenants.reinstate_tenant(command("re-0"), ids[0])
    return ids


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def relayed(store: RecorderEventStore, settings: Settings) -> AsyncIterator[None]:
    """The relay publishing the store's events to the test's stream while the block runs."""
    stop = threading.Event()
    relay = Relay(store, settings.nats_url, settings.nats_stream, settings.nats_subject_prefix, retry_wait=0.2)
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def publish_all(store: RecorderEventStore, settings: Settings, js: JetStreamContext) -> None:
    count = len(store.read_all(0, 100_000))
    async with relayed(store, settings):
        await wait_until(lambda: _stream_holds(js, settings.nats_stream, count))


async def _stream_holds(js: JetStreamContext, stream: str, count: int) -> bool:
    with suppress(NotFoundError):
        return (await js.stream_info(stream)).state.messages >= count
    return False


async def consumer_done(read_models: ReadModelStore, store: RecorderEventStore) -> bool:
    """Every read model has been fed the whole log."""
    return all(read_models.checkpoint(name) == store.last_position() for name in read_models.projections)


async def stream_fed(js: JetStreamContext, settings: Settings, read_models: ReadModelStore) -> bool:
    """The read model has been fed every message of the stream, to its last."""
    last = (await js.stream_info(settings.nats_stream)).state.last_seq
    stored = stored_sequence(read_models.engine, READ_MODEL, settings.nats_stream)
    return stored is not None and stored[0] == last


def rows(read_models: ReadModelStore) -> dict[str, dict[str, Any]]:
    with read_models.engine.connect() as connection:
        return {row.slug: dict(row._mapping) for row in connection.execute(select(tenant_table))}


def rebuilt_in_process(store: RecorderEventStore, tmp_path: Path) -> ReadModelStore:
    settings = Settings(read_model_url=sqlite_url(tmp_path / "reference.db"), keys_dir=str(tmp_path / "keys"))
    reference = open_read_models(settings.stores, open_field_cipher(settings.keys))
    ProjectionWorker(store, reference).catch_up()
    return reference


async def test_the_consumer_feeds_the_tenant_directory_as_the_projection_worker_would(
    js: JetStreamContext, settings: Settings, store: RecorderEventStore, read_models: ReadModelStore, tmp_path: Path
) -> None:
    onboard(store, 7)
    await publish_all(store, settings, js)

    async with build_consumers_app(settings, read_models=read_models):
        await wait_until(lambda: consumer_done(read_models, store))

    directory = rows(read_models)
    assert len(directory) == 7
    assert {slug: row["status"] for slug, row in directory.items()} == {
        f"tenant-{n}": "suspended" if n % 3 == 0 and n else "active" for n in range(7)
    }
    assert directory["tenant-0"]["version"] == 2
    reference = rebuilt_in_process(store, tmp_path)
    try:
        for name in read_models.projections:
            assert read_models.snapshot(name) == reference.snapshot(name), name
    finally:
        reference.close()


async def test_duplicate_and_redelivered_messages_change_nothing(
    js: JetStreamContext, settings: Settings, store: RecorderEventStore, read_models: ReadModelStore, tmp_path: Path
) -> None:
    onboard(store, 4)
    await publish_all(store, settings, js)
    async with build_consumers_app(settings, read_models=read_models):
        await wait_until(lambda: consumer_done(read_models, store))
        before = read_models.snapshot(READ_MODEL)
        # every event once more, under fresh message ids so the stream's dedupe lets them through
        for recorded in store.read_all(0, 1000):
            headers = {"Nats-Msg-Id": f"again-{recorded.event_id}"}
            subject = cloudevents.nats_subject(settings.nats_subject_prefix, recorded)
            await js.publish(subject, cloudevents.encode(recorded), headers=headers)
        await wait_until(lambda: stream_fed(js, settings, read_models))

    assert read_models.snapshot(READ_MODEL) == before
    assert rows(read_models)["tenant-3"]["status"] == "suspended"  # not reset by its Onboarded coming again


class FailingOnce(ReadModelStore):
    """A read-model store whose first attempt at one event fails, as a locked database would."""

    def __init__(self, url: str, projections: Any, fail_position: int) -> None:
        super().__init__(url, projections)
        self.fail_position = fail_position
        self.failed = False

    def apply(self, name: str, events: Sequence[EventView], attempts: int = 5, **fed: Any) -> int:
        if not self.failed and name == READ_MODEL and any(e.position == self.fail_position for e in events):
            self.failed = True
            raise OperationalError("apply", {}, Exception("database is locked"))
        return super().apply(name, events, attempts, **fed)


async def test_a_failed_event_is_redelivered_before_any_later_one(
    js: JetStreamContext, settings: Settings, store: RecorderEventStore, read_models: ReadModelStore, tmp_path: Path
) -> None:
    onboard(store, 4)
    first = store.read_all(0, 1)[0]
    await publish_all(store, settings, js)
    flaky = FailingOnce(settings.read_model_url, list(read_models.projections.values()), first.position)

    try:
        async with build_consumers_app(settings, read_models=flaky):
            await wait_until(lambda: consumer_done(flaky, store), timeout=15)
    finally:
        flaky.close()

    assert flaky.failed  # its batch was read again from the stored sequence, and applied in order
    assert set(rows(read_models)) == {f"tenant-{n}" for n in range(4)}
    reference = rebuilt_in_process(store, tmp_path)
    try:
        assert read_models.snapshot(READ_MODEL) == reference.snapshot(READ_MODEL)
    finally:
        reference.close()


def consumer_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.kind is SpanKind.CONSUMER]


async def test_the_consumer_span_continues_the_trace_of_the_command(
    js: JetStreamContext, settings: Settings, store: RecorderEventStore, read_models: ReadModelStore
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tenants = tenant_service(store)
    with provider.get_tracer("test").start_as_current_span("POST /tenants") as request:
        traced = tenants.onboard_tenant(command("traced"), "traced", "Traced", "trial")
    untraced = tenants.onboard_tenant(command("untraced"), "untraced", "Untraced", "trial")
    [traced_event] = store.read_stream(traced.aggregate_id)
    [untraced_event] = store.read_stream(untraced.aggregate_id)
    await publish_all(store, settings, js)

    async with build_consumers_app(settings, read_models=read_models, tracer_provider=provider):
        await wait_until(lambda: consumer_done(read_models, store))
        await wait_until(lambda: _spans_finished(exporter, 2))

    by_event = {span.attributes["cloudevents.event_id"]: span for span in consumer_spans(exporter) if span.attributes}
    span = by_event[traced_event.event_id]
    traceparent = traced_event.metadata.traceparent
    assert traceparent is not None
    _, trace_id, parent_id, _ = traceparent.split("-")
    assert span.context is not None
    assert span.parent is not None
    assert span.context.trace_id == request.get_span_context().trace_id == int(trace_id, 16)
    assert span.parent.span_id == int(parent_id, 16)
    assert span.parent.is_remote
    assert span.name == "process platform.tenants.TenantOnboarded"
    assert span.attributes is not None
    assert span.attributes["messaging.system"] == "nats"
    assert span.attributes["platform.position"] == str(traced_event.position)
    untraced_span = by_event[untraced_event.event_id]
    if untraced_event.metadata.traceparent is None:  # no tracer provider was installed when it was recorded
        assert untraced_span.parent is None  # a new trace, not a child of whatever ran before it
    else:  # a session-wide provider made the command span a root of its own: the consumer continues that
        assert untraced_span.parent is not None
        assert untraced_span.parent.span_id == int(untraced_event.metadata.traceparent.split("-")[2], 16)
        assert untraced_span.context is not None
        assert untraced_span.context.trace_id != span.context.trace_id


async def _spans_finished(exporter: InMemorySpanExporter, count: int) -> bool:
    return len(consumer_spans(exporter)) >= count


async def test_the_consumers_process_feeds_the_read_model_and_stops_on_sigterm(
    js: JetStreamContext, settings: Settings, store: RecorderEventStore, read_models: ReadModelStore
) -> None:
    onboard(store, 3)
    await publish_all(store, settings, js)
    environment = os.environ | {
        "PLATFORM_NATS_URL": settings.nats_url,
        "PLATFORM_NATS_STREAM": settings.nats_stream,
        "PLATFORM_NATS_SUBJECT_PREFIX": settings.nats_subject_prefix,
        "PLATFORM_READ_MODEL_URL": settings.read_model_url,
    }
    code = "from interfaces import consumers, settings; consumers.run_consumers(settings.Settings.from_env())"
    process = subprocess.Popen([sys.executable, "-c", code], env=environment, cwd=Path(__file__).parents[2])
    try:
        await wait_until(lambda: consumer_done(read_models, store), timeout=20)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    assert set(rows(read_models)) == {"tenant-0", "tenant-1", "tenant-2"}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_poison_message_is_parked_acked_and_the_later_ones_applied(
    js: JetStreamContext, settings: Settings, store: RecorderEventStore, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        settings = replace(settings, read_model_url=request.getfixturevalue("pg_database"))
    tenants = tenant_service(store)
    poison = tenants.onboard_tenant(command("on-poison"), "poison", f"Poi{NUL}son", "trial")
    onboard(store, 3)
    await publish_all(store, settings, js)
    fed = open_read_models(settings.stores, open_field_cipher(settings.keys))
    Cause(fed).guard(fed, READ_MODEL)
    try:
        async with build_consumers_app(settings, read_models=fed):
            await wait_until(lambda: consumer_done(fed, store), timeout=15)
        assert set(rows(fed)) == {"tenant-0", "tenant-1", "tenant-2"}
        assert [(p.read_model, p.position) for p in parked(fed.engine)] == [(READ_MODEL, poison.position)]
        assert fed.checkpoint(READ_MODEL) == store.last_position()
    finally:
        fed.close()
