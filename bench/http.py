"""HTTP figures: what authentication and Cedar authorization cost on a query route."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import Any, cast

import httpx
from litestar import Litestar

from bench.harness import Config, Pair, Sample, figure
from interfaces.bootstrap import Platform, bootstrap
from interfaces.credentials import dev_token
from interfaces.http.app import create_app
from interfaces.settings import Settings, Switch

AUTH_AIM = 0.7
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would be what we measure


def requests(app: Litestar, path: str, headers: dict[str, str], count: int) -> Sample:
    """``count`` sequential GETs through the whole ASGI app (middleware, guard, handler, serialization)."""

    async def run() -> Sample:
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            started = time.perf_counter()
            for _ in range(count):
                response = await client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text}")
            return Sample(count, time.perf_counter() - started)

    return asyncio.run(run())


def _platforms(stack: ExitStack, config: Config) -> tuple[Platform, Platform, str, dict[str, str]]:
    folder = config.workdir / "query-auth"
    settings = Settings(
        event_store_url=str(folder / "events.db"),
        read_model_url=f"sqlite:///{folder}/readmodels.db",
        keys_dir=str(folder / "keys"),
        rate_limit_principal=None,
        rate_limit_tenant=None,
        rate_limit_client=None,
    )
    secured = bootstrap(settings)
    stack.callback(secured.close)
    admin = dev_token(secured, "platform-admin", None)
    from application.commands import CommandContext

    tenant = secured.tenants.onboard_tenant(CommandContext("bench", "bench-tenant", "bench"), "bench", "Bench", "trial")
    analyst = dev_token(secured, "analyst", str(tenant.aggregate_id))
    secured.worker.catch_up()
    open_ = bootstrap(replace(settings, auth=Switch.OFF))
    stack.callback(open_.close)
    del admin
    return secured, open_, str(tenant.aggregate_id), {"Authorization": f"Bearer {analyst}"}


@figure(
    "query.auth",
    aim=AUTH_AIM,
    unit="requests/s",
    description="GET /v1/tenants/{id} with JWT authentication + Cedar authorization vs both switched off",
)
@contextmanager
def query_auth(config: Config) -> Iterator[Pair]:
    count = config.size(1500, 100)
    with ExitStack() as stack:
        secured, open_, tenant_id, headers = _platforms(stack, config)
        path = f"/v1/tenants/{tenant_id}"
        secured_app, open_app = create_app(secured), create_app(open_)

        def warmup() -> None:
            requests(secured_app, path, headers, 50)
            requests(open_app, path, {}, 50)

        yield Pair(
            lambda: requests(secured_app, path, headers, count),
            lambda: requests(open_app, path, {}, count),
            note=f"{count} sequential requests/round in-process (httpx ASGI transport), an analyst's bearer token",
            warmup=warmup,
        )
