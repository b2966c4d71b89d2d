"""The read models a `platform consumers` process holds (``adapters/readmodel_leases.py``), each fed from
JetStream in batches: fetch many, apply them in one transaction, ack after the commit.

While it holds a read model's lease, a process reads the stream for it through a pull consumer of its own,
started right after the last message the read model was fed (``read_model_stream_sequences``, written after each
commit). Order needs no help from the server: one consumer, one reader, whole batches; after any failure the
consumer is dropped and made again from the stored sequence, so no message can be applied after a later one.
Nothing is applied twice either: the checkpoint, in the batch's transaction, skips what a read model has seen,
and the lease fences the write. The consumer is ephemeral: when its process dies, the server drops it.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import ExitStack, suppress

import anyio
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from adapters.nats import cloudevents
from adapters.nats.consumers import Batch, Decoder
from adapters.nats.jetstream import POSITION
from adapters.readmodel_leases import LeaseLostError, ReadModelLeases
from adapters.readmodels import ReadModelStore
from adapters.sql_schema import create_tables

log = logging.getLogger(__name__)
BATCH = 500

_metadata = MetaData()
sequences = Table(
    "read_model_stream_sequences",
    _metadata,
    Column("name", String(100), primary_key=True),
    Column("stream", String(200), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
)


class ReadModelFeeds:
    """Keeps this process's leases and runs one feed task per read model it holds."""

    def __init__(
        self,
        js: JetStreamContext,
        read_models: ReadModelStore,
        leases: ReadModelLeases,
        decoders: dict[str, Decoder],
        stream: str,
        prefix: str,
        *,
        batch: int = BATCH,
        retry_delay: float = 1.0,
    ) -> None:
        self.js, self.read_models, self.leases, self.decoders = js, read_models, leases, decoders
        self.stream, self.prefix, self.batch, self.retry_delay = stream, prefix, batch, retry_delay
        self.tasks: dict[str, asyncio.Task[None]] = {}
        create_tables(read_models.engine, _metadata)

    async def run(self) -> None:
        """Keeps the leases every renewal interval and the feeds in step with them, until cancelled."""
        try:
            while True:
                try:
                    held = (await anyio.to_thread.run_sync(self.leases.keep)).held
                except Exception:  # the database is away: the fence keeps a lost lease from being written through
                    log.exception("could not keep the read-model leases")
                else:
                    self._follow(held)
                await asyncio.sleep(self.leases.renew_every)
        finally:
            await self._stop_all()

    def _follow(self, held: tuple[str, ...]) -> None:
        for name in [n for n in self.tasks if n not in held]:
            self.tasks.pop(name).cancel()
        for name in held:
            if name in self.decoders and (name not in self.tasks or self.tasks[name].done()):
                self.tasks[name] = asyncio.create_task(self._feed(name), name=f"feed {name}")

    async def _stop_all(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
        await anyio.to_thread.run_sync(self.leases.release)

    async def _feed(self, name: str) -> None:
        """Feeds one read model while this process holds it; a failure starts again from the stored sequence."""
        while True:
            try:
                await self._feed_from_stored(name)
            except LeaseLostError:
                log.warning("lost the lease of read model %s to another feeder", name)
                self.leases.drop(name)
                return
            except (NatsError, OSError, ConnectionError) as error:
                log.warning("%s: the stream is unreachable (%r); trying again", name, error)
            except Exception:
                log.exception("%s: a batch failed; it is read again from the last one applied", name)
            await asyncio.sleep(self.retry_delay)

    async def _feed_from_stored(self, name: str) -> None:
        start = await self._start_sequence(name)
        config = ConsumerConfig(
            description=f"feeds read model {name}",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start > 1 else DeliverPolicy.ALL,
            opt_start_seq=start if start > 1 else None,
            ack_policy=AckPolicy.ALL,
            ack_wait=max(30.0, self.leases.ttl * 3),
            max_ack_pending=self.batch * 2,
            inactive_threshold=max(30.0, self.leases.ttl * 3),
        )
        subscription = await self.js.pull_subscribe(
            cloudevents.subject_filter(self.prefix), stream=self.stream, config=config
        )
        try:
            while True:
                try:
                    messages = await subscription.fetch(self.batch, timeout=1.0)
                except (NatsTimeout, TimeoutError):  # nothing new within the second
                    continue
                if not messages:
                    continue
                await self._apply(name, messages)
                await messages[-1].ack()
        finally:
            with suppress(Exception):
                await subscription.unsubscribe()
                await self.js.delete_consumer(self.stream, subscription._consumer)

    async def _apply(self, name: str, messages: list[Msg]) -> None:
        with ExitStack() as spans:
            batch = self.decoders[name].batch(messages, spans)
            await anyio.to_thread.run_sync(self._commit, name, batch)

    def _commit(self, name: str, batch: Batch) -> None:
        self.read_models.apply(name, batch.events, holder=self.leases.owner, through=batch.through or None)
        store_sequence(self.read_models.engine, name, self.stream, batch.sequence, batch.through)

    async def _start_sequence(self, name: str) -> int:
        """Right after the message last fed to the read model, when the stream still holds it as it was; else 1."""
        stored = await anyio.to_thread.run_sync(stored_sequence, self.read_models.engine, name, self.stream)
        if stored is None:
            return 1
        sequence, position = stored
        try:
            found = await self.js.get_msg(self.stream, sequence)
        except NotFoundError:
            return 1
        return sequence + 1 if (found.headers or {}).get(POSITION) == str(position) else 1


def stored_sequence(engine: Engine, name: str, stream: str) -> tuple[int, int] | None:
    """The stream sequence and log position of the last message fed to the read model from ``stream``."""
    with engine.connect() as connection:
        row = connection.execute(
            select(sequences.c.sequence, sequences.c.position).where(
                sequences.c.name == name, sequences.c.stream == stream
            )
        ).first()
    return (int(row.sequence), int(row.position)) if row else None


def store_sequence(engine: Engine, name: str, stream: str, sequence: int, position: int) -> None:
    """Remembers where the read model's feed got to (after its batch committed: a crash between the two only makes
    the next feed read a batch again, which the checkpoint skips)."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    values = {"name": name, "stream": stream, "sequence": sequence, "position": position}
    statement = insert(sequences).values(**values)
    with engine.begin() as connection:
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=["name"], set_={k: v for k, v in values.items() if k != "name"}
            )
        )
