"""Activation API rows figure: a published product's KPI rows through the whole app, against a bare Litestar route.

Setup publishes a real product: a platform bootstrapped on files in the workdir (authentication off, as in
``bench.http``), a tenant onboarded and entitled to ingest over HTTP, the retail sample contract registered,
proposed and approved through the contract service (four eyes: two actors; with authentication off every request
is the same anonymous admin), a sample batch of 200,000 lines (quick: 5,000) uploaded over HTTP and the
orchestrator and read models driven to rest. The system then answers
``GET .../products/retail-sales/versions/1/rows?kpi=daily_revenue&limit=1000`` (JSON); the baseline is a bare
Litestar app whose one route filters the same in-memory Arrow table (``Table.filter``), takes the same page and
encodes ``to_pylist()`` with msgspec. Both are in-process ASGI apps driven by the same sequential client; setup
checks that they answer the same rows. ``to_pylist`` builds a Python datetime per timestamp, which the platform
avoids by formatting timestamps in Arrow, so the ratio can pass 1 although the platform does more per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast

import httpx
import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from litestar import Litestar, Response, get
from litestar.params import QueryParameter

from adapters.contracts import read_odcs
from application.commands import CommandContext
from bench.harness import Config, Pair, figure
from bench.http import requests
from domain.products import product_id_for
from domain.values import TenantId
from interfaces.bootstrap import Platform, bootstrap
from interfaces.http.app import create_app
from interfaces.settings import Placement, Settings, Switch
from projections.products import version_query
from sample.retail import CONTRACT, write_csv

ROWS_AIM = 0.6
PRODUCT = "retail-sales"
KPI = "daily_revenue"
LIMIT = 1000
ROUTE = "/v1/tenants/{tenant_id:str}/products/{product:str}/versions/{version:int}/rows"
WARMUP_REQUESTS = 30
_ENCODER = msgspec.json.Encoder()


def settings_in(folder: Path) -> Settings:
    """A platform on files under ``folder``: no authentication, no rate limits, nothing running in the background."""
    return Settings(
        event_store_url=str(folder / "events.db"),
        read_model_url=f"sqlite:///{folder}/readmodels.db",
        keys_dir=str(folder / "keys"),
        datasets=str(folder / "datasets"),
        scratch_dir=str(folder / "scratch"),
        auth=Switch.OFF,
        rate_limit_principal=None,
        rate_limit_tenant=None,
        rate_limit_client=None,
        projections=Placement.OFF,
        orchestrator=Placement.OFF,
    )


def send(app: Litestar, method: str, path: str, **arguments: Any) -> httpx.Response:
    """One request through the in-process app (setup only); a non-2xx answer is an error."""

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=None) as client:
            return await client.request(method, path, **arguments)

    response = asyncio.run(run())
    if not response.is_success:
        raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
    return response


def publish(platform: Platform, app: Litestar, csv: Path) -> TenantId:
    """Onboards an entitled tenant, approves the sample contract, uploads ``csv`` and publishes; the tenant id."""
    onboarded = send(app, "POST", "/v1/tenants", json={"slug": "bench-retail", "display_name": "Bench Retail"})
    tenant = TenantId(str(onboarded.json()["tenant_id"]))
    send(app, "POST", f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
    document = read_odcs(CONTRACT.read_bytes(), "application/yaml")
    version = str(document["version"])
    # Each command its own id (a repeated id replays the first command); two actors for the four eyes.
    platform.contracts.register_contract(CommandContext("engineer", "bench-register", "bench"), tenant, document)
    platform.contracts.propose_version(CommandContext("engineer", "bench-propose", "bench"), tenant, PRODUCT, version)
    platform.contracts.approve_version(CommandContext("steward", "bench-approve", "bench"), tenant, PRODUCT, version)
    batches = f"/v1/tenants/{tenant}/contracts/{PRODUCT}/batches"
    send(app, "POST", batches, content=csv.read_bytes(), headers={"content-type": "text/csv"})
    platform.orchestrator.catch_up()
    platform.worker.catch_up()
    return tenant


def served_kpis(platform: Platform, tenant: TenantId) -> pa.Table:
    """The KPI table version 1 serves, as the endpoint's cache holds it."""
    with platform.read_models.engine.connect() as connection:
        row = connection.execute(version_query(tenant, str(product_id_for(tenant, PRODUCT)), 1)).mappings().first()
    if row is None or row["status"] != "published":
        raise RuntimeError(f"{PRODUCT} v1 was not published: {row and row['status']}")
    kpis = next(d for d in row["datasets"] if d["name"] == "kpis")
    return platform.compute.tables.load(kpis["served"])


def bare_app(table: pa.Table) -> Litestar:
    """One route over the table: filter by KPI, first ``limit`` rows, ``to_pylist`` encoded by msgspec."""

    @get(ROUTE)
    async def rows(
        kpi: Annotated[str, QueryParameter(query="kpi")],
        limit: Annotated[int, QueryParameter(query="limit")],
    ) -> Response[bytes]:
        page = table.filter(pc.field("kpi") == kpi).slice(0, limit)
        return Response(_ENCODER.encode({"rows": page.to_pylist()}), media_type="application/json")

    return Litestar(route_handlers=[rows], debug=False)


def check_same_rows(system: httpx.Response, baseline: httpx.Response) -> int:
    """Both answered the same rows (timestamps compared as instants: Arrow and msgspec format them differently)."""
    ours, theirs = (_comparable(r.json()["rows"]) for r in (system, baseline))
    if not ours or ours != theirs:
        raise AssertionError(f"the rows differ: {len(ours)} from the platform, {len(theirs)} from the bare route")
    return len(ours)


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: _instant(value) for key, value in row.items()} for row in rows]


def _instant(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T" and value.endswith("Z"):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


@figure(
    "rows.api",
    aim=ROWS_AIM,
    unit="requests/s",
    description="GET .../versions/1/rows?kpi=daily_revenue&limit=1000 (JSON) vs a bare Litestar route",
)
@contextmanager
def rows_api(config: Config) -> Iterator[Pair]:
    lines, count = config.size(200_000, 5_000), config.size(300, 30)
    folder = config.workdir / "rows-api"
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        platform = bootstrap(settings_in(folder))
        stack.callback(platform.close)
        system_app = create_app(platform)
        csv = write_csv(folder / "sales.csv", lines, seed=7)
        tenant = publish(platform, system_app, csv)
        csv.unlink()
        path = f"/v1/tenants/{tenant}/products/{PRODUCT}/versions/1/rows?kpi={KPI}&limit={LIMIT}"
        first = send(system_app, "GET", path)  # loads (and verifies) the table into the endpoint's cache
        baseline_app = bare_app(served_kpis(platform, tenant))
        page = check_same_rows(first, send(baseline_app, "GET", path))

        def warmup() -> None:
            requests(system_app, path, {}, WARMUP_REQUESTS)
            requests(baseline_app, path, {}, WARMUP_REQUESTS)

        yield Pair(
            lambda: requests(system_app, path, {}, count),
            lambda: requests(baseline_app, path, {}, count),
            note=f"{lines:,} lines in, {page} rows a page, {count} sequential requests/round in-process",
            warmup=warmup,
        )
