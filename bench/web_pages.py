"""Web app figure: a product page of the Customer App rendered by the platform, against the JSON API call that
serves the same product (``GET /v1/tenants/{t}/products/{p}``), both through the whole in-process app.

Setup publishes the retail sample as ``bench.pipeline_rows`` does (authentication off, so any credential signs in
as the anonymous admin) and signs in once through the sign-in form (CSRF token and all) for the session cookie the
page requests carry. The issue's aim for server-rendered pages is half the JSON call's rate or better.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, cast

import httpx
from litestar import Litestar

from bench.harness import Config, Pair, figure
from bench.http import requests
from bench.pipeline_rows import PRODUCT, publish, send, settings_in
from interfaces.bootstrap import bootstrap
from interfaces.http.app import create_app
from sample.retail import write_csv

PAGE_AIM = 0.5
WARMUP_REQUESTS = 20
_TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


def session_cookie(app: Litestar) -> str:
    """Signs in through the form; the Cookie header a signed-in browser sends."""

    async def run() -> str:
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            form = await client.get("/web/sign-in")
            token = _TOKEN.search(form.text)
            if token is None:
                raise RuntimeError("the sign-in form carries no CSRF token")
            data = {"credential": "bench", "_csrf_token": token.group(1)}
            await client.post("/web/sign-in", data=data)
            return "; ".join(f"{name}={value}" for name, value in client.cookies.items())

    return asyncio.run(run())


@figure(
    "web.product",
    aim=PAGE_AIM,
    unit="requests/s",
    description="the Customer App's product page (HTML) vs GET /v1/tenants/{t}/products/{p} (JSON)",
)
@contextmanager
def web_product(config: Config) -> Iterator[Pair]:
    lines, count = config.size(5_000, 1_000), config.size(200, 20)
    folder = config.workdir / "web-product"
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        platform = bootstrap(settings_in(folder))
        stack.callback(platform.close)
        app = create_app(platform)
        tenant = publish(platform, app, write_csv(folder / "sales.csv", lines, seed=7))
        page, api = f"/app/t/{tenant}/products/{PRODUCT}", f"/v1/tenants/{tenant}/products/{PRODUCT}"
        cookie = {"Cookie": session_cookie(app)}
        if PRODUCT not in requests_text(app, page, cookie) or send(app, "GET", api).json()["name"] != PRODUCT:
            raise RuntimeError("the page and the API call do not both serve the product")

        def warmup() -> None:
            requests(app, page, cookie, WARMUP_REQUESTS)
            requests(app, api, {}, WARMUP_REQUESTS)

        yield Pair(
            lambda: requests(app, page, cookie, count),
            lambda: requests(app, api, {}, count),
            note=f"one product, {count} sequential requests/round in-process, signed in by session cookie",
            warmup=warmup,
        )


def requests_text(app: Litestar, path: str, headers: dict[str, str]) -> str:
    return send(app, "GET", path, headers=headers).text
