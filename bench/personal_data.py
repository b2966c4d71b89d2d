"""Personal-data access figures: what recording an unmasked read as an event costs a rows request.

Setup publishes the retail sample (as ``bench.pipeline_rows`` does, authentication off: every request is the
anonymous platform admin, who may see personal data). The system answers
``GET .../rows?dataset=gdp&fields=order_id,line,customer_email&limit=100``: the unmasked source, with
``customer_email`` in the answer, so each request first appends one ``PersonalDataAccessRecorded`` event. The
baseline is the same request with ``fields=order_id,line,country``: the same unmasked file, the same page, no
personal field in the answer, so nothing is recorded. The ratio is the price of the evidence per request; on
PostgreSQL the event store is in a schema of its own (the read models stay on a SQLite file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace

from bench import rawdb
from bench.harness import Config, Pair, figure
from bench.http import requests
from bench.pipeline_rows import WARMUP_REQUESTS, publish, send, settings_in
from interfaces.bootstrap import bootstrap
from interfaces.http.app import create_app
from interfaces.settings import EventStoreKind, Settings
from sample.retail import write_csv

PERSONAL_AIM = 0.5
QUERY = "dataset=gdp&limit=100&fields="
RECORDED = QUERY + "order_id,line,customer_email"
NOT_RECORDED = QUERY + "order_id,line,country"


@contextmanager
def _pair(config: Config, settings: Settings, folder_name: str) -> Iterator[Pair]:
    lines, count = config.size(20_000, 2_000), config.size(300, 30)
    folder = config.workdir / folder_name
    with ExitStack() as stack:
        platform = bootstrap(settings)
        stack.callback(platform.close)
        app = create_app(platform)
        csv = write_csv(folder / "sales.csv", lines, seed=7)
        tenant = publish(platform, app, csv)
        csv.unlink()
        base = f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows?"
        recorded, not_recorded = base + RECORDED, base + NOT_RECORDED
        before = platform.store.last_position()
        send(app, "GET", recorded)
        if platform.store.read_all(before, 10)[-1].type != "PersonalDataAccessRecorded":
            raise RuntimeError("an unmasked read recorded no PersonalDataAccessRecorded event")

        def warmup() -> None:
            requests(app, recorded, {}, WARMUP_REQUESTS)
            requests(app, not_recorded, {}, WARMUP_REQUESTS)

        yield Pair(
            lambda: requests(app, recorded, {}, count),
            lambda: requests(app, not_recorded, {}, count),
            note=f"100 rows a page, {count} sequential requests/round in-process, one event each (system)",
            warmup=warmup,
        )


@figure(
    "personal.sqlite",
    aim=PERSONAL_AIM,
    unit="requests/s",
    description="unmasked rows with a personal field (one access event each) vs without (no event), SQLite",
)
@contextmanager
def personal_sqlite(config: Config) -> Iterator[Pair]:
    folder = config.workdir / "personal-sqlite"
    folder.mkdir(parents=True, exist_ok=True)
    with _pair(config, settings_in(folder), "personal-sqlite") as pair:
        yield pair


@figure(
    "personal.postgres",
    aim=PERSONAL_AIM,
    unit="requests/s",
    description="unmasked rows with a personal field (one access event each) vs without (no event), PostgreSQL",
)
@contextmanager
def personal_postgres(config: Config) -> Iterator[Pair]:
    folder = config.workdir / "personal-postgres"
    folder.mkdir(parents=True, exist_ok=True)
    url = rawdb.libpq_url(config.postgres_url)
    with rawdb.postgres_schema(url, f"{config.run_id}_personal") as schema:
        settings = replace(
            settings_in(folder), event_store=EventStoreKind.POSTGRES, event_store_url=f"{url}?schema={schema}"
        )
        with _pair(config, settings, "personal-postgres") as pair:
            yield pair
