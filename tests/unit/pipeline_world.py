"""A pipeline over the in-memory event store with a fake compute (our own ``PipelineCompute`` port): approved
contracts, batches ingested, and an orchestrator to drive. No I/O: no file, no database, no clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from application.checkpoints import Checkpoints, MemoryCheckpoints
from application.commands import CommandContext, CommandRunner
from application.contracts import ContractService
from application.deadletters import DeadLetterService
from application.orchestrator import Orchestrator
from application.pipeline import KpiBuild, Normalization, PipelineService, Target
from application.process_managers.pipeline_steps import AuthorizeStep, allow_every_step
from domain.pipeline import Manifest, manifest
from domain.products import Dataset
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore

TENANT = "4f9a1c52-0000-4000-8000-000000000001"
START = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


def document(key: str = "orders") -> dict[str, Any]:
    fields = [
        {"name": "order_id", "logicalType": "string", "required": True, "primaryKey": True},
        {"name": "amount", "logicalType": "number"},
    ]
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": key,
        "version": "1.0.0",
        "name": key.title(),
        "schema": [{"name": "orders", "properties": fields}],
    }


class Clock:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def digest(name: str) -> str:
    """A stand-in SHA-256 named after what it stands for."""
    return name.encode().hex().ljust(64, "0")[:64]


def file(kind: str, name: str, rows: int = 2) -> Manifest:
    """What the fake compute writes: named after the step and its input."""
    sha = digest(f"{kind}-{name}")
    return manifest(f"{TENANT}/{kind}/{sha}.parquet", sha, 100, rows, "parquet", "schema")


@dataclass
class FakeCompute:
    """Our own PipelineCompute port, faked: remembers each call; ``failures`` scripts errors per step."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    kpi_inputs: list[list[str]] = field(default_factory=list)
    remember: bool = True
    reject: bool = False
    """Every batch breaks a contract-level rule: normalize rejects it."""

    def _call(self, step: str, raw: str) -> None:
        if self.remember:
            self.calls.append((step, raw))
        script = self.failures.get(step)
        if script:
            raise script.pop(0)

    def normalize(self, tenant_id: str, raw: Manifest, target: Target) -> Normalization:
        self._call("normalize", raw["sha256"])
        counts = {"rows_in": 2, "rows_out": 2, "rejected": 0, "duplicates": 0}
        if self.reject:
            return Normalization(None, None, counts | {"rejected": 2}, [], ["amount: null values (must be 0)"])
        return Normalization(file("gdp", raw["sha256"]), None, counts, [])

    def build_kpis(self, tenant_id: str, gdp: list[Manifest], target: Target) -> KpiBuild:
        self._call("build_kpis", gdp[-1]["sha256"])
        if self.remember:
            self.kpi_inputs.append([m["sha256"] for m in gdp])
        return KpiBuild(file("kpis", gdp[-1]["sha256"]), 1, [])

    def publish(self, tenant_id: str, kpis: Manifest, gdp: list[Manifest], target: Target) -> list[Dataset]:
        self._call("publish", kpis["sha256"])
        return [Dataset(name="kpis", served=kpis, source=kpis, columns=[], masked=[])]

    def export(
        self, tenant_id: str, dataset: Dataset, fmt: str, filters: list[list[str]], raw_formulas: bool = False
    ) -> tuple[Manifest, int]:
        raise NotImplementedError("these tests make no exports")


def context(command_id: str, actor: str = "user:test") -> CommandContext:
    return CommandContext(actor, command_id, command_id)


@dataclass
class World:
    store: RecorderEventStore
    clock: Clock
    pipeline: PipelineService
    contracts: ContractService
    dead_letters: DeadLetterService
    compute: FakeCompute
    checkpoints: Checkpoints
    sleeps: list[float] = field(default_factory=list)

    def orchestrator(self, authorize_step: AuthorizeStep = allow_every_step, attempts: int = 3) -> Orchestrator:
        return Orchestrator(
            self.store, self.pipeline, self.compute, self.dead_letters, self.clock, attempts=attempts,
            backoff=0.5, sleep=self.sleeps.append, authorize_step=authorize_step, checkpoints=self.checkpoints,
        )  # fmt: skip

    def approve(self, key: str = "orders", tenant: str = TENANT) -> None:
        self.contracts.register_contract(context(f"register-{tenant}-{key}", "engineer"), tenant, document(key))
        self.contracts.propose_version(context(f"propose-{tenant}-{key}", "engineer"), tenant, key, "1.0.0")
        self.contracts.approve_version(context(f"approve-{tenant}-{key}", "steward"), tenant, key, "1.0.0")

    def ingest(self, name: str, key: str = "orders", tenant: str = TENANT) -> UUID:
        target = self.pipeline.target(tenant, key, None)
        raw = manifest(f"{tenant}/raw/{name}.csv", digest(name), 10, 2, "csv")
        result, _ = self.pipeline.ingest(context(f"ingest-{tenant}-{key}-{name}"), target, "upload", raw, "t")
        return result.aggregate_id

    def events(self, kind: type, where: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        return [r.event for r in self.store.read_all(0, 1_000_000) if isinstance(r.event, kind) and where(r.event)]


def world() -> World:
    store = open_event_store("memory")
    clock = Clock()
    runner = CommandRunner(store, clock)
    contracts = ContractService(runner)
    pipeline = PipelineService(runner, contracts)
    return World(store, clock, pipeline, contracts, DeadLetterService(runner), FakeCompute(), MemoryCheckpoints())
