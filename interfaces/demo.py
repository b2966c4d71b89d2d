"""`platform demo` and `platform ingest`: the whole flow against a running platform, through its HTTP API only.

The demo onboards a tenant entitled to ingest, registers two people (a data engineer who drafts the sample
contract and a data steward who approves it: four eyes), uploads the sample sales lines, waits for the run and
prints the published KPIs: the same steps the README walks through with curl.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from adapters.datasets.formats import MEDIA_TYPES, format_for_path
from domain.values import RunStatus
from interfaces.client import ApiError, Client
from sample.retail import CONTRACT, write_csv

Say = Callable[[str], None]
DONE = (RunStatus.SUCCEEDED, RunStatus.REJECTED, RunStatus.DEAD_LETTERED)
MEDIA_OF = {fmt: media for media, fmt in reversed(list(MEDIA_TYPES.items()))}


def wait_for_run(client: Client, location: str, timeout: float = 120.0) -> dict[str, Any]:
    """Polls a run until it ends (succeeded, rejected or dead-lettered); TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            run: dict[str, Any] = client.get(location)
        except ApiError as error:
            if error.status != 404:  # 404 until the read model has seen the run
                raise
        else:
            if run["status"] in DONE:
                return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"the run at {location} did not finish within {timeout:g} s")
        time.sleep(0.25)


def ingest_file(client: Client, tenant: str, contract: str, file: Path, obj: str | None = None) -> dict[str, Any]:
    """Uploads a file as a batch (its format from its name), streamed from disk."""
    media = MEDIA_OF[format_for_path(file)]
    query = urlencode({"source": f"cli:{file.name}"[:200], **({"object": obj} if obj else {})})
    path = f"/v1/tenants/{tenant}/contracts/{contract}/batches?{query}"
    accepted: dict[str, Any] = client.post_file(path, file, media)
    return accepted


def describe_run(run: dict[str, Any]) -> list[str]:
    lines = [f"run {run['run_id']}: {run['status']}"]
    for step in run.get("steps", []):
        counts = ", ".join(f"{k} {step[k]}" for k in ("rows_in", "rows_out", "rejected") if step.get(k) is not None)
        error = f" - {step['error']}" if step.get("error") else ""
        lines.append(f"  {step['step']:<10} {step['status']:<13} {step.get('duration_ms') or 0:>6} ms  {counts}{error}")
    return lines


def run_demo(admin: Client, workdir: Path, rows: int, say: Say) -> dict[str, Any]:
    """The flow end to end; returns the published product version as the API shows it."""
    slug = "demo-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    tenant = admin.post("/v1/tenants", {"slug": slug, "display_name": "Demo Retail"})["tenant_id"]
    admin.post(f"/v1/tenants/{tenant}/entitlements", {"features": ["ingestion"], "quotas": {}})
    say(f"tenant {slug} ({tenant}) onboarded, entitled to ingest")
    engineer = _person(admin, tenant, "data-engineer", "Dana Engineer")
    steward = _person(admin, tenant, "data-steward", "Sam Steward")
    say("data engineer and data steward registered, each with an API key")

    contracts = f"/v1/tenants/{tenant}/contracts"
    created = engineer.post_bytes(contracts, CONTRACT.read_bytes(), "application/yaml")
    version = created["version"]
    engineer.post(f"{contracts}/retail-sales/propose", {"version": version})
    steward.post(f"{contracts}/retail-sales/approve", {"version": version})
    say(f"contract retail-sales {version} drafted by the engineer, approved by the steward")

    data = write_csv(workdir / "retail-sales.csv", rows, defects=True)
    accepted = ingest_file(engineer, tenant, "retail-sales", data)
    say(f"batch of {rows} lines (+4 defective) uploaded: {accepted['bytes']} bytes, sha256 {accepted['sha256'][:16]}")
    run = wait_for_run(engineer, accepted["location"])
    for line in describe_run(run):
        say(line)
    if run["status"] != RunStatus.SUCCEEDED:
        raise RuntimeError(f"the run {run['status']}: {'; '.join(run.get('reasons') or [])}")
    product_version = run["product_version"]
    base = f"/v1/tenants/{tenant}/products/retail-sales/versions/{product_version}"
    published: dict[str, Any] = _read_at(engineer, base, run["position"])  # the run's workers may not feed products
    say(
        f"published retail-sales v{product_version}: "
        + ", ".join(
            f"{d['name']} {d['rows']} rows" + (f" (masked: {', '.join(d['masked'])})" if d["masked"] else "")
            for d in published["datasets"]
        )
    )
    say("latest KPI values:")
    for entry in published["summary"][:20]:
        dims = ", ".join(f"{k}={v}" for k, v in entry["dimensions"].items())
        target = "" if entry["target"] is None else f"  target {entry['target']} met: {entry['target_met']}"
        value = "-" if entry["value"] is None else f"{entry['value']:.4g}"
        say(f"  {entry['kpi']:<20} {entry['period_start'][:10]} {dims:<22} {value:>10}{target}")
    say(f"rows: GET {base}/rows?kpi=daily_revenue&country=DE   catalog: GET /v1/catalog?q=retail")
    return published


def _person(admin: Client, tenant: str, role: str, name: str) -> Client:
    subject = f"{role}-{int(time.time() * 1000)}"
    principal = admin.post(
        f"/v1/tenants/{tenant}/principals", {"kind": "person", "subject": subject, "display_name": name}
    )["principal_id"]
    admin.post(f"/v1/tenants/{tenant}/principals/{principal}/roles", {"role": role})
    issued = admin.post(f"/v1/tenants/{tenant}/principals/{principal}/api-keys")
    _read_at(admin, f"/v1/tenants/{tenant}", issued["position"])
    return admin.as_key(issued["api_key"])


def _read_at(client: Client, path: str, position: int, timeout: float = 30.0) -> Any:
    """Reads ``path`` once the read models have applied ``position`` (503 while they are behind). A new key works
    once they have its event, so it is never tried before it can work: trying it instead would count failed
    authentications, which the API limits per client address, across every API server when they share the limits.
    Read models may be fed by different workers, so a finished run does not mean its product is there yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.get(path, None, **{"X-Consistent-Position": str(position)})
        except ApiError as error:
            if error.status != 503 or time.monotonic() > deadline:
                raise
