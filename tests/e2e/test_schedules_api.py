"""Schedules over HTTP, on the embedded default and on PostgreSQL: a scheduled export of a published product
produces an export when the scheduler ticks (its clock moved by the test), once per slot; one-off jobs, pausing,
deleting, bad schedules and who may schedule what.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import TestClient

from application.cron import next_after
from application.jobs import JobCall, PlatformJobs
from application.scheduler import Scheduler
from interfaces.bootstrap import Platform, utc_now
from sample.retail import CONTRACT, write_csv
from tests.e2e.conftest import new_slug


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


pytestmark = pytest.mark.shared_platform


@pytest.fixture
def api(client: TestClient) -> TestClient:
    return client


@pytest.fixture
def tenant(api: TestClient) -> str:
    created = api.post("/v1/tenants", json={"slug": new_slug("retail"), "display_name": "Retail Co"})
    assert created.status_code == 201, created.text
    tenant = str(created.json()["tenant_id"])
    entitled = api.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
    assert entitled.status_code == 202, entitled.text
    return tenant


@pytest.fixture
def people(token_for: Any, tenant: str) -> dict[str, dict[str, str]]:
    return {role: token_for(role, tenant) for role in ("data-engineer", "data-steward", "analyst", "tenant-admin")}


class Recorded:
    """The KPI-rebuild and ledger-checkpoint ports, recording their calls (the real ones are wired elsewhere)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, JobCall]] = []

    def rebuild_kpis(self, call: JobCall, contract: str) -> dict[str, Any]:
        self.calls.append((f"kpi_rebuild:{contract}", call))
        return {"contract": contract}

    def checkpoint_ledger(self, call: JobCall) -> dict[str, Any]:
        self.calls.append(("ledger_checkpoint", call))
        return {"checkpoint": "size 0"}


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def clock() -> Clock:
    return Clock(utc_now())


@pytest.fixture
def scheduler(platform: Platform, recorded: Recorded, clock: Clock) -> Scheduler:
    jobs = PlatformJobs(platform.pipeline, platform.tenants, recorded.rebuild_kpis, recorded.checkpoint_ledger)
    return Scheduler(platform.store, platform.schedules, jobs, clock)


def settle(platform: Platform) -> None:
    platform.orchestrator.catch_up()
    platform.worker.catch_up()


@pytest.fixture
def published(api: TestClient, platform: Platform, tenant: str, people: dict[str, Any], tmp_path: Path) -> None:
    engineer, steward = people["data-engineer"], people["data-steward"]
    path = f"/v1/tenants/{tenant}/contracts"
    created = api.post(path, content=CONTRACT.read_bytes(), headers=engineer | {"content-type": "application/yaml"})
    assert created.status_code == 201, created.text
    version = {"version": created.json()["version"]}
    assert api.post(f"{path}/retail-sales/propose", json=version, headers=engineer).status_code == 202
    assert api.post(f"{path}/retail-sales/approve", json=version, headers=steward).status_code == 202
    data = write_csv(tmp_path / "sales.csv", 300, seed=7).read_bytes()
    uploaded = api.post(f"{path}/retail-sales/batches", content=data, headers=engineer | {"content-type": "text/csv"})
    assert uploaded.status_code == 202, uploaded.text
    settle(platform)


def schedule(api: TestClient, tenant: str, headers: dict[str, str], **body: Any) -> Any:
    return api.post(f"/v1/tenants/{tenant}/schedules", json=body, headers=headers)


