"""Ingestion: a batch of bytes becomes a landed raw file and a recorded run, whoever hands it over.

HTTP, the CLI (through HTTP) and any source to come call ``IngestionService.ingest`` with the bytes as a stream of
chunks. In this order: the data policy ``land_batch`` (is the tenant active and entitled, is the contract in force?),
the contract's active version and schema object, the format, the bytes streamed to a staging file under the size
limit, the header checked against the contract and what the file declares against the bounds on the work of one
batch; only then the bytes land in the raw store and the run is recorded. Every refusal before landing records
nothing but its denial; after landing, the bytes are kept and problems show in the run.

The service owns its ports: ``DataPolicy``, ``RawStore`` (with its ``Staging`` file) and ``BatchCheck``. They are
synchronous (files, the event store and Cedar block), so the service runs them in worker threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from uuid import UUID

import anyio
import msgspec

from application.commands import Clock, CommandContext
from application.contracts import ContractService
from application.pipeline import PipelineService, Target, target_of
from domain.errors import DomainError, NotFoundError
from domain.pipeline import manifest
from domain.values import ContractStatus, TenantId

ContextOf = Callable[[], CommandContext]
"""The command's context, asked for when it is needed: an HTTP Idempotency-Key's fingerprint covers the body, so
the run is recorded under a context asked for once every chunk has been read."""


class LandingRefusedError(DomainError):
    """The data policy ``land_batch`` refuses this batch (the tenant is not active or not entitled, or the contract
    has no version in force); the refusal is recorded and nothing lands."""


class DataPolicy(Protocol):
    """The data policy asked before a batch lands."""

    def refusal_to_land(
        self, caller: object, tenant_id: str, contract_status: str, context: CommandContext
    ) -> str | None:
        """None when ``caller`` may land a batch for the tenant; else why not, the denial already recorded.

        ``contract_status`` is ``active`` when the contract has a version in force, else ``none``."""
        ...


class Landed(Protocol):
    """A file in the raw store: its key, SHA-256 and size."""

    @property
    def key(self) -> str: ...

    @property
    def sha256(self) -> str: ...

    @property
    def bytes(self) -> int: ...


class Staging(Protocol):
    """A batch being received into a local staging file; leaving it discards the file unless it has landed."""

    def __enter__(self) -> Staging: ...

    def __exit__(self, *exc_info: object) -> None: ...

    @property
    def path(self) -> Path: ...

    @property
    def size(self) -> int: ...

    def write(self, chunk: bytes) -> None:
        """Appends a chunk; past the size limit the file is discarded and the error raised."""
        ...

    def finish(self) -> None:
        """No more chunks: the file is flushed to disk."""
        ...

    def land(self, fmt: str) -> Landed:
        """Moves the file to its content-addressed key in the raw store (nothing written when it is there)."""
        ...


class RawStore(Protocol):
    """The raw stage of the dataset store: write-once, content-addressed."""

    def receive(self, tenant_id: str, max_bytes: int) -> Staging: ...


class BatchCheck(Protocol):
    """What can be known of a batch before it lands."""

    def format_of(self, media_type: str | None) -> str:
        """The batch's format (csv, ndjson, parquet, arrow) by its media type; an error for one not accepted."""
        ...

    def check(self, path: Path, size: int, fmt: str, target: Target) -> int | None:
        """The header against the contract's object and what the file declares against the bounds (an error for
        either); the row count the file declares, None when its format declares none."""
        ...


@dataclass(frozen=True)
class Batch:
    """A batch as an entry point hands it over: for whom, under which contract and object, from where, and the
    bytes themselves (chunks, read once)."""

    tenant_id: TenantId
    contract: str
    object_name: str | None
    source: str
    media_type: str | None
    chunks: AsyncIterable[bytes] | Iterable[bytes]


class Ingested(msgspec.Struct, frozen=True):
    """What became of a batch: its run, the contract version and object it is for, and the landed bytes.
    ``duplicate`` when the same bytes already had a run (that run is the answer)."""

    run_id: UUID
    contract: str
    contract_version: str
    object: str
    sha256: str
    bytes: int
    format: str
    rows: int | None
    duplicate: bool
    position: int


class IngestionService:
    """Lands batches in the raw store and records each as a pipeline run."""

    def __init__(
        self,
        contracts: ContractService,
        pipeline: PipelineService,
        policy: DataPolicy,
        raw: RawStore,
        check: BatchCheck,
        clock: Clock,
        max_bytes: int,
    ) -> None:
        self.contracts = contracts
        self.pipeline = pipeline
        self.policy = policy
        self.raw = raw
        self.batch_check = check
        self.clock = clock
        self.max_bytes = max_bytes

    async def ingest(self, caller: object, batch: Batch, context: ContextOf) -> Ingested:
        """Lands the batch and records its run (or finds the run these bytes already have)."""
        at = self.clock().isoformat()
        before_reading = context()  # an entry point may refuse the context (a malformed key) before a byte is read
        target = await anyio.to_thread.run_sync(self._allowed_target, caller, batch, before_reading)
        fmt = self.batch_check.format_of(batch.media_type)
        with self.raw.receive(batch.tenant_id, self.max_bytes) as staging:
            await _receive(batch.chunks, staging)
            rows = await anyio.to_thread.run_sync(self.batch_check.check, staging.path, staging.size, fmt, target)
            landed = await anyio.to_thread.run_sync(staging.land, fmt)
        raw = manifest(landed.key, landed.sha256, landed.bytes, rows, fmt)
        record = self.pipeline.ingest
        result, duplicate = await anyio.to_thread.run_sync(record, context(), target, batch.source, raw, at)
        return Ingested(
            run_id=result.aggregate_id,
            contract=target.contract,
            contract_version=target.version,
            object=target.object["name"],
            sha256=landed.sha256,
            bytes=landed.bytes,
            format=fmt,
            rows=rows,
            duplicate=duplicate,
            position=result.position,
        )

    def _allowed_target(self, caller: object, batch: Batch, context: CommandContext) -> Target:
        """The data policy, with the contract's state as its context, then what the batch is ingested against
        (the contract is loaded once for both)."""
        found = self.contracts.current_contract(batch.tenant_id, batch.contract)
        if found is None:
            raise NotFoundError(f"no such contract: {batch.contract}")
        status = ContractStatus.ACTIVE if found.current is not None else "none"
        refusal = self.policy.refusal_to_land(caller, batch.tenant_id, status, context)
        if refusal is not None:
            raise LandingRefusedError(refusal)
        return target_of(found, batch.tenant_id, batch.contract, batch.object_name)


async def _receive(chunks: AsyncIterable[bytes] | Iterable[bytes], staging: Staging) -> None:
    """Writes every chunk to the staging file, then finishes it."""
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            staging.write(chunk)
    else:
        for chunk in chunks:
            staging.write(chunk)
    staging.finish()
