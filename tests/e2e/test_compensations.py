"""A compensation, end to end: a contract makes the webhook notification of each published version mandatory;
when that notification can never be delivered, the version is retracted by a compensating event."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from interfaces.bootstrap import Platform
from interfaces.http.app import create_app
from interfaces.settings import Settings
from interfaces.settings.values import networks
from sample.retail import CONTRACT
from tests.e2e.test_pipeline_api import sample_csv, settle, upload
from tests.e2e.test_webhooks_api import Receiver

MANDATORY = "customProperties:\n  - property: retractOnUndeliveredNotification\n    value: true\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, webhook_allowed_networks=networks("127.0.0.0/8"), webhook_retry_schedule=(0.0, 0.0)
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture
def api(platform: Platform, token_for: Any) -> Iterator[TestClient]:
    with TestClient(create_app(platform), raise_server_exceptions=False) as client:
        client.headers.update(token_for("platform-admin", None))
        yield client


def contract(mandatory: bool) -> bytes:
    text = CONTRACT.read_text()
    return text.replace("customProperties:\n", MANDATORY, 1).encode() if mandatory else text.encode()


def publish_with_a_failing_hook(
    api: TestClient, platform: Platform, token_for: Any, receiver: Receiver, tmp_path: Path, mandatory: bool
) -> tuple[str, dict[str, str]]:
    tenant = api.post("/v1/tenants", json={"slug": "retail", "display_name": "Retail"}).json()["tenant_id"]
    api.post(f"/v1/tenants/{tenant}/entitlements", json={"features": ["ingestion"], "quotas": {}})
    engineer, steward = token_for("data-engineer", tenant), token_for("data-steward", tenant)
    path = f"/v1/tenants/{tenant}/contracts"
    assert api.post(
        path, content=contract(mandatory), headers=engineer | {"content-type": "application/yaml"}
    ).is_success
    assert api.post(f"{path}/retail-sales/propose", json={"version": "1.0.0"}, headers=engineer).is_success
    assert api.post(f"{path}/retail-sales/approve", json={"version": "1.0.0"}, headers=steward).is_success
    hook = {"url": receiver.url, "event_types": ["platform.products.DataProductVersionPublished"]}
    assert api.post(f"/v1/tenants/{tenant}/webhooks", json=hook, headers=engineer).status_code == 201
    receiver.answers = [500, 500]  # both attempts of the schedule fail: the delivery fails for good
    assert upload(api, tenant, sample_csv(tmp_path, rows=30, defects=False), engineer).status_code == 202
    settle(platform)  # published
    platform.webhook_dispatcher.deliver_due()
    platform.webhook_dispatcher.deliver_due()
    settle(platform)  # the orchestrator sees the failed delivery
    return tenant, engineer


def test_an_undeliverable_mandatory_notification_retracts_the_version(
    api: TestClient, platform: Platform, token_for: Any, receiver: Receiver, tmp_path: Path
) -> None:
    tenant, engineer = publish_with_a_failing_hook(api, platform, token_for, receiver, tmp_path, mandatory=True)
    assert len(receiver.requests) == 2
    product = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=engineer).json()
    version = product["versions"][0]
    assert version["status"] == "retracted"
    assert version["retract_reason"].startswith("compensation: the required notification of version 1")
    settle(platform)  # replaying the failure compensates nothing twice
    retractions = [r for r in platform.store.read_all(0, 10_000) if type(r.event).__name__ == "VersionRetracted"]
    assert len(retractions) == 1
    assert retractions[0].metadata.actor == "system:orchestrator"


def test_without_the_contract_saying_so_a_failed_notification_retracts_nothing(
    api: TestClient, platform: Platform, token_for: Any, receiver: Receiver, tmp_path: Path
) -> None:
    tenant, engineer = publish_with_a_failing_hook(api, platform, token_for, receiver, tmp_path, mandatory=False)
    product = api.get(f"/v1/tenants/{tenant}/products/retail-sales", headers=engineer).json()
    assert product["versions"][0]["status"] == "published"
