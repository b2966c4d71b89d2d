"""The OpenLineage RunEvents of real pipeline runs validate against the official OpenLineage JSON schemas.

A platform on files (SQLite, local dataset store) runs one clean batch, one batch its contract rejects, and an
export; the lineage read model is built from its log; every RunEvent is validated against ``OpenLineage.json``
(spec 2-0-2) and every facet against the schema its ``_schemaURL`` names, all resolved from files (the official ones
in ``openlineage_spec/``, see its README, and the platform's own facet schema), with no network. Formats are
checked too (uuid, and RFC 3339 date-time and URI by the small checkers below). Broken events must fail.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable

from adapters.lineage.openlineage import DATA_HASH_FACET_FILE, RUN_EVENT, run_events
from adapters.projection_worker import ProjectionWorker
from adapters.readmodels import ReadModelStore, sqlite_url
from application.commands import CommandContext
from domain.access import principal_id_for
from domain.pipeline import manifest
from interfaces.bootstrap import Platform, bootstrap
from interfaces.settings import Settings
from projections.lineage import projection
from sample.retail import COLUMNS, CONTRACT, write_csv

SPEC = Path(__file__).with_name("openlineage_spec")
PINNED = {  # file (without .json) -> SHA-256, as in openlineage_spec/README.md
    "OpenLineage": "69f68bee00b9beac88a87059c0102410e7bb05f3f43c46d02a0409831eceb0d2",
    "facets/ColumnLineageDatasetFacet": "04d96b4985ca32470c7f9d73163da76678fb160bc8d80cbbc5abf312e9537466",
    "facets/DatasetVersionDatasetFacet": "91f57b67bc6d639bb6d600e26b827dac551e3520a233d1785d65870da263dc34",
    "facets/ErrorMessageRunFacet": "b11b4ee8b0f99f6846264f87cad48390255c7ef142ce623216660c7097be0ea6",
    "facets/InputStatisticsInputDatasetFacet": "39229ddd334bea16e35942e01cd59b7acb178d50688d4227894e01f39da8a669",
    "facets/JobTypeJobFacet": "11c12cab95a411ca31066c80d2bb4aefd37bbcadbda5e4d343d2069853b907d5",
    "facets/OutputStatisticsOutputDatasetFacet": "d89f01440d08e10bb6e4a95c437f736e70034058f97d4955a35e1cda70c9d37e",
    "facets/ParentRunFacet": "efdd06ef87537849f1ec7984cc2e36cbdcea40083635c20fd9af1934ba601d57",
    "facets/SchemaDatasetFacet": "50236a779aa64baa0bad0055391838bd22fcb36ce667c41d60ada80915e899b6",
}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(RFC3339.match(value)) and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None


@FORMATS.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme)) and bool(parts.netloc or parts.path)


def _schemas() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in (SPEC / f"{name}.json" for name in PINNED)] + [
        json.loads(DATA_HASH_FACET_FILE.read_text())
    ]


REGISTRY: Registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in _schemas())


def problems_of(event: dict[str, Any]) -> list[str]:
    """Why the event is not a valid OpenLineage RunEvent: the core schema, then each facet by its own schema."""
    found = [f"event {e.json_path}: {e.message}" for e in _validator(RUN_EVENT).iter_errors(event)]
    for where, name, facet in _facets(event):
        url = facet.get("_schemaURL", "")
        try:
            document = REGISTRY.resolver().lookup(url.split("#", 1)[0]).contents
        except Unresolvable:
            found.append(f"{where}.{name}: no schema known at {url!r}")
            continue
        if name not in document.get("properties", {}):
            found.append(f"{where}.{name}: {url} defines no facet named {name!r}")
        # The facet file's top-level schema names the facet: validating {name: facet} checks the name and the body.
        found += [f"{where}.{name}: {e.message}" for e in _validator(url.split("#", 1)[0]).iter_errors({name: facet})]
    return found


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=REGISTRY, format_checker=FORMATS)


def _facets(event: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    yield from (("run.facets", n, f) for n, f in event["run"].get("facets", {}).items())
    yield from (("job.facets", n, f) for n, f in event["job"].get("facets", {}).items())
    for side in ("inputs", "outputs"):
        for i, dataset in enumerate(event.get(side, [])):
            for group in ("facets", "inputFacets", "outputFacets"):
                yield from ((f"{side}[{i}].{group}", n, f) for n, f in dataset.get(group, {}).items())


# --- the spec files are the pinned official ones


def test_the_spec_files_are_the_official_ones_the_readme_names() -> None:
    for name, sha in PINNED.items():
        assert hashlib.sha256((SPEC / f"{name}.json").read_bytes()).hexdigest() == sha, name
    ids = {json.loads((SPEC / f"{name}.json").read_text())["$id"] for name in PINNED}
    assert "https://openlineage.io/spec/2-0-2/OpenLineage.json" in ids
    assert RUN_EVENT.split("#")[0] in ids


# --- events of real runs


def context(actor: str, name: str) -> CommandContext:
    return CommandContext(actor, name, name)


def land(platform: Platform, tenant: str, engineer: str, data: bytes, name: str) -> str:
    target = platform.pipeline.target(tenant, "retail-sales", None)
    with platform.datasets.receive(len(data)) as upload:
        upload.write(data)
        stored = platform.datasets.land(upload, tenant, "raw", ".csv")
    raw = manifest(stored.key, stored.sha256, stored.bytes, data.count(b"\n") - 1, "csv")
    at = datetime.now(UTC).isoformat()
    result, _ = platform.pipeline.ingest(context(engineer, name), target, "test", raw, at)
    return str(result.aggregate_id)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A tenant with an approved contract, a published run, a rejected run and an export, and its lineage."""
    tmp = tmp_path_factory.mktemp("openlineage")
    settings = Settings(
        event_store_url=str(tmp / "events.db"),
        read_model_url=sqlite_url(tmp / "rm.db"),
        keys_dir=str(tmp / "keys"),
        datasets=str(tmp / "datasets"),
        scratch_dir=str(tmp / "scratch"),
        orchestrator="off",
    )
    platform = bootstrap(settings)
    tenant = str(platform.tenants.onboard_tenant(context("admin", "t"), "retail", "Retail", "standard").aggregate_id)
    people = {}
    for role in ("data-engineer", "data-steward"):
        platform.access.register_principal(context("admin", f"r-{role}"), "person", "test", role, role, tenant)
        people[role] = str(principal_id_for("test", role, tenant))
        platform.access.grant_role(context("admin", f"g-{role}"), principal_id_for("test", role, tenant), role)
    engineer, steward = people["data-engineer"], people["data-steward"]
    platform.contracts.register_contract(context(engineer, "c"), tenant, yaml.safe_load(CONTRACT.read_text()))
    platform.contracts.propose_version(context(engineer, "p"), tenant, "retail-sales", "1.0.0")
    platform.contracts.approve_version(context(steward, "a"), tenant, "retail-sales", "1.0.0")
    clean = land(platform, tenant, engineer, write_csv(tmp / "clean.csv", 200, seed=3).read_bytes(), "clean")
    unreadable = "O-1,1,2026-01-01T10:00:00Z,berlin-mitte,DE,SKU-1,x,1.0,,0,paid,"  # no amount: the contract refuses
    rejected = land(platform, tenant, engineer, f"{','.join(COLUMNS)}\n{unreadable}\n".encode(), "bad")
    platform.orchestrator.catch_up()
    export = platform.pipeline.request_export(context(engineer, "e"), tenant, "retail-sales", 1, "kpis", "csv", [])
    platform.orchestrator.catch_up()
    lineage = ReadModelStore(sqlite_url(tmp / "lineage.db"), [projection])
    ProjectionWorker(platform.store, lineage).catch_up()
    with lineage.engine.connect() as connection:
        yield {
            "clean": run_events(connection, tenant, clean),
            "rejected": run_events(connection, tenant, rejected),
            "export": run_events(connection, tenant, str(export.aggregate_id)),
        }
    lineage.close()
    platform.close()


