"""Webhooks over HTTP, on the embedded default and on PostgreSQL: subscribe (the secret shown once), deliveries to a
local endpoint verified with the ``standardwebhooks`` package, the deliveries list, disable, enable, recover, the
422s of the subscription checks (SSRF guard included), and who may do what."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from litestar.testing import TestClient
from standardwebhooks import Webhook

from domain.webhooks import DEFAULT_SCHEDULE
from interfaces.bootstrap import Platform
from interfaces.settings import Settings
from interfaces.settings.values import networks
from tests.e2e.conftest import new_slug

pytestmark = pytest.mark.skipif(
    "webhooks" not in Platform.__dataclass_fields__,
    reason="interfaces/bootstrap.py does not wire the webhooks yet (see the webhooks wiring note)",
)
ENTITLED = "platform.tenants.TenantEntitlementsChanged"
PROBLEM = "application/problem+json"


class Receiver:
    """A local endpoint: answers with the statuses queued in ``answers`` (then 200), keeps what it was sent."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


pytestmark = pytest.mark.shared_platform


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    # The tests drive the dispatcher (Platform.webhook_dispatcher.deliver_due); one attempt, then a dead letter.
    return dataclasses.replace(
        module_settings,
        webhook_dispatcher="off",
        webhook_allowed_networks=networks("127.0.0.0/8"),
        webhook_retry_schedule=(0.0,),
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture
def tenant(client: TestClient) -> str:
    created = client.post("/v1/tenants", json={"slug": new_slug("retail"), "display_name": "Retail Co"})
    assert created.status_code == 201, created.text
    return str(created.json()["tenant_id"])


@pytest.fixture
def engineer(token_for: Any, tenant: str) -> dict[str, str]:
    return dict(token_for("data-engineer", tenant))


def hooks(tenant: str, tail: str = "") -> str:
    return f"/v1/tenants/{tenant}/webhooks{tail}"


def entitle(client: TestClient, tenant: str, *features: str) -> None:
    changed = client.post(f"/v1/tenants/{tenant}/entitlements", json={"features": list(features), "quotas": {}})
    assert changed.status_code == 202, changed.text


def settle(platform: Platform) -> None:
    platform.webhook_dispatcher.deliver_due()
    platform.worker.catch_up()


def assert_problem(response: Any, status: int, detail: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert detail in response.json()["detail"]


@pytest.mark.fresh_platform  # it replaces the platform's resolver
def test_a_refusal_says_the_target_is_not_allowed_and_never_what_its_host_resolves_to(
    client: TestClient, platform: Platform, tenant: str, engineer: dict[str, str]
) -> None:
    # The resolver seam answers as an internal DNS would: a name on an internal and a loopback address.
    def internal_dns(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("10.20.30.40", "127.0.0.9")]

    platform.webhooks.guard.resolve = internal_dns  # type: ignore[attr-defined]
    before = platform.store.last_position()
    refused = client.post(
        hooks(tenant), json={"url": "http://billing.corp.internal/hook", "event_types": [ENTITLED]}, headers=engineer
    )
    assert_problem(refused, 422, "deliveries may not go to billing.corp.internal")
    assert "not in the allowed networks" in refused.json()["detail"]
    assert "10.20.30.40" not in refused.text
    assert "127.0.0.9" not in refused.text
    assert platform.store.last_position() == before


def test_a_subscribed_endpoint_gets_signed_cloudevents_and_its_deliveries_are_listed(
    client: TestClient, platform: Platform, tenant: str, engineer: dict[str, str], receiver: Receiver
) -> None:
    subscribed = client.post(hooks(tenant), json={"url": receiver.url, "event_types": [ENTITLED]}, headers=engineer)
    assert subscribed.status_code == 201, subscribed.text
    body = subscribed.json()
    endpoint, secret = body["endpoint_id"], body["secret"]
    assert secret.startswith("whsec_")
    assert subscribed.headers["location"] == hooks(tenant, f"/{endpoint}")
    assert (body["url"], body["event_types"], body["status"]) == (receiver.url, [ENTITLED], "active")

    entitle(client, tenant, "exports")
    settle(platform)
    [(sent, payload)] = receiver.requests
    event = Webhook(secret).verify(payload, sent)
    assert (event["type"], event["data"]["features"], event["tenantid"]) == (ENTITLED, ["exports"], tenant)
    assert sent["webhook-id"] == event["id"]

    listed = client.get(hooks(tenant, f"/{endpoint}/deliveries"), headers=engineer)
    assert listed.status_code == 200, listed.text
    [delivery] = listed.json()["items"]
    assert (delivery["status"], delivery["event_id"], delivery["event_type"]) == ("delivered", event["id"], ENTITLED)
    [attempt] = delivery["history"]
    assert (attempt["attempt"], attempt["status"], attempt["delivered"]) == (1, 200, True)

    shown = client.get(hooks(tenant, f"/{endpoint}"), headers=engineer)
    assert shown.status_code == 200, shown.text
    assert shown.json()["secret_name"] == f"webhook.{endpoint}"
    everything = shown.text + client.get(hooks(tenant), headers=engineer).text + listed.text
    assert secret not in everything
    assert "whsec_" not in everything


def test_a_repeated_subscription_answers_as_the_first_with_the_same_secret(
    client: TestClient, tenant: str, engineer: dict[str, str], receiver: Receiver
) -> None:
    request = {"url": receiver.url, "event_types": [ENTITLED]}
    first = client.post(hooks(tenant), json=request, headers=engineer | {"Idempotency-Key": "hook-1"})
    again = client.post(hooks(tenant), json=request, headers=engineer | {"Idempotency-Key": "hook-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = client.post(hooks(tenant), json=request, headers=engineer | {"Idempotency-Key": "hook-2"})
    assert other.json()["endpoint_id"] != first.json()["endpoint_id"]
    assert other.json()["secret"] != first.json()["secret"]


@pytest.mark.parametrize(
    ("request_body", "detail"),
    [
        ({"url": "RECEIVER", "event_types": ["platform.nope.Nothing"]}, "unknown event types"),
        ({"url": "RECEIVER", "event_types": ["platform.webhooks.DeliveryDelivered"]}, "unknown event types"),
        ({"url": "ftp://127.0.0.1/hook", "event_types": [ENTITLED]}, "http or https"),
        ({"url": "http://10.0.0.1/hook", "event_types": [ENTITLED]}, "not a public address"),
        ({"url": "http://169.254.169.254/latest/meta-data", "event_types": [ENTITLED]}, "not a public address"),
        ({"url": "http://[::1]:8080/hook", "event_types": [ENTITLED]}, "not a public address"),
        ({"url": "http://user:pw@127.0.0.1/hook", "event_types": [ENTITLED]}, "no credentials"),
        ({"url": "RECEIVER", "event_types": []}, ""),
    ],
)
def test_a_subscription_the_checks_refuse_is_a_422_and_records_nothing(
    client: TestClient,
    platform: Platform,
    tenant: str,
    engineer: dict[str, str],
    receiver: Receiver,
    request_body: dict[str, Any],
    detail: str,
) -> None:
    before = platform.store.last_position()
    body = request_body | {"url": request_body["url"].replace("RECEIVER", receiver.url)}
    assert_problem(client.post(hooks(tenant), json=body, headers=engineer), 422, detail)
    assert platform.store.last_position() == before


@pytest.mark.fresh_platform  # it lists every webhook dead letter
def test_disable_stops_deliveries_enable_resumes_them_and_recover_sends_what_failed_again(
    client: TestClient, platform: Platform, tenant: str, engineer: dict[str, str], receiver: Receiver
) -> None:
    endpoint = client.post(
        hooks(tenant), json={"url": receiver.url, "event_types": [ENTITLED]}, headers=engineer
    ).json()["endpoint_id"]
    receiver.answers = [500]
    entitle(client, tenant, "failed-once")
    settle(platform)
    failed = client.get(hooks(tenant, f"/{endpoint}/deliveries"), params={"status": "failed"}, headers=engineer)
    [dead] = failed.json()["items"]
    assert (dead["attempts"], dead["last_status"], dead["last_error"]) == (1, 500, "HTTP 500")

    disabled = client.post(hooks(tenant, f"/{endpoint}/disable"), json={"reason": "maintenance"}, headers=engineer)
    assert disabled.status_code == 202, disabled.text
    entitle(client, tenant, "while-disabled")
    settle(platform)
    assert len(receiver.requests) == 1
    shown = client.get(hooks(tenant, f"/{endpoint}"), headers=engineer).json()
    assert (shown["status"], shown["disabled_reason"]) == ("disabled", "maintenance")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    refused = client.post(hooks(tenant, f"/{endpoint}/recover"), json={"since": since}, headers=engineer)
    assert_problem(refused, 409, "enable it")

    assert client.post(hooks(tenant, f"/{endpoint}/enable"), headers=engineer).status_code == 202
    recovered = client.post(hooks(tenant, f"/{endpoint}/recover"), json={"since": since}, headers=engineer)
    assert recovered.status_code == 202, recovered.text
    settle(platform)
    settle(platform)
    features = [json.loads(body)["data"]["features"] for _, body in receiver.requests]
    assert features == [["failed-once"], ["failed-once"]]
    items = client.get(hooks(tenant, f"/{endpoint}/deliveries"), headers=engineer).json()["items"]
    assert [(d["status"], d["attempts"]) for d in items] == [("delivered", 2)]
    letters = client.get("/v1/dead-letters", params={"source": "webhook"})
    assert letters.status_code == 200, letters.text
    [letter] = letters.json()["dead_letters"]
    assert letter["subject"] == dead["delivery_id"]


def test_recover_needs_a_time_with_its_offset(client: TestClient, tenant: str, engineer: dict[str, str]) -> None:
    endpoint = client.post(
        hooks(tenant), json={"url": "http://127.0.0.1:9/hook", "event_types": [ENTITLED]}, headers=engineer
    ).json()["endpoint_id"]
    naive = client.post(hooks(tenant, f"/{endpoint}/recover"), json={"since": "2026-01-01T00:00:00"}, headers=engineer)
    assert_problem(naive, 422)


def test_who_may_do_what(client: TestClient, token_for: Any, tenant: str, engineer: dict[str, str]) -> None:
    created = client.post(hooks(tenant), json={"url": "http://127.0.0.1:9/hook", "event_types": [ENTITLED]})
    endpoint = created.json()["endpoint_id"]
    analyst, steward = token_for("analyst", tenant), token_for("data-steward", tenant)
    request = {"url": "http://127.0.0.1:9/x", "event_types": [ENTITLED]}
    assert client.post(hooks(tenant), json=request, headers=analyst).status_code == 403
    assert client.get(hooks(tenant), headers=analyst).status_code == 403
    assert client.get(hooks(tenant), headers=steward).status_code == 200
    assert client.post(hooks(tenant, f"/{endpoint}/disable"), headers=steward).status_code == 403
    other = client.post("/v1/tenants", json={"slug": new_slug("other"), "display_name": "Other"}).json()["tenant_id"]
    outsider = token_for("tenant-admin", other)
    assert_problem(client.get(hooks(tenant, f"/{endpoint}"), headers=outsider), 404)
    assert_problem(client.post(hooks(tenant, f"/{endpoint}/disable"), headers=outsider), 404)
    assert_problem(client.get(hooks(other, f"/{endpoint}"), headers=outsider), 404)  # not that tenant's endpoint
    assert_problem(client.post(hooks(other, f"/{endpoint}/disable"), headers=outsider), 404)
    assert_problem(client.get(hooks(tenant, "/not-an-id"), headers=engineer), 404)


def test_the_default_retry_schedule_is_the_documented_one() -> None:
    assert Settings().webhook_retry_schedule == DEFAULT_SCHEDULE
