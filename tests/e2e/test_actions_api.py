"""Actions over HTTP: a KPI build fires playbooks that deliver a real HTTP request and a real email, exactly once.

The action context is wired here as the composition root will wire it (``wire_actions``; the read model added to
the projections, the controllers registered, the Cedar lines added to a copy of the platform policies), so the
suite runs before the shared files know about actions. Receivers are a local http.server and a local aiosmtpd.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from aiosmtpd.controller import Controller as SmtpController
from litestar.testing import TestClient

from adapters.auth.tokens import LOCAL_ISSUER
from application.commands import CommandContext
from domain.actions.runs import ActionRun
from domain.pipeline import PipelineRun
from interfaces.bootstrap import Platform, bootstrap
from interfaces.settings import Settings
from interfaces.settings.values import networks
from tests.e2e.conftest import new_slug
from tests.e2e.test_pipeline_api import approve_contract, assert_problem, sample_csv, settle, upload
from tests.e2e.test_webhooks_api import Receiver

pytestmark = pytest.mark.shared_platform


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    return dataclasses.replace(module_settings, webhook_allowed_networks=networks("127.0.0.0/8"))


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


class Mailbox:
    """A local SMTP server (aiosmtpd) keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.port = free_port()
        self.controller = SmtpController(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def engine_pass(platform: Platform) -> None:
    """Drives the pipeline, then the action engine, to rest, and brings the read models up to date."""
    settle(platform)
    platform.action_engine.catch_up()
    platform.worker.catch_up()


def put_secret(platform: Platform, tenant: str, name: str, value: str) -> None:
    platform.secrets.put_secret(CommandContext("test", f"secret-{name}", "test"), UUID(tenant), name, value)


def define_template(api: TestClient, tenant: str, people: dict[str, dict[str, str]], body: dict[str, Any]) -> Any:
    return api.post(f"/v1/tenants/{tenant}/action-templates", json=body, headers=people["data-engineer"])


def http_template(name: str, url: str, auth_secret: str = "crm-token") -> dict[str, Any]:
    return {
        "name": name,
        "kind": "http",
        "parameters": [{"name": "channel", "type": "string", "required": True}],
        "body": '{"kpi": "{{ trigger.kpi }}", "value": {{ trigger.value }}, "channel": "{{ params.channel }}", '
        '"sha": "{{ trigger.kpi_sha256 }}"}',
        "connector": {"url": url, "method": "POST", "auth_secret": auth_secret, "timeout": 2},
    }


def email_template(port: int) -> dict[str, Any]:
    return {
        "name": "mail-ops",
        "kind": "email",
        "body": "Revenue in {{ trigger.dimensions.country }} is {{ trigger.value }}: {{ trigger.reason }}.",
        "connector": {
            "host": "127.0.0.1",
            "port": port,
            "sender": "platform@example.com",
            "to": ["ops@example.com"],
            "subject": "KPI {{ trigger.kpi }} fired",
        },
    }


def define_playbook(
    api: TestClient,
    tenant: str,
    people: dict[str, dict[str, str]],
    name: str,
    steps: list[dict[str, Any]],
    **extra: Any,
) -> Any:
    body = {
        "name": name,
        "contract": "retail-sales",
        "kpi": "daily_revenue",
        "condition": {"operator": "above", "threshold": 0},
        "dimensions": {"country": "FR"},
        "steps": steps,
    } | extra
    return api.post(f"/v1/tenants/{tenant}/playbooks", json=body, headers=people["data-engineer"])


def activated(api: TestClient, tenant: str, people: dict[str, dict[str, str]], response: Any) -> str:
    assert response.status_code == 201, response.text
    playbook = str(response.json()["id"])
    done = api.post(f"/v1/tenants/{tenant}/playbooks/{playbook}/activate", headers=people["tenant-admin"])
    assert done.status_code == 202, done.text
    return playbook


def runs_of(api: TestClient, tenant: str, people: dict[str, dict[str, str]], playbook: str) -> list[dict[str, Any]]:
    found = api.get(f"/v1/tenants/{tenant}/action-runs", params={"playbook": playbook}, headers=people["analyst"])
    assert found.status_code == 200, found.text
    return list(found.json())


@pytest.fixture
def contract(api: TestClient, tenant: str, people: dict[str, dict[str, str]]) -> None:
    approve_contract(api, tenant, people)


def test_a_kpi_build_delivers_an_http_request_and_an_email_exactly_once(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict[str, dict[str, str]],
    contract: None,
    receiver: Receiver,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    put_secret(platform, tenant, "crm-token", "s3cr3t-token")
    assert define_template(api, tenant, people, http_template("notify-crm", receiver.url)).status_code == 201
    assert define_template(api, tenant, people, email_template(mailbox.port)).status_code == 201
    steps = [{"template": "notify-crm", "params": {"channel": "sales"}}, {"template": "mail-ops"}]
    playbook = activated(api, tenant, people, define_playbook(api, tenant, people, "revenue-alert", steps))

    assert upload(api, tenant, sample_csv(tmp_path), people["data-engineer"]).status_code == 202
    engine_pass(platform)
    for _ in range(2):  # replays and repeated passes deliver nothing twice
        platform.orchestrator.catch_up()
        platform.action_engine.catch_up()
    restarted = bootstrap(platform.settings)  # a fresh engine (a restart) reads the whole log again
    try:
        restarted.action_engine.catch_up()
    finally:
        restarted.close()

    assert len(receiver.requests) == 1
    assert len(mailbox.messages) == 1
    headers, body = receiver.requests[0]
    sent = json.loads(body)
    [run] = runs_of(api, tenant, people, playbook)
    assert headers["idempotency-key"] == f"{run['run_id']}:1"
    assert headers["authorization"] == "Bearer s3cr3t-token"
    assert sent["kpi"] == "daily_revenue"
    assert sent["channel"] == "sales"
    assert sent["value"] == run["value"]
    mail = mailbox.messages[0]
    assert mail.rcpt_tos == ["ops@example.com"]
    text = mail.content.decode()
    assert "Subject: KPI daily_revenue fired" in text
    assert "Revenue in FR is" in text
    assert f"X-Idempotency-Key: {run['run_id']}:2" in text

    assert run["status"] == "delivered"
    assert run["dimensions"] == {"country": "FR"}
    detail = api.get(f"/v1/tenants/{tenant}/action-runs/{run['run_id']}", headers=people["analyst"]).json()
    kinds = [entry["kind"] for entry in detail["timeline"]]
    assert kinds == ["triggered", "delivered", "delivered"]
    trigger = detail["timeline"][0]["detail"]["trigger"]
    assert trigger["reason"].startswith("value ")
    assert trigger["condition"]["operator"] == "above"
    built = [r.event for r in platform.store.read_all(0, 100_000) if isinstance(r.event, PipelineRun.KpisBuilt)]
    assert sent["sha"] == trigger["kpi_sha256"] == built[-1].kpis["sha256"]
    delivered = [
        r.event for r in platform.store.read_stream(UUID(run["run_id"])) if isinstance(r.event, ActionRun.Delivered)
    ]
    assert all(e.kpi_sha256 == built[-1].kpis["sha256"] for e in delivered)
    assert "s3cr3t-token" not in json.dumps(detail)  # the secret is read at delivery, never recorded


def test_steps_wait_for_approval_and_a_rejection_stops_the_run(
    api: TestClient,
    platform: Platform,
    tenant: str,
    people: dict[str, dict[str, str]],
    contract: None,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    put_secret(platform, tenant, "crm-token", "t")
    assert define_template(api, tenant, people, http_template("notify-crm", receiver.url)).status_code == 201
    gated = [{"template": "notify-crm", "params": {"channel": "ops"}, "requires_approval": True}]
    approved = activated(api, tenant, people, define_playbook(api, tenant, people, "gated", gated))
    refused = activated(api, tenant, people, define_playbook(api, tenant, people, "refused", gated))
    assert upload(api, tenant, sample_csv(tmp_path), people["data-engineer"]).status_code == 202
    engine_pass(platform)
    assert receiver.requests == []
    [waiting] = runs_of(api, tenant, people, approved)
    [other] = runs_of(api, tenant, people, refused)
    assert waiting["status"] == other["status"] == "awaiting_approval"

    base = f"/v1/tenants/{tenant}/action-runs"
    assert api.post(f"{base}/{waiting['run_id']}/steps/1/approve", headers=people["analyst"]).status_code == 403
    assert api.post(f"{base}/{waiting['run_id']}/steps/1/approve", headers=people["data-steward"]).status_code == 202
    reason = {"reason": "not during the sale"}
    assert (
        api.post(f"{base}/{other['run_id']}/steps/1/reject", json=reason, headers=people["data-steward"]).status_code
        == 202
    )
    again = api.post(f"{base}/{other['run_id']}/steps/1/approve", headers=people["data-steward"])
    assert_problem(again, 409, "conflict")
    engine_pass(platform)
    assert len(receiver.requests) == 1
    assert runs_of(api, tenant, people, approved)[0]["status"] == "delivered"
    assert runs_of(api, tenant, people, refused)[0]["status"] == "rejected"
    detail = api.get(f"{base}/{waiting['run_id']}", headers=people["analyst"]).json()
    kinds = [(e["kind"], e["by"]) for e in detail["timeline"]]
    assert kinds[:3] == [("triggered", None), ("awaiting_approval", None), ("approved", kinds[2][1])]
    assert kinds[2][1]
    # The step was authorized as the person who approved it (the guard, as them), and the approval names them.
    steward = platform.access.membership_id(LOCAL_ISSUER, f"dev-data-steward-{tenant}", tenant)
    assert kinds[2][1] == str(steward)
    assert kinds[3][0] == "delivered"


def test_backtest_lists_when_a_playbook_would_have_fired(
    api: TestClient, platform: Platform, tenant: str, people: dict[str, dict[str, str]], contract: None, tmp_path: Path
) -> None:
    assert upload(api, tenant, sample_csv(tmp_path), people["data-engineer"]).status_code == 202
    engine_pass(platform)
    template = {"name": "hook", "kind": "http", "body": "{}", "connector": {"url": "http://127.0.0.1:9/x"}}
    assert define_template(api, tenant, people, template).status_code == 201
    everywhere = define_playbook(api, tenant, people, "later", [{"template": "hook"}], dimensions={})
    playbook = everywhere.json()["id"]
    url = f"/v1/tenants/{tenant}/playbooks/{playbook}/backtest"
    fired = api.post(url, json={}, headers=people["analyst"])
    assert fired.status_code == 200, fired.text
    countries = sorted(f["dimensions"]["country"] for f in fired.json())
    built = [r.event for r in platform.store.read_all(0, 100_000) if isinstance(r.event, PipelineRun.KpisBuilt)]
    latest = sorted(e["dimensions"]["country"] for e in built[-1].summary if e["kpi"] == "daily_revenue")
    assert countries == latest
    assert "FR" in countries
    assert all(f["kpi"] == "daily_revenue" and f["value"] > 0 for f in fired.json())
    assert api.post(url, json={"from": "2030-01-01T00:00:00Z"}, headers=people["analyst"]).json() == []
    engine_pass(platform)  # a backtest records nothing and a paused playbook fires nothing
    assert runs_of(api, tenant, people, playbook) == []


def test_bad_definitions_are_refused(
    api: TestClient, platform: Platform, tenant: str, people: dict[str, dict[str, str]], contract: None
) -> None:
    escape = http_template("escape", "http://127.0.0.1:9/x") | {"body": "{{ ''.__class__.__mro__ }}"}
    assert_problem(define_template(api, tenant, people, escape), 422, "invalid-value")
    unknown = http_template("unknown", "http://127.0.0.1:9/x") | {"body": "{{ trigger.value }} {{ secret }}"}
    assert "secret" in assert_problem(define_template(api, tenant, people, unknown), 422, "invalid-value")["detail"]
    clear = http_template("clear", "http://127.0.0.1:9/x")
    clear["connector"] = clear["connector"] | {"password": "hunter2"}
    assert_problem(define_template(api, tenant, people, clear), 422, "invalid-value")
    private = http_template("private", "http://10.1.2.3/x")
    assert_problem(define_template(api, tenant, people, private), 422, "invalid-value")
    assert define_template(api, tenant, people, http_template("fine", "http://127.0.0.1:9/x")).status_code == 201
    steps = [{"template": "fine", "params": {"channel": "c"}}]
    no_kpi = define_playbook(api, tenant, people, "no-kpi", steps, kpi="no_such_kpi")
    assert "no_such_kpi" in assert_problem(no_kpi, 422, "invalid-value")["detail"]
    missing_param = define_playbook(api, tenant, people, "missing", [{"template": "fine"}])
    assert_problem(missing_param, 422, "invalid-value")
    no_template = define_playbook(api, tenant, people, "none", [{"template": "nope"}])
    assert_problem(no_template, 422, "invalid-value")


@pytest.mark.parametrize("subject", ["alerts.>", "alerts.*.eu", "alerts eu", "alerts..eu", ".alerts", "a" * 201])
def test_a_nats_subject_with_wildcards_blanks_or_empty_tokens_is_a_422_naming_it(
    api: TestClient, platform: Platform, tenant: str, people: dict[str, dict[str, str]], subject: str
) -> None:
    template = {"name": "notify", "kind": "nats", "body": "{}", "connector": {"subject": subject}}
    before = platform.store.last_position()
    refused = assert_problem(define_template(api, tenant, people, template), 422, "invalid-value")
    assert "nats subject" in refused["detail"]
    assert [error["pointer"] for error in refused["errors"]] == ["#/connector/subject"]
    assert platform.store.last_position() == before
    template["connector"] = {"subject": "alerts.eu-west"}
    assert define_template(api, tenant, people, template).status_code == 201


def test_a_missing_secret_and_an_unreachable_target_fail_the_run_with_a_dead_letter(
    api: TestClient, platform: Platform, tenant: str, people: dict[str, dict[str, str]], contract: None, tmp_path: Path
) -> None:
    receiver_less = f"http://127.0.0.1:{free_port()}/hook"
    assert define_template(api, tenant, people, http_template("no-secret", receiver_less, "absent")).status_code == 201
    put_secret(platform, tenant, "crm-token", "t")
    assert define_template(api, tenant, people, http_template("down", receiver_less)).status_code == 201
    secretless = activated(
        api,
        tenant,
        people,
        define_playbook(api, tenant, people, "p1", [{"template": "no-secret", "params": {"channel": "c"}}]),
    )
    unreachable = activated(
        api,
        tenant,
        people,
        define_playbook(api, tenant, people, "p2", [{"template": "down", "params": {"channel": "c"}}]),
    )
    assert upload(api, tenant, sample_csv(tmp_path), people["data-engineer"]).status_code == 202
    engine_pass(platform)

    [failed] = runs_of(api, tenant, people, secretless)
    assert failed["status"] == "failed"
    assert "no such secret: absent" in failed["last_error"]
    [down] = runs_of(api, tenant, people, unreachable)
    assert down["status"] == "failed"
    assert "refused" in down["last_error"].lower()
    attempts = list(api.get(f"/v1/tenants/{tenant}/action-runs/{down['run_id']}").json()["timeline"])
    assert [e["kind"] for e in attempts] == ["triggered", "attempted", "attempted", "attempted", "failed"]
    letters = api.get("/v1/dead-letters", params={"source": "action", "tenant": tenant})
    assert letters.status_code == 200, letters.text
    by_subject = {item["subject"]: item for item in letters.json()["dead_letters"]}
    assert set(by_subject) == {failed["run_id"], down["run_id"]}
    assert by_subject[down["run_id"]]["step"] == "step-1"

    retried = api.post(f"/v1/dead-letters/{by_subject[down['run_id']]['dead_letter_id']}/retry")
    assert retried.status_code == 202, retried.text
    engine_pass(platform)  # still unreachable: three more attempts, failed again
    timeline = api.get(f"/v1/tenants/{tenant}/action-runs/{down['run_id']}").json()["timeline"]
    assert [e["kind"] for e in timeline][4:] == ["failed", "revived", "attempted", "attempted", "attempted", "failed"]