@pytest.mark.fresh_platform  # its scheduler ticks every tenant's schedules
def test_a_scheduled_export_of_a_published_product_produces_an_export_once_per_slot(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict[str, Any],
    published: None,
    scheduler: Scheduler,
    clock: Clock,
) -> None:
    engineer, analyst = people["data-engineer"], people["analyst"]
    job = {"kind": "export", "product": "retail-sales", "format": "csv", "filters": {"kpi": "daily_revenue"}}
    created = schedule(api, tenant, engineer, name="nightly revenue", job=job, cron="0 2 * * *")
    assert created.status_code == 201, created.text
    location = created.json()["location"]
    assert created.headers["location"] == location
    first_slot = next_after("0 2 * * *", utc_now())

    clock.now = first_slot + timedelta(minutes=1)
    [run_id] = scheduler.tick()
    assert scheduler.tick() == []  # the same slot again: nothing
    settle(platform)

    found = api.get(location, headers=analyst).json()
    assert found["status"] == "active"
    assert found["job"]["product"] == "retail-sales"
    [run] = found["runs"]
    assert (run["run_id"], run["status"], run["slot"]) == (str(run_id), "succeeded", first_slot.isoformat())
    assert run["outcome"]["version"] == 1  # no version named: the latest served one
    export = api.get(f"/v1/tenants/{tenant}/exports/{run['outcome']['export_id']}", headers=analyst).json()
    assert export["status"] == "completed", export
    assert export["rows"] > 0
    download = api.get(export["download_url"], headers=analyst)
    assert download.status_code == 200, download.text
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == export["rows"]
    assert {r["kpi"] for r in rows} == {"daily_revenue"}

    # Down for three days: the missed slots are run once, as the latest of them, as a new export.
    clock.now = first_slot + timedelta(days=3, minutes=5)
    [late] = scheduler.tick()
    settle(platform)
    runs = api.get(location, headers=analyst).json()["runs"]
    assert [r["run_id"] for r in runs] == [str(late), str(run_id)]
    assert (runs[0]["slot"], runs[0]["missed"]) == ((first_slot + timedelta(days=3)).isoformat(), 2)
    exports = api.get(f"/v1/tenants/{tenant}/exports", headers=analyst).json()["exports"]
    assert [e["status"] for e in exports] == ["completed", "completed"]


@pytest.mark.fresh_platform  # its scheduler ticks every tenant's schedules
def test_a_one_off_job_runs_once_and_its_schedule_shows_no_next_slot(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict[str, Any],
    scheduler: Scheduler,
    clock: Clock,
    recorded: Recorded,
) -> None:
    when = (utc_now() + timedelta(hours=2)).replace(microsecond=0)
    job = {"kind": "kpi_rebuild", "contract": "retail-sales"}
    created = schedule(api, tenant, people["tenant-admin"], name="rebuild", job=job, at=when.isoformat())
    assert created.status_code == 201, created.text
    platform.worker.catch_up()
    before = api.get(created.json()["location"]).json()
    assert (before["at"], before["next_due"], before["cron"]) == (when.isoformat(), when.isoformat(), None)
    clock.now = when + timedelta(days=1)
    assert len(scheduler.tick()) == 1
    clock.now = when + timedelta(days=2)
    assert scheduler.tick() == []
    assert [(kind, call.slot) for kind, call in recorded.calls] == [("kpi_rebuild:retail-sales", when)]
    platform.worker.catch_up()
    after = api.get(created.json()["location"]).json()
    assert after["next_due"] is None
    assert [r["status"] for r in after["runs"]] == ["succeeded"]


@pytest.mark.fresh_platform  # its scheduler ticks every tenant's schedules
def test_pausing_resuming_and_deleting_a_schedule(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict[str, Any],
    scheduler: Scheduler,
    clock: Clock,
    recorded: Recorded,
) -> None:
    engineer = people["data-engineer"]
    job = {"kind": "kpi_rebuild", "contract": "retail-sales"}
    created = schedule(api, tenant, engineer, name="hourly", job=job, cron="@hourly").json()
    path = created["location"]
    paused = api.post(f"{path}/pause", headers=engineer)
    assert paused.status_code == 202, paused.text
    assert paused.json()["status"] == "paused"
    assert api.post(f"{path}/pause", headers=engineer).status_code == 409
    clock.now = utc_now() + timedelta(hours=3)
    assert scheduler.tick() == []
    platform.worker.catch_up()
    shown = api.get(path).json()
    assert (shown["status"], shown["next_due"]) == ("paused", None)
    assert api.post(f"{path}/resume", headers=engineer).status_code == 202
    platform.worker.catch_up()
    assert api.get(path).json()["next_due"] is not None
    deleted = api.delete(path, headers=engineer)
    assert deleted.status_code == 202, deleted.text
    platform.worker.catch_up()
    assert scheduler.tick() == []
    assert recorded.calls == []
    listed = api.get(f"/v1/tenants/{tenant}/schedules", headers=people["analyst"]).json()["schedules"]
    assert listed == []
    gone = api.get(f"/v1/tenants/{tenant}/schedules", params={"status": "deleted"}).json()["schedules"]
    assert [s["schedule_id"] for s in gone] == [created["schedule_id"]]
    assert api.post(f"{path}/resume", headers=engineer).status_code == 409


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        ({"cron": "every night"}, "invalid-value"),
        ({"cron": "0 0 31 2 *"}, "invalid-value"),
        ({"at": "2020-01-01T00:00:00Z"}, "invalid-value"),
        ({"at": "2999-01-01T00:00:00"}, "invalid-request"),
        ({}, "invalid-value"),
        ({"cron": "@daily", "at": "2999-01-01T00:00:00Z"}, "invalid-value"),
        ({"cron": "@daily", "job": {"kind": "reindex"}}, "invalid-request"),
        ({"cron": "@daily", "job": {"kind": "export"}}, "invalid-request"),
        ({"cron": "@daily", "job": {"kind": "export", "product": "p", "format": "xlsx"}}, "invalid-value"),
        ({"cron": "@daily", "timezone": "Europe/Paris"}, "invalid-value"),
    ],
    ids=[
        "bad-cron",
        "feb-31",
        "past",
        "no-offset",
        "neither",
        "both",
        "unknown-kind",
        "missing-param",
        "bad-format",
        "timezone",
    ],
)
def test_bad_schedules_are_422s_and_record_nothing(
    api: TestClient, platform: Platform, tenant: str, people: dict[str, Any], body: dict[str, Any], slug: str
) -> None:
    before = platform.store.last_position()
    request = {"name": "bad", "job": {"kind": "kpi_rebuild", "contract": "c"}} | body
    refused = schedule(api, tenant, people["data-engineer"], **request)
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith(slug), refused.json()
    assert platform.store.last_position() == before


