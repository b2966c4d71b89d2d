"""`platform consumers`: the faststream app whose NATS consumers keep read models up to date."""

from __future__ import annotations

import asyncio
import logging

from faststream import FastStream
from faststream.nats import NatsBroker
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from adapters.nats.consumers import FED_FROM_NATS, ReadModelFeeder, subscribe_read_model
from adapters.nats.jetstream import ensure_stream
from adapters.readmodels import ReadModelStore
from interfaces.bootstrap import open_field_cipher, open_read_models
from interfaces.settings import Settings


def build_consumers_app(
    settings: Settings,
    *,
    read_models: ReadModelStore | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastStream:
    """The consumers app: one durable JetStream consumer per read model in FED_FROM_NATS.

    Without ``read_models`` it opens the store from the settings and closes it on shutdown.
    """
    store = read_models or open_read_models(settings)
    cipher = open_field_cipher(settings)
    # one log line per message at INFO would drown the rest; faststream logs them at DEBUG here
    broker = NatsBroker(
        settings.nats_url, name="platform-consumers", max_reconnect_attempts=-1, log_level=logging.DEBUG
    )
    tracer = trace.get_tracer("platform.consumers", tracer_provider=tracer_provider)
    for name in FED_FROM_NATS:
        feeder = ReadModelFeeder(store, name, tracer, cipher=cipher)
        subscribe_read_model(broker, feeder, settings.nats_stream, settings.nats_subject_prefix)

    async def ensure_the_stream() -> None:  # the consumers bind to it, so it must exist first
        connection = await broker.connect()
        await ensure_stream(connection.jetstream(), settings.nats_stream, settings.nats_subject_prefix)

    app = FastStream(broker, on_startup=[ensure_the_stream], after_shutdown=[cipher.close])
    if read_models is None:
        app.after_shutdown(store.close)
    return app


def run_consumers(settings: Settings) -> None:
    """Runs the consumers until SIGINT or SIGTERM."""
    asyncio.run(build_consumers_app(settings).run())
