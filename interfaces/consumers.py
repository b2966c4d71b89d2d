"""`platform consumers`: the faststream app whose NATS consumers keep read models up to date and run the pipeline.

Start as many processes as the work needs. Read models are shared by lease with every other feeder (other
consumers processes, `platform projections` workers): each process feeds the ones it holds from JetStream, in
batches and in order (adapters/nats/read_model_feeds.py). Pipeline work (runs and exports) goes through durable
consumers every process binds, so JetStream spreads it, with no doubled effect (adapters/nats/work.py).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from faststream import FastStream
from faststream.nats import NatsBroker
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from adapters.datasets.blobs import DatasetBlobs
from adapters.nats.consumers import FED_FROM_NATS, Decoder
from adapters.nats.jetstream import ensure_stream
from adapters.nats.read_model_feeds import ReadModelFeeds
from adapters.nats.work import PipelineWorker, subscribe_pipeline_work
from adapters.readmodels import ReadModelStore
from interfaces.bootstrap import Platform, bootstrap, open_datasets, open_field_cipher, open_leases
from interfaces.settings import Settings


def fed_read_models(read_models: ReadModelStore) -> dict[str, frozenset[str]]:
    """The read models a consumers process can feed from NATS, each with the bounded contexts it reads."""
    return {name: contexts for name, contexts in FED_FROM_NATS.items() if name in read_models.projections}


def build_consumers_app(
    settings: Settings,
    *,
    read_models: ReadModelStore | None = None,
    platform: Platform | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastStream:
    """The consumers app: the read models of FED_FROM_NATS this process holds by lease, each fed from JetStream,
    plus the shared pipeline-work consumers when it has a platform.

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
    decoders = {name: Decoder(name, tracer, cipher, blobs) for name in fed_read_models(store)}
    feeding: list[asyncio.Task[None]] = []
    if platform is not None:
        worker = PipelineWorker(platform.orchestrator, platform.dead_letters, tracer, settings.work_ack_wait)
        subscribe_pipeline_work(broker, worker, settings.nats_stream, settings.nats_subject_prefix)

    async def ensure_the_stream() -> None:  # the consumers bind to it, so it must exist first
        connection = await broker.connect()
        await ensure_stream(connection.jetstream(), settings.nats_stream, settings.nats_subject_prefix)

    async def start_feeding() -> None:
        connection = await broker.connect()
        leases = open_leases(settings.process_managers, store)
        feeds = ReadModelFeeds(
            connection.jetstream(), store, leases, decoders, settings.nats_stream, settings.nats_subject_prefix
        )
        feeding.append(asyncio.create_task(feeds.run(), name="read-model feeds"))

    async def stop_feeding() -> None:  # before the broker closes: each feed lets go of its consumer and lease
        for task in feeding:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        feeding.clear()

    app = FastStream(broker, on_startup=[ensure_the_stream], after_startup=[start_feeding], on_shutdown=[stop_feeding])
    if owned and platform is not None:
        app.after_shutdown(platform.close)
    elif platform is None:
        app.after_shutdown(cipher.close)
    return app


def run_consumers(settings: Settings) -> None:
    """Runs the consumers until SIGINT or SIGTERM."""
    asyncio.run(build_consumers_app(settings).run())