def test_who_may_schedule_what(api: TestClient, platform: Platform, tenant: str, people: dict[str, Any]) -> None:
    kpis = {"name": "n", "job": {"kind": "kpi_rebuild", "contract": "c"}, "cron": "@daily"}
    assert schedule(api, tenant, people["analyst"], **kpis).status_code == 403
    assert schedule(api, tenant, people["data-steward"], **kpis).status_code == 403
    ledger = {"name": "checkpoint", "job": {"kind": "ledger_checkpoint"}, "cron": "@hourly"}
    before = platform.store.last_position()
    denied = schedule(api, tenant, people["tenant-admin"], **ledger)
    assert denied.status_code == 403, denied.text
    assert platform.store.last_position() == before + 1  # the denial, and nothing else
    assert schedule(api, tenant, {}, **ledger).status_code == 201  # the client's own: a platform admin
    created = schedule(api, tenant, people["data-engineer"], **kpis)
    assert created.status_code == 201
    platform.worker.catch_up()
    listed = api.get(f"/v1/tenants/{tenant}/schedules", headers=people["analyst"])
    assert len(listed.json()["schedules"]) == 2
    assert api.post(f"{created.json()['location']}/pause", headers=people["analyst"]).status_code == 403
    other = api.post("/v1/tenants", json={"slug": new_slug("other"), "display_name": "Other"}).json()["tenant_id"]
    assert api.get(f"/v1/tenants/{other}/schedules/{created.json()['schedule_id']}").status_code == 404
    assert api.post(f"/v1/tenants/{other}/schedules/{created.json()['schedule_id']}/pause").status_code == 404


@pytest.mark.fresh_platform  # its scheduler ticks every tenant's schedules
def test_a_suspended_tenants_scheduled_job_fails_with_why(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict[str, Any],
    scheduler: Scheduler,
    clock: Clock,
    recorded: Recorded,
) -> None:
    job = {"kind": "kpi_rebuild", "contract": "retail-sales"}
    created = schedule(api, tenant, people["data-engineer"], name="n", job=job, cron="*/5 * * * *").json()
    suspended = api.post(f"/v1/tenants/{tenant}/suspend", json={"reason": "unpaid"})
    assert suspended.status_code == 202, suspended.text
    clock.now = utc_now() + timedelta(minutes=10)
    assert len(scheduler.tick()) == 1
    platform.worker.catch_up()
    [run] = api.get(created["location"]).json()["runs"]
    assert run["status"] == "failed"
    assert "suspended" in run["error"]
    assert recorded.calls == []


def test_times_are_shown_in_utc(api: TestClient, tenant: str, people: dict[str, Any], platform: Platform) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    offset = when.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()
    job = {"kind": "kpi_rebuild", "contract": "c"}
    created = schedule(api, tenant, people["data-engineer"], name="tokyo", job=job, at=offset)
    assert created.status_code == 201, created.text
    platform.worker.catch_up()
    assert api.get(created.json()["location"]).json()["at"] == when.isoformat()
