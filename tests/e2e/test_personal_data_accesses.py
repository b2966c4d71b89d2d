# ruff: noqa: F811  (fixtures imported from another test module are redefined by the tests' parameters)
"""Reading personal data is evidence: every answer that serves personal-data fields unmasked is one event in the
tenant's log (recorded before the answer goes out), listed by "who saw my data" and by `platform audit accesses`,
and held by the evidence ledger. Masked answers, and unmasked ones without personal fields, record nothing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.csv as pacsv
import pytest
from litestar.testing import TestClient
from pyarrow import ipc
from sqlalchemy import insert, select

from adapters.auth.decision_log import decisions, stamp
from adapters.auth.tokens import LOCAL_ISSUER
from eventstore.port import EventStoreUnavailableError
from interfaces.bootstrap import Platform
from interfaces.cli import main
from interfaces.cli.serve import sweep_decisions
from tests.e2e.conftest import new_slug
from tests.e2e.test_pipeline_api import api, assert_problem, people, published, tenant  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.usefixtures("published"), pytest.mark.shared_platform]
ACCESS = "PersonalDataAccessRecorded"
GDP = {"dataset": "gdp", "fields": "order_id,line,customer_email", "limit": 50}


def rows_path(tenant: str) -> str:
    return f"/v1/tenants/{tenant}/products/retail-sales/versions/1/rows"


def accesses_since(platform: Platform, position: int) -> list[Any]:
    return [e for e in platform.store.read_all(position, 10_000) if e.type == ACCESS]


def principal_of(platform: Platform, role: str, tenant: str) -> str:
    return str(platform.access.membership_id(LOCAL_ISSUER, f"dev-{role}-{tenant}", tenant))


def test_an_unmasked_read_records_exactly_one_event_saying_who_what_how_many_and_why(
    api: TestClient, platform: Platform, tenant: str, people: dict
) -> None:
    before = platform.store.last_position()
    answer = api.get(rows_path(tenant), params=GDP, headers=people["data-steward"] | {"X-Request-Id": "req-42"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["masked"] == []
    [recorded] = accesses_since(platform, before)
    assert recorded.tenant_id == tenant
    assert recorded.metadata.actor == principal_of(platform, "data-steward", tenant)
    event = recorded.event
    assert event.principal_id == principal_of(platform, "data-steward", tenant)
    assert event.principal_kind == "person"
    assert (event.product, event.version, event.dataset) == ("retail-sales", 1, "gdp")
    assert event.fields == ["customer_email"]
    assert event.rows == int(answer.headers["X-Row-Count"]) == 50
    assert event.operation == "read_product_rows"
    assert event.route == "GET /v1/tenants/{tenant_id}/products/{product}/versions/{version}/rows"
    assert event.request_id == answer.headers["X-Request-Id"] == "req-42"


def test_a_masked_read_and_an_unmasked_one_without_personal_fields_record_nothing(
    api: TestClient, platform: Platform, tenant: str, people: dict
) -> None:
    before = platform.store.last_position()
    masked = api.get(rows_path(tenant), params=GDP, headers=people["analyst"])
    assert masked.status_code == 200
    assert masked.json()["masked"] == ["customer_email"]
    no_personal = api.get(rows_path(tenant), params=GDP | {"fields": "order_id,line"}, headers=people["data-steward"])
    assert no_personal.status_code == 200
    assert "customer_email" not in no_personal.json()["rows"][0]
    kpis = api.get(rows_path(tenant), params={"dataset": "kpis"}, headers=people["data-steward"])
    assert kpis.status_code == 200
    assert accesses_since(platform, before) == []


def test_csv_and_arrow_answers_are_recorded_through_the_same_place(
    api: TestClient, platform: Platform, tenant: str, people: dict
) -> None:
    before = platform.store.last_position()
    params = GDP | {"limit": 7}
    csv = api.get(rows_path(tenant), params=params | {"format": "csv"}, headers=people["tenant-admin"])
    assert csv.status_code == 200, csv.text
    assert pacsv.read_csv(io.BytesIO(csv.content)).num_rows == 7
    arrow = api.get(rows_path(tenant), params=params | {"format": "arrow"}, headers=people["tenant-admin"])
    assert arrow.status_code == 200, arrow.text
    assert ipc.open_stream(arrow.content).read_all().num_rows == 7
    recorded = accesses_since(platform, before)
    assert [(e.event.rows, e.event.fields) for e in recorded] == [(7, ["customer_email"]), (7, ["customer_email"])]


def test_when_the_access_cannot_be_recorded_the_data_is_not_served(
    api: TestClient, platform: Platform, tenant: str, people: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def store_down(*_: Any) -> list[int]:
        raise EventStoreUnavailableError("the event store is not reachable")

    monkeypatch.setattr(platform.store, "append", store_down)
    answer = api.get(rows_path(tenant), params=GDP, headers=people["data-steward"])
    assert_problem(answer, 503, "event-store-unavailable")
    assert "@example.com" not in answer.text
    monkeypatch.undo()
    masked = api.get(rows_path(tenant), params=GDP, headers=people["analyst"])
    assert masked.status_code == 200  # a masked answer needs no record: it is served while the store is down too


def test_who_saw_my_data_is_answered_filtered_and_paged_for_auditors_only(
    api: TestClient, platform: Platform, tenant: str, people: dict, token_for: Any
) -> None:
    steward = principal_of(platform, "data-steward", tenant)
    for reader in ("data-steward", "data-steward", "tenant-admin"):
        assert api.get(rows_path(tenant), params=GDP, headers=people[reader]).status_code == 200
    platform.worker.catch_up()
    path = f"/v1/tenants/{tenant}/personal-data-accesses"
    listed = api.get(path, headers=people["data-steward"])
    assert listed.status_code == 200, listed.text
    accesses = listed.json()["accesses"]
    assert len(accesses) == 3
    first = accesses[-1]
    assert first["principal_id"] == steward
    assert first["fields"] == ["customer_email"]
    assert first["rows"] == 50
    assert (first["product"], first["version"], first["dataset"]) == ("retail-sales", 1, "gdp")
    assert first["operation"] == "read_product_rows"
    assert first["request_id"]
    assert first["accessed_at"]

    def listing(**params: Any) -> list[dict[str, Any]]:
        answer = api.get(path, params=params, headers=people["tenant-admin"])
        assert answer.status_code == 200, answer.text
        return list(answer.json()["accesses"])

    assert len(listing(principal=steward)) == 2
    assert len(listing(field="customer_email", product="retail-sales")) == 3
    assert listing(field="order_id") == []
    assert listing(product="other") == []
    assert len(listing(since=first["accessed_at"])) == 3
    assert listing(until=first["accessed_at"]) == []
    assert listing(since="2999-01-01") == []
    page = api.get(path, params={"limit": 2}, headers=people["tenant-admin"]).json()
    rest = api.get(path, params={"limit": 2, "before": page["next_before"]}, headers=people["tenant-admin"]).json()
    assert [a["access_id"] for a in page["accesses"] + rest["accesses"]] == [a["access_id"] for a in accesses]
    assert rest["next_before"] is None
    assert_problem(api.get(path, params={"since": "yesterday"}, headers=people["tenant-admin"]), 400, "bad-request")
    assert api.get(path, headers=people["analyst"]).status_code == 403
    other = api.post("/v1/tenants", json={"slug": new_slug("globex"), "display_name": "Globex"}).json()["tenant_id"]
    outsider = token_for("tenant-admin", other)
    assert_problem(api.get(path, headers=outsider), 404, "not-found")
    assert api.get(f"/v1/tenants/{other}/personal-data-accesses", headers=outsider).json()["accesses"] == []


def test_the_ledger_holds_the_access_and_the_audit_cli_lists_it_from_the_log(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = platform.store.last_position()
    assert api.get(rows_path(tenant), params=GDP, headers=people["data-steward"]).status_code == 200
    [recorded] = accesses_since(platform, before)
    leaf = platform.ledger.find_leaf(position=recorded.position)
    entry = api.get(f"/v1/ledger/entries/{leaf.leaf_index}", headers=people["data-steward"])
    assert entry.status_code == 200, entry.text
    assert entry.headers["X-Ledger-Event-Id"] == recorded.event_id
    assert b"personal_data:PersonalDataAccess.Recorded" in entry.content
    assert b"customer_email" in entry.content

    for name, value in platform.settings.environment().items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["audit", "accesses", "--tenant", tenant, "--json", "--field", "customer_email"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    listed = json.loads(line)
    assert listed["access_id"] == str(recorded.stream_id)
    assert listed["rows"] == 50
    assert listed["principal_id"] == principal_of(platform, "data-steward", tenant)
    assert main(["audit", "accesses", "--tenant", tenant, "--principal", "nobody"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"0 personal-data accesses of tenant {tenant}"
    assert main(["audit", "accesses", "--tenant", "not-a-tenant"]) == 2
    assert "--tenant must be a tenant id" in capsys.readouterr().err


def test_the_decision_log_keeps_recent_decisions_and_loses_those_past_its_retention(
    api: TestClient, platform: Platform, tenant: str, people: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert api.get(rows_path(tenant), params=GDP, headers=people["data-steward"]).status_code == 200
    platform.decisions.flush()
    engine = platform.read_models.engine
    with engine.begin() as connection:
        latest = connection.execute(select(decisions).order_by(decisions.c.decision_id.desc())).mappings().first()
        assert latest is not None
        assert latest["action"] == "read_personal_data"  # the decision itself is still logged, as every other
        aged = {k: v for k, v in latest.items() if k != "decision_id"}
        aged["decided_at"] = stamp(datetime.now(UTC) - timedelta(days=400))
        connection.execute(insert(decisions), [aged])
    before = decided_at(engine)
    capsys.readouterr()
    sweep_decisions(platform)  # what `platform serve` does at start
    assert "removed 1 authorization decisions older than 365 days" in capsys.readouterr().err
    assert decided_at(engine) == [at for at in before if at != aged["decided_at"]]
    assert len(decided_at(engine)) == len(before) - 1 > 0


def decided_at(engine: Any) -> list[str]:
    with engine.connect() as connection:
        return [r[0] for r in connection.execute(select(decisions.c.decided_at).order_by(decisions.c.decision_id))]