@pytest.mark.parametrize("run", ["clean", "rejected", "export"])
def test_every_run_event_and_every_facet_validates(world: dict[str, Any], run: str) -> None:
    events = world[run]
    assert events
    for event in events:
        assert problems_of(event) == [], json.dumps(event, indent=1)[:4000]


def test_the_events_are_those_of_the_runs(world: dict[str, Any]) -> None:
    assert [e["eventType"] for e in world["clean"]] == ["COMPLETE"] * 5
    assert [e["eventType"] for e in world["rejected"]] == ["COMPLETE", "FAIL", "FAIL"]
    [export] = world["export"]
    assert (export["eventType"], export["job"]["name"]) == ("COMPLETE", "retail-sales/export")
    facets = {name for e in world["clean"] for d in e["outputs"] for name in d["facets"]}
    assert facets == {"version", "platform_dataHash", "schema", "columnLineage"}


# --- the validator refuses what the spec refuses (else the tests above prove nothing)


def broken(world: dict[str, Any], change: Any) -> list[str]:
    event = copy.deepcopy(world["clean"][2])  # build_kpis: inputs, outputs, column lineage
    change(event)
    return problems_of(event)


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.pop("producer"),
        lambda e: e.update(eventType="DONE"),
        lambda e: e["run"].update(runId="not-a-uuid"),
        lambda e: e.update(eventTime="yesterday"),
        lambda e: e["job"].pop("namespace"),
        lambda e: e["outputs"][0]["facets"]["columnLineage"]["fields"]["value"].pop("inputFields"),
        lambda e: e["outputs"][0]["facets"]["schema"]["fields"][0].pop("name"),
        lambda e: e["outputs"][0]["facets"]["platform_dataHash"].update(sha256="abc"),
        lambda e: e["outputs"][0]["facets"]["version"].pop("_producer"),
        lambda e: e["outputs"][0]["facets"]["version"].update(_schemaURL="https://example.invalid/Nothing.json"),
        lambda e: e["outputs"][0]["facets"].update(renamed=e["outputs"][0]["facets"].pop("schema")),
    ],
    ids=[
        "no-producer",
        "unknown-event-type",
        "run-id-not-uuid",
        "event-time-not-rfc3339",
        "job-without-namespace",
        "column-lineage-without-input-fields",
        "schema-field-without-name",
        "data-hash-not-sha256",
        "facet-without-producer",
        "facet-of-unknown-schema",
        "facet-under-another-name",
    ],
)
def test_a_broken_event_is_refused(world: dict[str, Any], change: Any) -> None:
    assert broken(world, change) != []
