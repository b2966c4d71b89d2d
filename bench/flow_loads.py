"""Flow figure: how many times one batch, from upload to published version, reads aggregates from their streams
and reads the log to its end, against the issue's budget (at most 5 stream loads and 1 log scan).

Setup bootstraps an in-process platform on SQLite in the workdir (authentication and Cedar on, as served), onboards
a tenant entitled to ingest, registers a data engineer and a data steward, and approves the retail sample contract
(four eyes). Each round uploads a new 200-row batch over HTTP (the app in-process, Litestar's test client) and drives
the orchestrator to the end (normalize, build KPIs, publish), with the event store's reads counted: a *stream
load* is one ``read_stream`` call (an aggregate read from its stream), a *log scan* one ``read_all`` loop that
reaches the end of the log (the call answering fewer events than asked ends it). Nothing else runs: no projection
worker or other process manager reads the store while a round is counted.

The harness compares rates, so the counts are put in its terms: the system trial's "seconds" is the larger of
loads / 5 and scans / 1, the baseline's is 1 (the budget), and both count one flow, so the ratio reads
min(5 / loads, 1 / scans): 1.0 or more meets the budget. The note and stderr name each load's caller.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from litestar.testing import TestClient

from bench.harness import Config, Pair, Sample, figure
from domain.values import tenant_id_of
from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Placement, Settings
from sample.retail import CONTRACT, write_csv

LOAD_BUDGET = 5
SCAN_BUDGET = 1
ROWS = 200
_HERE = (
    "application/commands.py",
    "adapters/telemetry/commands.py",
    "application/unit_of_work.py",
    "bench/flow_loads.py",
    "eventstore/",
)


@dataclass
class Reads:
    """The store's reads while counting: each stream load by its caller, and the log scans."""

    counting: bool = False
    loads: Counter[str] = field(default_factory=Counter)
    scans: Counter[str] = field(default_factory=Counter)

    def reset(self) -> None:
        self.loads.clear()
        self.scans.clear()


def _caller() -> str:
    """The first function up the stack outside the store and the command machinery: who wanted the read."""
    frame = sys._getframe(2)
    while frame.f_back is not None and any(part in frame.f_code.co_filename for part in _HERE):
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "?")
    return f"{module}.{frame.f_code.co_qualname}"


def count_reads(platform: Platform) -> Reads:
    """Counts the event store's reads through wrappers set on the store object every service shares."""
    store: Any = platform.store
    reads = Reads()
    read_stream: Callable[..., Any] = store.read_stream
    read_all: Callable[..., Any] = store.read_all

    def counted_stream(stream_id: Any, *args: Any, **kwargs: Any) -> Any:
        if reads.counting:
            reads.loads[_caller()] += 1
        return read_stream(stream_id, *args, **kwargs)

    def counted_all(after: int, limit: int, *args: Any, **kwargs: Any) -> Any:
        events = read_all(after, limit, *args, **kwargs)
        if reads.counting and len(events) < limit:
            reads.scans[_caller()] += 1
        return events

    store.read_stream, store.read_all = counted_stream, counted_all
    return reads


def _prepare(platform: Platform, client: TestClient[Any]) -> tuple[str, dict[str, str]]:
    """A tenant entitled to ingest, with the retail contract approved; its id and the data engineer's headers."""
    client.headers["Authorization"] = f"Bearer {dev_token(platform, 'platform-admin', None)}"
    created = client.post("/v1/tenants", json={"slug": "flow", "display_name": "Flow Co"})
    tenant = str(created.json()["tenant_id"])
    client.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
    engineer = {"Authorization": f"Bearer {dev_token(platform, 'data-engineer', tenant)}"}
    steward = {"Authorization": f"Bearer {dev_token(platform, 'data-steward', tenant)}"}
    yaml = engineer | {"content-type": "application/yaml"}
    version = client.post(f"/v1/tenants/{tenant}/contracts", content=CONTRACT.read_bytes(), headers=yaml).json()
    path = f"/v1/tenants/{tenant}/contracts/retail-sales"
    client.post(f"{path}/propose", json={"version": version["version"]}, headers=engineer)
    approved = client.post(f"{path}/approve", json={"version": version["version"]}, headers=steward)
    if approved.status_code != 202:
        raise RuntimeError(f"approving the contract answered {approved.status_code}: {approved.text}")
    platform.worker.catch_up()
    return tenant, engineer


