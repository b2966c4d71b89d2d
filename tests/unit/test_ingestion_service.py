"""The ingestion service over the in-memory event store, with fakes for its ports (data policy, raw store, batch
check): what lands, what is recorded, and what a refusal leaves behind (nothing but the refusal)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from application.commands import CommandContext, CommandRunner
from application.contracts import ContractService
from application.ingestion import Batch, Ingested, IngestionService, LandingRefusedError
from application.pipeline import NoActiveVersionError, PipelineService, Target
from domain.errors import InvalidValueError, NotFoundError
from domain.pipeline import run_id_for
from eventstore.adapters import open_event_store
from eventstore.blobs import InMemoryBlobs
from eventstore.recorder_store import RecorderEventStore

TENANT = "4f9a1c52-0000-4000-8000-000000000001"
NOW = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
CALLER = object()
CSV = [b"order_id,amount\n", b"A-1,12.5\n"]
SHA = "ab" * 32


class FakePolicy:
    """Allows, or refuses with ``refusal``; remembers what it was asked."""

    def __init__(self, refusal: str | None = None) -> None:
        self.refusal = refusal
        self.asked: list[tuple[object, str, str, str]] = []

    def refusal_to_land(
        self, caller: object, tenant_id: str, contract_status: str, context: CommandContext
    ) -> str | None:
        self.asked.append((caller, tenant_id, contract_status, context.command_id))
        return self.refusal


class FakeLanded:
    def __init__(self, key: str, sha256: str, size: int) -> None:
        self.key, self.sha256, self.bytes = key, sha256, size


class FakeStaging:
    """Keeps the chunks in memory; ``max_bytes`` as the real staging file does."""

    def __init__(self, store: FakeRawStore, tenant_id: str, max_bytes: int) -> None:
        self.store, self.tenant_id, self.max_bytes = store, tenant_id, max_bytes
        self.chunks: list[bytes] = []
        self.finished = self.landed = self.discarded = False

    @property
    def path(self) -> Path:
        return Path("staging") / self.tenant_id

    @property
    def size(self) -> int:
        return sum(map(len, self.chunks))

    def write(self, chunk: bytes) -> None:
        if self.size + len(chunk) > self.max_bytes:
            raise ValueError("too large")
        self.chunks.append(chunk)

    def finish(self) -> None:
        self.finished = True

    def land(self, fmt: str) -> FakeLanded:
        self.landed = True
        self.store.landed.append(b"".join(self.chunks))
        return FakeLanded(f"{self.tenant_id}/raw/{SHA}.{fmt}", SHA, self.size)

    def __enter__(self) -> FakeStaging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discarded = not self.landed


class FakeRawStore:
    def __init__(self) -> None:
        self.staged: list[FakeStaging] = []
        self.landed: list[bytes] = []

    def receive(self, tenant_id: str, max_bytes: int) -> FakeStaging:
        self.staged.append(FakeStaging(self, tenant_id, max_bytes))
        return self.staged[-1]


class FakeCheck:
    """CSV only; refuses a batch whose header lacks a column of the object; declares no row count."""

    def format_of(self, media_type: str | None) -> str:
        if media_type != "text/csv":
            raise InvalidValueError(f"unsupported media type {media_type}")
        return "csv"

    def check(self, path: Path, size: int, fmt: str, target: Target) -> int | None:
        self.checked = (path, size, fmt, target.object["name"])
        if size < len(b"".join(CSV)):
            raise InvalidValueError("the header lacks a column")
        return None


def document(status: str = "active") -> dict[str, Any]:
    fields = [
        {"name": "order_id", "logicalType": "string", "required": True, "primaryKey": True},
        {"name": "amount", "logicalType": "number"},
    ]
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "orders",
        "version": "1.0.0",
        "name": "Orders",
        "status": status,
        "schema": [{"name": "orders", "properties": fields}],
    }


def context(command_id: str, actor: str = "engineer-1") -> CommandContext:
    return CommandContext(actor, command_id, "corr")


@pytest.fixture
def store() -> Iterator[RecorderEventStore]:
    events = open_event_store("memory", blobs=InMemoryBlobs())
    yield events
    events.close()


@pytest.fixture
def contracts(store: RecorderEventStore) -> ContractService:
    contracts = ContractService(CommandRunner(store, lambda: NOW))
    contracts.register_contract(context("draft"), TENANT, document())
    return contracts


def approve(contracts: ContractService) -> None:
    contracts.propose_version(context("propose"), TENANT, "orders", "1.0.0")
    contracts.approve_version(context("approve", "steward-1"), TENANT, "orders", "1.0.0")


def service(
    contracts: ContractService, policy: FakePolicy, raw: FakeRawStore, max_bytes: int = 1000
) -> IngestionService:
    pipeline = PipelineService(contracts.runner, contracts)
    return IngestionService(contracts, pipeline, policy, raw, FakeCheck(), lambda: NOW, max_bytes)


def batch(chunks: Any = CSV, contract: str = "orders", media_type: str = "text/csv") -> Batch:
    return Batch(TENANT, contract, None, "test", media_type, chunks)


async def ingest(ingestion: IngestionService, sent: Batch, command_id: str = "upload-1") -> Ingested:
    return await ingestion.ingest(CALLER, sent, lambda: context(command_id))


async def test_a_batch_lands_and_its_run_is_recorded(contracts: ContractService, store: RecorderEventStore) -> None:
    approve(contracts)
    policy, raw = FakePolicy(), FakeRawStore()

    ingested = await ingest(service(contracts, policy, raw), batch())

    assert policy.asked == [(CALLER, TENANT, "active", "upload-1")]
    assert raw.landed == [b"".join(CSV)]
    assert ingested.run_id == run_id_for(TENANT, "orders", "1.0.0", "orders", SHA)
    assert (ingested.contract_version, ingested.object, ingested.format, ingested.duplicate) == (
        "1.0.0",
        "orders",
        "csv",
        False,
    )
    [recorded] = store.read_stream(ingested.run_id)
    assert recorded.position == ingested.position
    assert recorded.event.raw["key"] == f"{TENANT}/raw/{SHA}.csv"
    assert recorded.event.at == NOW.isoformat()


async def test_the_same_bytes_again_find_their_run(contracts: ContractService) -> None:
    approve(contracts)
    ingestion = service(contracts, FakePolicy(), FakeRawStore())
    first = await ingest(ingestion, batch())

    again = await ingest(ingestion, batch(), command_id="upload-2")

    assert (again.run_id, again.position, again.duplicate) == (first.run_id, first.position, True)


async def test_chunks_may_come_from_an_async_stream(contracts: ContractService) -> None:
    approve(contracts)
    raw = FakeRawStore()

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in CSV:
            yield chunk

    await ingest(service(contracts, FakePolicy(), raw), batch(chunks()))

    assert raw.landed == [b"".join(CSV)]


async def test_a_refused_batch_is_never_read_and_records_no_run(
    contracts: ContractService, store: RecorderEventStore
) -> None:
    approve(contracts)
    raw = FakeRawStore()
    before = store.last_position()

    with pytest.raises(LandingRefusedError, match="the tenant is suspended"):
        await ingest(service(contracts, FakePolicy("this batch may not land: the tenant is suspended"), raw), batch())

    assert raw.staged == []
    assert store.last_position() == before


async def test_the_policy_learns_that_the_contract_has_no_version_in_force(contracts: ContractService) -> None:
    policy = FakePolicy()

    with pytest.raises(NoActiveVersionError):
        await ingest(service(contracts, policy, FakeRawStore()), batch())

    assert [status for _, _, status, _ in policy.asked] == ["none"]


async def test_an_unknown_contract_is_not_found_before_the_policy_is_asked(contracts: ContractService) -> None:
    policy = FakePolicy()

    with pytest.raises(NotFoundError, match="no such contract: invoices"):
        await ingest(service(contracts, policy, FakeRawStore()), batch(contract="invoices"))

    assert policy.asked == []


async def test_a_batch_that_fails_its_check_is_discarded_unlanded(
    contracts: ContractService, store: RecorderEventStore
) -> None:
    approve(contracts)
    raw = FakeRawStore()
    before = store.last_position()

    with pytest.raises(InvalidValueError, match="lacks a column"):
        await ingest(service(contracts, FakePolicy(), raw), batch([CSV[0]]))

    assert (raw.staged[0].landed, raw.staged[0].discarded) == (False, True)
    assert store.last_position() == before


async def test_a_batch_is_received_under_the_size_limit(contracts: ContractService) -> None:
    approve(contracts)
    raw = FakeRawStore()

    with pytest.raises(ValueError, match="too large"):
        await ingest(service(contracts, FakePolicy(), raw, max_bytes=10), batch())

    assert raw.staged[0].max_bytes == 10
    assert raw.landed == []


async def test_the_run_is_recorded_under_the_context_asked_for_after_the_bytes(
    contracts: ContractService, store: RecorderEventStore
) -> None:
    approve(contracts)
    raw = FakeRawStore()
    asked: list[int] = []

    def context_now() -> CommandContext:
        asked.append(sum(s.size for s in raw.staged))
        return CommandContext("engineer-1", "upload-1", "corr", request_fingerprint=f"after {asked[-1]} bytes")

    ingested = await service(contracts, FakePolicy(), raw).ingest(CALLER, batch(), context_now)

    [recorded] = store.read_stream(ingested.run_id)
    assert asked == [0, len(b"".join(CSV))]
    assert recorded.metadata.request_fingerprint == f"after {len(b''.join(CSV))} bytes"
