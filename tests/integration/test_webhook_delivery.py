"""Webhooks delivered over real HTTP to a local server (http.server in a thread) that records every request and
answers as each test scripts it: failures then recovery, 429 with Retry-After, 410, a redirect, a slow answer.
Signatures are checked with the ``standardwebhooks`` package; the event store is the embedded SQLite file with
envelope encryption, wired by bootstrap. Loopback is allowed explicitly, as the SSRF guard refuses it otherwise.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from standardwebhooks import Webhook

from adapters.delivery.events import webhook_event_types, webhook_payload
from adapters.delivery.guard import AddressGuard, TargetRefusedError
from adapters.delivery.http import CONTENT_TYPE, HttpSender
from adapters.delivery.signing import new_secret
from adapters.nats.cloudevents import event_type
from application.commands import CommandContext, CommandRunner
from application.webhook_dispatcher import WebhookDispatcher
from application.webhooks import Message, WebhookService
from domain.webhooks import Delivery, WebhookEndpoint
from interfaces.bootstrap import Platform, bootstrap
from interfaces.settings import Settings
from interfaces.settings.values import networks

LOOPBACK = networks("127.0.0.0/8,::1/128")


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"]

    def verifies(self, secret: str) -> bool:
        """The signature is the one standardwebhooks computes for this id, timestamp and body."""
        timestamp = datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), UTC)
        expected = Webhook(secret).sign(self.event_id, timestamp, self.body.decode())
        return expected in self.headers["webhook-signature"].split(" ")


class Receiver:
    """A local HTTP server: answers each path from its script (then 200) and records every request."""

    def __init__(self) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    answers = receiver.script.get(self.path, [])
                    answer = answers.pop(0) if answers else Answer()
                    sent = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(self.path, sent, body, answer.status))
                time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"no")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Setup:
    platform: Platform
    webhooks: WebhookService
    clock: Clock
    receiver: Receiver
    tenant: UUID

    def dispatcher(
        self,
        schedule: tuple[float, ...],
        timeout: float = 15.0,
        clock: Callable[[], datetime] | None = None,
        **options: Any,
    ) -> WebhookDispatcher:
        sender = HttpSender(AddressGuard(LOOPBACK), timeout=timeout)
        store, now = self.platform.store, clock or self.clock
        return WebhookDispatcher(store, self.webhooks, sender, webhook_payload, event_type, now, schedule, **options)

    def subscribe(self, path: str) -> tuple[UUID, str]:
        done = self.webhooks.subscribe_endpoint(ctx(), self.tenant, self.receiver.url(path), [ENTITLED])
        return done.endpoint_id, done.secret

    def entitle(self, *features: str) -> str:
        """Records an event the endpoints subscribe to; its event id."""
        result = self.platform.tenants.change_entitlements(ctx(), self.tenant, list(features), {})
        [recorded] = self.platform.store.read_all(result.position - 1, 1)
        return recorded.event_id

    def drain(self, dispatcher: WebhookDispatcher, within: timedelta = timedelta(days=2)) -> None:
        dispatcher.deliver_due()
        while (due := dispatcher.next_due()) is not None and due <= self.clock.start + within:
            self.clock.now = max(self.clock.now, due)
            dispatcher.deliver_due()

    def events(self, kind: type) -> list[Any]:
        return [r.event for r in self.platform.store.read_all(0, 100_000) if isinstance(r.event, kind)]


ENTITLED = "platform.tenants.TenantEntitlementsChanged"


def ctx() -> CommandContext:
    command_id = str(uuid4())
    return CommandContext("user:test", command_id, command_id)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def setup(tmp_path: Path, receiver: Receiver) -> Iterator[Setup]:
    settings = Settings(
        event_store_url=str(tmp_path / "events.db"),
        read_model_url=f"sqlite:///{tmp_path}/rm.db",
        keys_dir=str(tmp_path / "keys"),
        datasets=str(tmp_path / "datasets"),
        scratch_dir=str(tmp_path / "scratch"),
    )
    platform = bootstrap(settings)
    clock = Clock()
    runner = CommandRunner(platform.store, clock)
    guard = AddressGuard(LOOPBACK)
    webhooks = WebhookService(runner, platform.secrets, guard, webhook_event_types(), new_secret)
    tenant = platform.tenants.onboard_tenant(ctx(), "acme", "Acme Corp", "standard").aggregate_id
    yield Setup(platform, webhooks, clock, receiver, tenant)
    platform.close()


def delivered_ids(received: list[Received]) -> list[str]:
    return [r.event_id for r in received if 200 <= r.status < 300]


def test_a_failing_endpoint_that_recovers_gets_each_event_once_in_order_signed(setup: Setup) -> None:
    setup.receiver.script["/flaky"] = [Answer(500), Answer(500), Answer(503)]
    endpoint, secret = setup.subscribe("/flaky")
    events = [setup.entitle(f"f{n}") for n in range(3)]
    setup.drain(setup.dispatcher((0, 5, 300, 1800)))
    received = setup.receiver.at("/flaky")
    assert [r.event_id for r in received] == [events[0]] * 4 + events[1:]
    assert delivered_ids(received) == events
    assert all(r.verifies(secret) for r in received)
    stamps = [int(r.headers["webhook-timestamp"]) - int(setup.clock.start.timestamp()) for r in received[:4]]
    assert stamps == [0, 5, 305, 2105]
    first = received[0]
    assert first.headers["content-type"] == CONTENT_TYPE
    assert first.headers["user-agent"].startswith("governed-data-platform-webhooks/")
    body = json.loads(first.body)
    assert (body["id"], body["type"], body["specversion"]) == (events[0], ENTITLED, "1.0")
    assert body["data"]["features"] == ["f0"]
    attempted = setup.events(Delivery.Attempted)
    assert [(a.attempt, a.status) for a in attempted] == [(1, 500), (2, 500), (3, 503)]
    assert all(a.error == "HTTP 500: no" for a in attempted[:2])
    assert [d.attempt for d in setup.events(Delivery.Delivered)] == [4, 1, 1]
    assert endpoint == setup.events(WebhookEndpoint.Subscribed)[0].originator_id


def test_a_429_with_retry_after_is_honoured(setup: Setup) -> None:
    setup.receiver.script["/busy"] = [Answer(429, {"Retry-After": "90"})]
    _, secret = setup.subscribe("/busy")
    event = setup.entitle("x")
    setup.drain(setup.dispatcher((0, 5)))
    busy, ok = setup.receiver.at("/busy")
    assert int(ok.headers["webhook-timestamp"]) - int(busy.headers["webhook-timestamp"]) == 90
    assert delivered_ids([busy, ok]) == [event]
    assert ok.verifies(secret)


def test_a_410_disables_the_endpoint(setup: Setup) -> None:
    setup.receiver.script["/gone"] = [Answer(410)]
    endpoint, _ = setup.subscribe("/gone")
    setup.entitle("a")
    setup.entitle("b")
    setup.drain(setup.dispatcher((0, 5)))
    assert len(setup.receiver.at("/gone")) == 1
    [disabled] = setup.events(WebhookEndpoint.Disabled)
    assert (disabled.originator_id, disabled.gone) == (endpoint, True)


def test_redirects_are_not_followed(setup: Setup) -> None:
    setup.receiver.script["/moved"] = [Answer(302, {"Location": setup.receiver.url("/elsewhere")})]
    setup.subscribe("/moved")
    setup.entitle("a")
    setup.dispatcher((0, 5)).deliver_due()
    assert setup.receiver.at("/elsewhere") == []
    [attempted] = setup.events(Delivery.Attempted)
    assert attempted.status == 302
    assert "redirects are not followed" in attempted.error


def test_an_endpoint_that_answers_too_slowly_has_timed_out(setup: Setup) -> None:
    setup.receiver.script["/slow"] = [Answer(200, delay=1.5)]
    setup.subscribe("/slow")
    setup.entitle("a")
    started = time.monotonic()
    setup.dispatcher((0, 5), timeout=0.3).deliver_due()
    assert time.monotonic() - started < 1.4
    [attempted] = setup.events(Delivery.Attempted)
    assert (attempted.status, attempted.error) == (None, "no response: no answer within 0.3 s")


def test_the_ssrf_guard_refuses_loopback_unless_allowed(setup: Setup) -> None:
    strict = WebhookService(
        setup.webhooks.runner, setup.platform.secrets, AddressGuard(), webhook_event_types(), new_secret
    )
    for url in (setup.receiver.url("/in"), f"http://localhost:{setup.receiver.server.server_port}/in"):
        with pytest.raises(TargetRefusedError, match="not a public address"):
            strict.subscribe_endpoint(ctx(), setup.tenant, url, [ENTITLED])
    # At delivery time too: an endpoint allowed when it subscribed is refused once the setting no longer allows it.
    message = Message(setup.receiver.url("/in"), "evt-1", datetime.now(UTC), b"{}", new_secret())
    outcome = HttpSender(AddressGuard()).send(message)
    assert outcome.status is None
    assert "not in the allowed networks" in (outcome.error or "")
    assert setup.receiver.received == []


def test_the_secret_and_the_url_are_never_stored_in_clear(setup: Setup, tmp_path: Path) -> None:
    _, secret = setup.subscribe("/private-path-token")
    setup.entitle("a")
    setup.drain(setup.dispatcher((0,)))
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("events.db*"))
    assert stored
    assert secret.encode() not in stored
    assert secret.removeprefix("whsec_").encode() not in stored
    assert b"private-path-token" not in stored
    assert b"TenantEntitlementsChanged" in stored or b"EntitlementsChanged" in stored


def test_fault_drill_an_endpoint_that_fails_then_recovers_gets_everything_once_in_order(setup: Setup) -> None:
    """The dispatcher's own thread, the real clock and a short schedule: the endpoint fails its first four requests
    (two errors, a 429, a 503), then recovers; every event arrives once, in log order, verified."""
    setup.receiver.script["/drill"] = [Answer(500), Answer(502), Answer(429, {"Retry-After": "0"}), Answer(503)]
    _, secret = setup.subscribe("/drill")
    events = [setup.entitle(f"e{n}") for n in range(5)]
    dispatcher = setup.dispatcher((0, 0.1, 0.1, 0.1, 0.1, 0.1), clock=lambda: datetime.now(UTC), interval=0.02)
    dispatcher.start()
    try:
        more = [setup.entitle(f"e{n}") for n in range(5, 8)]
        wait_until(lambda: len(delivered_ids(setup.receiver.at("/drill"))) >= 8, timeout=20)
    finally:
        dispatcher.stop()
    received = setup.receiver.at("/drill")
    assert delivered_ids(received) == events + more
    assert [r.event_id for r in received[:5]] == [events[0]] * 5
    for request in received:
        assert Webhook(secret).verify(request.body, request.headers) is not None
    assert len(setup.events(Delivery.Delivered)) == 8


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
