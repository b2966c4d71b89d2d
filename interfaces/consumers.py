"""`platform consumers`: the faststream app whose NATS consumers keep read models up to date and run the pipeline.

Start as many processes as the work needs: they bind the same durable consumers, so JetStream shares the
messages between them. Read models are fed in order, one message in flight per read model across all processes;
pipeline work (runs and exports) is spread over every process, with no doubled effect (adapters/nats/work.py).
"""

from __future__ import annotations

import asyncio
import logging

from faststream import FastStream
from faststream.nats import NatsBroker
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from adapters.datasets.blobs import DatasetBlobs
from adapters.nats.consumers import FED_FROM_NATS, ReadModelFeeder, subscribe_read_model
from adapters.nats.jetstream import ensure_stream
from adapters.nats.work import PipelineWorker, subscribe_pipeline_work
from adapters.readmodels import ReadModelStore
from interfaces.bootstrap import Platform, bootstrap, open_datasets, open_field_cipher
from interfaces.settings import Settings


def build_consumers_app(
    settings: Settings,
    *,
    read_models: ReadModelStore | None = None,
    platform: Platform | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastStream:
    """The consumers app: one durable JetStream consumer per read model in FED_FROM_NATS, plus the shared
    pipeline-work consumers when it has a platform.

    Without ``read_models`` or ``platform`` it bootstraps the platform from the settings (and closes it on
    shutdown); with ``read_models`` only (tests of the read-model feed), it runs no pipeline work.
    """
    owned = platform is None and read_models is None
    if owned:
        platform = bootstrap(settings)
    store = platform.read_models if platform is not None else read_models
    assert store is not None
    cipher = platform.cipher if platform is not None else open_field_cipher(settings.keys)
    blobs = DatasetBlobs(platform.datasets if platform is not None else open_datasets(settings.stores))
    # one log line per message at INFO would drown the rest; faststream logs them at DEBUG here
    broker = NatsBroker(
        settings.nats_url, name="platform-consumers", max_reconnect_attempts=-1, log_level=logging.DEBUG
    )
    tracer = trace.get_tracer("platform.consumers", tracer_provider=tracer_provider)
    for name in FED_FROM_NATS:
        feeder = ReadModelFeeder(store, name, tracer, cipher=cipher, blobs=blobs)
        subscribe_read_model(broker, feeder, settings.nats_stream, settings.nats_subject_prefix)
    if platform is not None:
        worker = PipelineWorker(platform.orchestrator, platform.dead_letters, tracer, settings.work_ack_wait)
        subscribe_pipeline_work(broker, worker, settings.nats_stream, settings.nats_subject_prefix)

    async def ensure_the_stream() -> None:  # the consumers bind to it, so it must exist first
        connection = await broker.connect()
        await ensure_stream(connection.jetstream(), settings.nats_stream, settings.nats_subject_prefix)

    app = FastStream(broker, on_startup=[ensure_the_stream])
    if owned and platform is not None:
        app.after_shutdown(platform.close)
    elif platform is None:
        app.after_shutdown(cipher.close)
    return app


def run_consumers(settings: Settings) -> None:
    """Runs the consumers until SIGINT or SIGTERM."""
    asyncio.run(build_consumers_app(settings).run())
