"""A small, realistic event log for the lineage tests, made by the real aggregates: principals with roles, the
retail contract drafted, proposed and approved, one batch run through every step, a product version published,
and an export. Files are named by the SHA-256 of made-up bytes (``FILES``), so a test can store them for real.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from adapters.readmodels import ReadModelStore, sqlite_url
from domain.access import Principal, principal_id_for
from domain.contracts import DataContract, contract_id_for, read_contract
from domain.exports import Export
from domain.pipeline import Manifest, PipelineRun, manifest
from domain.products import DataProduct, Dataset, product_id_for
from projections.lineage import projection
from sample.retail import CONTRACT

TENANT = "6a0d9a52-1b9e-4c5e-9f57-2f4d8c1e0a11"
START = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
CID = str(contract_id_for(TENANT, "retail-sales"))
PID = str(product_id_for(TENANT, "retail-sales"))
KPI_COLUMNS = [{"name": n, "type": t} for n, t in (("kpi", "string"), ("value", "double"), ("country", "string"))]
GDP_COLUMNS = [{"name": "order_id", "type": "string"}, {"name": "customer_email", "type": "string"}]
FILES: dict[str, bytes] = {}
"""Storage key -> the bytes the made-up manifests describe."""


@dataclass(frozen=True)
class Seen:
    """An event as the log hands it to a projection."""

    position: int
    event: Any
    recorded_at: datetime
    tenant_id: str | None = TENANT


def file(stage: str, name: str, rows: int | None, fmt: str = "parquet") -> Manifest:
    data = f"{stage}:{name}".encode()
    sha = hashlib.sha256(data).hexdigest()
    key = f"{TENANT}/{stage}/{sha[:2]}/{sha}.{fmt}"
    FILES[key] = data
    return manifest(key, sha, len(data), rows, fmt, None if stage == "raw" else f"schema-of-{name}")


RAW = file("raw", "batch-1", 600, "csv")
GDP = file("gdp", "gdp-1", 600)
QUARANTINE = file("quarantine", "rejects-1", 3)
KPI = file("kpi", "kpis-1", 40)
SERVED_KPIS = file("published", "kpis-1", 40)
SOURCE_GDP = file("gdp", "merged-1", 600)
SERVED_GDP = file("published", "gdp-1-masked", 600)
EXPORT_FILE = file("exports", "export-1", 12, "csv")


def principal(subject: str, *roles: str, tenant: str | None = TENANT) -> tuple[str, list[Any]]:
    """A person's id and the events that register them and grant each role in turn."""
    person = Principal.register("person", "test", subject, subject.title(), tenant)
    for role in roles:
        person.grant(role)
    return str(principal_id_for("test", subject, tenant)), list(person.collect_events())


ENGINEER, ENGINEER_EVENTS = principal("engineer", "data-engineer")
STEWARD, STEWARD_EVENTS = principal("steward", "data-steward")


def contract(author: str = ENGINEER, approver: str = STEWARD) -> list[Any]:
    document = yaml.safe_load(Path(CONTRACT).read_text())
    found = DataContract.draft(TENANT, read_contract(document), author)
    found.propose("1.0.0", author)
    found.approve("1.0.0", approver)
    return list(found.collect_events())


@dataclass
class Run:
    """One batch through every step; ``published`` is the run's last event, kept apart so a test can leave it out."""

    run: PipelineRun
    steps: list[Any]
    product: list[Any]
    published: list[Any] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return str(self.run.id)


def pipeline_run() -> Run:
    at = (START + timedelta(minutes=5)).isoformat()
    run = PipelineRun.ingest(TENANT, "retail-sales", "1.0.0", "sales", "http:test", RAW, at)
    done = (START + timedelta(minutes=6)).isoformat()
    counts = {"rows_in": 603, "rows_out": 600, "rejected": 3, "duplicates": 0}
    run.normalized(GDP, QUARANTINE, counts, [], at, done)
    run.kpis_built([GDP], KPI, 40, [], done, done)
    steps = list(run.collect_events())
    product = DataProduct.create(TENANT, "retail-sales")
    datasets = [
        Dataset(name="kpis", served=SERVED_KPIS, source=KPI, columns=KPI_COLUMNS, masked=[]),
        Dataset(name="gdp", served=SERVED_GDP, source=SOURCE_GDP, columns=GDP_COLUMNS, masked=["customer_email"]),
    ]
    product.publish("retail-sales", "1.0.0", str(run.id), "Retail", None, "retail", datasets, "passed", [])
    run.published("retail-sales", 1, [KPI, GDP], [SERVED_KPIS, SERVED_GDP], done, done)
    return Run(run, steps, list(product.collect_events()), list(run.collect_events()))


def export(run: Run) -> list[Any]:
    job = Export.request(TENANT, "export-1", "retail-sales", 1, "kpis", "csv", [["kpi", "daily_revenue"]], ENGINEER)
    job.complete([SERVED_KPIS], EXPORT_FILE, 12)
    return list(job.collect_events())


def log(*parts: list[Any], tenant: str | None = TENANT) -> list[Seen]:
    """The events as the log records them: positions from 1, a second apart."""
    events = [e for part in parts for e in part]
    return [Seen(n, e, START + timedelta(seconds=n), tenant) for n, e in enumerate(events, 1)]


def the_story() -> tuple[Run, list[Seen]]:
    """Everything in order: roles, an approved contract, a run, its product version, an export."""
    run = pipeline_run()
    events = log(ENGINEER_EVENTS, STEWARD_EVENTS, contract(), run.steps, run.product, run.published, export(run))
    return run, events


def project(tmp_path: Path, events: list[Seen], name: str = "lineage.db") -> ReadModelStore:
    """A lineage read model (SQLite under ``tmp_path``) with the events applied."""
    store = ReadModelStore(sqlite_url(tmp_path / name), [projection])
    store.apply("lineage", events)
    return store
