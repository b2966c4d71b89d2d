"""The NATS action connector against the real server: the rendered body arrives under the tenant's own subject,
with the idempotency key as Nats-Msg-Id; a refused or unreachable server is an outcome, not an exception."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import nats
import pytest

from adapters.actions.nats import NatsActionSender, subject_for
from adapters.delivery.guard import AddressGuard
from application.action_engine import ActionRequest
from interfaces.settings.values import networks

pytestmark = pytest.mark.nats


def request(tenant: str, connector: dict[str, object], body: str = '{"kpi": "daily_revenue"}') -> ActionRequest:
    return ActionRequest(tenant, "nats", connector, {}, body, {}, f"run-{tenant}:1", datetime.now(UTC))


def test_a_nats_action_is_published_under_the_tenants_subject(nats_url: str, stream_name: str) -> None:
    tenant = stream_name.lower()
    received: list[tuple[str, bytes, dict[str, str]]] = []
    subscribed, done = threading.Event(), threading.Event()

    async def listen() -> None:
        client = await nats.connect(nats_url)
        try:

            async def keep(message: nats.aio.msg.Msg) -> None:
                received.append((message.subject, message.data, dict(message.headers or {})))
                done.set()

            await client.subscribe(subject_for(tenant, ">"), cb=keep)
            await client.flush()
            subscribed.set()
            for _ in range(100):
                if done.is_set():
                    return
                await asyncio.sleep(0.05)
        finally:
            await client.close()

    listener = threading.Thread(target=lambda: asyncio.run(listen()))
    listener.start()
    assert subscribed.wait(10)
    outcome = NatsActionSender(AddressGuard(), nats_url).send(request(tenant, {"subject": "alerts"}))
    listener.join(10)
    assert outcome.ok, outcome.detail
    assert received == [
        (
            f"actions.{tenant}.alerts",
            b'{"kpi": "daily_revenue"}',
            {"Nats-Msg-Id": f"run-{tenant}:1", "Content-Type": "application/json"},
        )
    ]


def test_a_private_server_the_guard_refuses_is_a_failed_outcome_not_retried() -> None:
    sender = NatsActionSender(AddressGuard(), "nats://127.0.0.1:4222")
    outcome = sender.send(request("t", {"subject": "alerts", "url": "nats://10.0.0.1:4222"}))
    assert not outcome.ok
    assert outcome.retryable is False


def test_an_unreachable_server_is_a_failed_outcome_to_retry() -> None:
    sender = NatsActionSender(AddressGuard(networks("127.0.0.0/8")), "nats://127.0.0.1:4222", timeout=1.0)
    outcome = sender.send(request("t", {"subject": "alerts", "url": "nats://127.0.0.1:9"}))
    assert not outcome.ok
    assert outcome.retryable is True