def one_flow(platform: Platform, client: TestClient[Any], tenant: str, headers: dict[str, str], batch: bytes) -> UUID:
    """Uploads a batch and drives the orchestrator to the end; the id of its run."""
    path = f"/v1/tenants/{tenant}/contracts/retail-sales/batches"
    accepted = client.post(path, content=batch, headers=headers | {"content-type": "text/csv"})
    if accepted.status_code != 202:
        raise RuntimeError(f"the upload answered {accepted.status_code}: {accepted.text}")
    platform.orchestrator.catch_up()
    return UUID(accepted.json()["run_id"])


@figure(
    "flow.loads",
    aim=1.0,
    unit="flows",
    description="stream loads and log scans of one batch from upload to published version vs 5 and 1",
)
@contextmanager
def flow_loads(config: Config) -> Iterator[Pair]:
    folder = config.workdir / "flow-loads"
    settings = Settings(
        event_store_url=str(folder / "events.db"),
        read_model_url=f"sqlite:///{folder}/readmodels.db",
        datasets=str(folder / "datasets"),
        scratch_dir=str(folder / "scratch"),
        keys_dir=str(folder / "keys"),
        rate_limit_principal=None,
        rate_limit_tenant=None,
        rate_limit_client=None,
        pipeline_backoff=0.0,
        projections=Placement.OFF,  # nothing but the flow reads the store while it is counted
        orchestrator=Placement.OFF,
        webhook_dispatcher=Placement.OFF,
        scheduler=Placement.OFF,
        action_engine=Placement.OFF,
    )
    with ExitStack() as stack:
        platform = bootstrap(settings)
        stack.callback(platform.close)
        client = stack.enter_context(TestClient(create_app(platform), raise_server_exceptions=True))
        tenant, engineer = _prepare(platform, client)
        reads = count_reads(platform)
        seeds = iter(range(1000))
        rounds: list[tuple[int, int, dict[str, int], dict[str, int]]] = []

        def system() -> Sample:
            batch = write_csv(folder / "batch.csv", ROWS, seed=next(seeds)).read_bytes()
            reads.reset()
            reads.counting = True
            try:
                run_id = one_flow(platform, client, tenant, engineer, batch)
            finally:
                reads.counting = False
            status = platform.pipeline.run(tenant_id_of(tenant), run_id).status
            if status != "succeeded":
                raise RuntimeError(f"the run ended {status}, not succeeded (published)")
            loads, scans = sum(reads.loads.values()), sum(reads.scans.values())
            rounds.append((loads, scans, dict(reads.loads), dict(reads.scans)))
            return Sample(1, max(loads / LOAD_BUDGET, scans / SCAN_BUDGET))

        system()  # the first batch of the product: counted on its own in the note
        loads, scans = rounds[0][:2]
        yield Pair(
            system,
            lambda: Sample(1, 1.0),
            note=f"first batch: {loads} stream loads, {scans} log scans (budget {LOAD_BUDGET} and {SCAN_BUDGET}); "
            f"ratio = min({LOAD_BUDGET}/loads, {SCAN_BUDGET}/scans); a new {ROWS}-row batch per round",
        )
        for number, (loads, scans, by_loader, by_scanner) in enumerate(rounds, 1):
            print(f"flow.loads batch {number}: {loads} loads {by_loader}; {scans} scans {by_scanner}", file=sys.stderr)
