"""The webhook dispatcher over the in-memory event store, with a fake clock and a scripted sender (our own ports):
what is delivered to whom, in which order, when retries fall due, 410, giving up, recovery, dead letters, restarts.
The real HTTP path is in tests/integration/test_webhook_delivery.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.delivery.events import webhook_event_types, webhook_payload
from adapters.delivery.signing import new_secret
from adapters.nats.cloudevents import event_type
from application.checkpoints import Checkpoints, MemoryCheckpoints
from application.commands import CommandContext, CommandRunner
from application.secrets import SecretService
from application.tenants import TenantService
from application.webhook_dispatcher import WebhookDispatcher
from application.webhooks import Message, WebhookService
from domain.errors import InvalidValueError, NotFoundError
from domain.webhooks import Delivery, EndpointDisabledError, Outcome, WebhookEndpoint
from eventstore.adapters import open_event_store
from eventstore.recorder_store import RecorderEventStore
from interfaces.settings.values import shard as parse_shard

START = datetime(2026, 5, 6, 7, 0, 0, tzinfo=UTC)
ENTITLED = "platform.tenants.TenantEntitlementsChanged"
SUSPENDED = "platform.tenants.TenantSuspended"
SCHEDULE = (0.0, 5.0, 300.0)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, when: datetime) -> None:
        self.now = max(self.now, when)


@dataclass
class ScriptedSender:
    """Answers each URL's requests from its script, then 200; remembers every request."""

    script: dict[str, list[Outcome]] = field(default_factory=dict)
    sent: list[Message] = field(default_factory=list)

    def send(self, message: Message) -> Outcome:
        self.sent.append(message)
        answers = self.script.get(message.url, [])
        return answers.pop(0) if answers else Outcome(200)

    def features(self, url: str) -> list[list[str]]:
        """The features of each TenantEntitlementsChanged sent to the URL, in order."""
        return [json.loads(m.body)["data"]["features"] for m in self.sent if m.url == url]


class AllowAll:
    def check(self, url: str) -> None:
        pass


class Fingerprints:
    def fingerprint(self, tenant_id: str | None, value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()


@dataclass
class Letters:
    recorded: list[tuple[Any, ...]] = field(default_factory=list)

    def record(self, context: CommandContext, tenant_id: str | None, *args: Any, **_: Any) -> None:
        self.recorded.append((context.command_id, tenant_id, *args))


@dataclass
class World:
    store: RecorderEventStore
    clock: Clock
    tenants: TenantService
    webhooks: WebhookService
    sender: ScriptedSender
    letters: Letters

    def dispatcher(self, shard: tuple[int, int] = (0, 1), checkpoints: Checkpoints | None = None) -> WebhookDispatcher:
        return WebhookDispatcher(
            self.store,
            self.webhooks,
            self.sender,
            webhook_payload,
            event_type,
            self.clock,
            SCHEDULE,
            dead_letters=self.letters,
            shard=shard,
            workers=2,
            checkpoints=checkpoints,
        )

    def tenant(self, slug: str) -> UUID:
        return self.tenants.onboard_tenant(ctx(), slug, slug.title(), "standard").aggregate_id

    def entitle(self, tenant: UUID, *features: str) -> None:
        self.tenants.change_entitlements(ctx(), tenant, list(features), {})

    def subscribe(self, tenant: UUID, url: str, *types: str) -> UUID:
        return self.webhooks.subscribe_endpoint(ctx(), tenant, url, list(types) or [ENTITLED]).endpoint_id

    def drain(self, dispatcher: WebhookDispatcher, until: timedelta = timedelta(days=3)) -> None:
        """Delivers, moving the clock to each next due time, until nothing waits or ``until`` has passed."""
        dispatcher.deliver_due()
        while (due := dispatcher.next_due()) is not None and due <= START + until:
            self.clock.advance_to(due)
            dispatcher.deliver_due()

    def history(self, event_class: type) -> list[Any]:
        return [r.event for r in self.store.read_all(0, 100_000) if isinstance(r.event, event_class)]


def ctx() -> CommandContext:
    command_id = str(uuid4())
    return CommandContext("user:test", command_id, command_id)


@pytest.fixture
def world() -> Iterator[World]:
    store = open_event_store("memory")
    clock = Clock()
    runner = CommandRunner(store, clock)
    secrets = SecretService(runner, Fingerprints())
    webhooks = WebhookService(runner, secrets, AllowAll(), webhook_event_types(), new_secret)
    yield World(store, clock, TenantService(runner), webhooks, ScriptedSender(), Letters())
    store.close()


def test_each_subscribed_event_of_the_tenant_goes_once_in_log_order(world: World) -> None:
    acme, other = world.tenant("acme"), world.tenant("other")
    world.entitle(acme, "before")
    world.subscribe(acme, "https://acme.example/in")
    world.entitle(acme, "one")
    world.entitle(other, "not-acme")
    world.tenants.suspend_tenant(ctx(), acme, "unpaid")  # a type the endpoint did not subscribe to
    world.tenants.reinstate_tenant(ctx(), acme)
    world.entitle(acme, "two")
    world.drain(world.dispatcher())
    assert world.sender.features("https://acme.example/in") == [["one"], ["two"]]
    delivered = world.history(Delivery.Delivered)
    assert [d.attempt for d in delivered] == [1, 1]
    sent = world.sender.sent[0]
    assert sent.secret.startswith("whsec_")
    assert sent.sent_at == START
    assert json.loads(sent.body)["type"] == ENTITLED
    assert sent.message_id == json.loads(sent.body)["id"]


def test_a_failing_endpoint_holds_its_queue_retries_on_schedule_and_then_delivers_all_in_order(world: World) -> None:
    acme = world.tenant("acme")
    url = "https://acme.example/in"
    world.sender.script[url] = [Outcome(503, "down"), Outcome(None, "refused")]
    world.subscribe(acme, url)
    world.subscribe(acme, "https://healthy.example/in")
    for n in range(3):
        world.entitle(acme, f"f{n}")
    dispatcher = world.dispatcher()
    dispatcher.deliver_due()
    assert world.sender.features(url) == [["f0"]]
    assert world.sender.features("https://healthy.example/in") == [["f0"], ["f1"], ["f2"]]  # not held up
    assert dispatcher.next_due() == START + timedelta(seconds=5)
    world.clock.advance_to(START + timedelta(seconds=4))
    assert dispatcher.deliver_due() == 0
    world.drain(dispatcher)
    assert world.sender.features(url) == [["f0"], ["f0"], ["f0"], ["f1"], ["f2"]]
    times = [m.sent_at - START for m in world.sender.sent if m.url == url]
    assert times[:3] == [timedelta(0), timedelta(seconds=5), timedelta(seconds=305)]
    attempted = world.history(Delivery.Attempted)
    assert [(a.attempt, a.status, a.error) for a in attempted] == [
        (1, 503, "HTTP 503: down"),
        (2, None, "no response: refused"),
    ]


def test_a_429_is_not_retried_before_its_retry_after(world: World) -> None:
    acme = world.tenant("acme")
    url = "https://acme.example/in"
    world.sender.script[url] = [Outcome(429, retry_after=120.0)]
    world.subscribe(acme, url)
    world.entitle(acme, "x")
    world.drain(world.dispatcher())
    times = [m.sent_at - START for m in world.sender.sent]
    assert times == [timedelta(0), timedelta(seconds=120)]


def test_a_410_disables_the_endpoint_and_events_while_it_is_disabled_are_not_sent(world: World) -> None:
    acme = world.tenant("acme")
    url = "https://acme.example/in"
    world.sender.script[url] = [Outcome(410)]
    endpoint = world.subscribe(acme, url)
    world.entitle(acme, "gone")
    world.entitle(acme, "waiting")
    dispatcher = world.dispatcher()
    world.drain(dispatcher)
    [disabled] = world.history(WebhookEndpoint.Disabled)
    assert disabled.gone is True
    assert world.webhooks.endpoint(acme, endpoint).active is False
    world.entitle(acme, "while-disabled")
    world.drain(dispatcher)
    world.webhooks.enable_endpoint(ctx(), acme, endpoint)
    world.entitle(acme, "after")
    world.drain(dispatcher)
    assert world.sender.features(url) == [["gone"], ["waiting"], ["after"]]
    [failed] = world.history(Delivery.Failed)
    assert (failed.gone, failed.attempts) == (True, 1)


def test_giving_up_dead_letters_the_delivery_and_recover_delivers_it_again(world: World) -> None:
    acme = world.tenant("acme")
    url = "https://acme.example/in"
    world.sender.script[url] = [Outcome(500)] * len(SCHEDULE)
    endpoint = world.subscribe(acme, url)
    world.entitle(acme, "lost")
    world.entitle(acme, "next")
    dispatcher = world.dispatcher()
    world.drain(dispatcher)
    assert world.sender.features(url) == [["lost"]] * 3 + [["next"]]
    [failed] = world.history(Delivery.Failed)
    assert (failed.attempts, failed.gone) == (3, False)
    [letter] = world.letters.recorded
    assert letter[1:] == (str(acme), "webhook", str(failed.originator_id), "deliver", "HTTP 500", 3, letter[-1])
    assert letter[-1][1] == ENTITLED
    failed_at = datetime.fromisoformat(failed.at)
    world.dispatcher().deliver_due()  # a dispatcher that starts again reports it again, under the same command id
    assert [each[0] for each in world.letters.recorded] == [letter[0]] * 2

    world.webhooks.recover_endpoint(ctx(), acme, endpoint, failed_at + timedelta(seconds=1))
    world.drain(dispatcher)
    assert len(world.sender.sent) == 4  # failed before ``since``: not requeued
    world.webhooks.recover_endpoint(ctx(), acme, endpoint, failed_at)
    world.drain(dispatcher)
    assert world.sender.features(url)[4:] == [["lost"]]
    [requeued] = world.history(Delivery.Requeued)
    assert requeued.originator_id == failed.originator_id
    delivered = [d for d in world.history(Delivery.Delivered) if d.originator_id == failed.originator_id]
    assert [d.attempt for d in delivered] == [4]
    world.drain(world.dispatcher())
    assert len(world.letters.recorded) == 2  # recovered: nothing left to report
    assert len(world.sender.sent) == 5


def test_a_restarted_dispatcher_sends_nothing_twice_and_carries_on_counting(world: World) -> None:
    acme = world.tenant("acme")
    url = "https://acme.example/in"
    world.sender.script[url] = [Outcome(500), Outcome(500)]
    world.subscribe(acme, url)
    world.entitle(acme, "a")
    world.entitle(acme, "b")
    first = world.dispatcher()
    first.deliver_due()
    world.clock.advance_to(START + timedelta(seconds=5))
    first.deliver_due()
    first.stop()
    world.drain(world.dispatcher())
    assert world.sender.features(url) == [["a"], ["a"], ["a"], ["b"]]
    delivered = world.history(Delivery.Delivered)
    assert [d.attempt for d in delivered] == [3, 1]
    world.drain(world.dispatcher())
    assert len(world.sender.sent) == 4


def test_a_dispatcher_restarted_from_its_checkpoint_carries_on_without_reading_the_log_again(world: World) -> None:
    acme = world.tenant("acme")
    url = "https://acme.example/in"
    world.sender.script[url] = [Outcome(500)]
    world.subscribe(acme, url)
    world.entitle(acme, "a")
    checkpoints = MemoryCheckpoints()
    first = world.dispatcher(checkpoints=checkpoints)
    first.deliver_due()
    first.stop()
    saved = checkpoints.load(first.name)
    assert saved is not None
    assert url not in json.dumps(saved.state)  # personal data (sealed in the log) is not copied into a checkpoint

    restarted = world.dispatcher(checkpoints=checkpoints)
    assert restarted.follower.read() == 0
    world.entitle(acme, "b")
    world.drain(restarted)

    assert world.sender.features(url) == [["a"], ["a"], ["b"]]
    assert [d.attempt for d in world.history(Delivery.Delivered)] == [2, 1]


def test_a_dispatcher_that_replays_the_log_after_another_finished_sends_nothing(world: World) -> None:
    acme = world.tenant("acme")
    world.subscribe(acme, "https://acme.example/in")
    world.entitle(acme, "once")
    world.dispatcher().deliver_due()
    world.dispatcher().deliver_due()
    assert len(world.sender.sent) == 1


def test_endpoints_of_an_offboarded_tenant_get_nothing_more(world: World) -> None:
    acme = world.tenant("acme")
    world.subscribe(acme, "https://acme.example/in", ENTITLED, "platform.tenants.TenantOffboarded")
    world.tenants.offboard_tenant(ctx(), acme, "contract ended")
    world.drain(world.dispatcher())
    assert world.sender.sent == []


def test_without_its_secret_an_attempt_fails_and_says_why(world: World) -> None:
    acme = world.tenant("acme")
    endpoint = world.subscribe(acme, "https://acme.example/in")
    world.webhooks.secrets.delete_secret(ctx(), acme, f"webhook.{endpoint}")
    world.entitle(acme, "x")
    world.dispatcher().deliver_due()
    [attempted] = world.history(Delivery.Attempted)
    assert attempted.error.startswith("no response: the signing secret cannot be read")
    assert world.sender.sent == []


def test_subscription_checks_types_and_answers_a_repeated_command_as_the_first(world: World) -> None:
    acme = world.tenant("acme")
    with pytest.raises(InvalidValueError, match="unknown event types"):
        world.webhooks.subscribe_endpoint(ctx(), acme, "https://a.example/", ["platform.webhooks.DeliveryDelivered"])
    with pytest.raises(NotFoundError):
        world.webhooks.subscribe_endpoint(ctx(), uuid4(), "https://a.example/", [ENTITLED])
    command = ctx()
    first = world.webhooks.subscribe_endpoint(command, acme, "https://a.example/", [ENTITLED, SUSPENDED])
    again = world.webhooks.subscribe_endpoint(command, acme, "https://a.example/", [ENTITLED, SUSPENDED])
    assert (again.endpoint_id, again.secret, again.result.position) == (
        first.endpoint_id,
        first.secret,
        first.result.position,
    )
    assert again.result.replayed
    assert first.event_types == [ENTITLED, SUSPENDED]
    stored = world.store.read_all(0, 1000)
    endpoint_events = [r for r in stored if isinstance(r.event, WebhookEndpoint.Event)]
    assert all(first.secret not in json.dumps(r.data) for r in endpoint_events)


def test_endpoint_commands_see_only_their_tenants_endpoints(world: World) -> None:
    acme, other = world.tenant("acme"), world.tenant("other")
    endpoint = world.subscribe(acme, "https://acme.example/in")
    with pytest.raises(NotFoundError):
        world.webhooks.disable_endpoint(ctx(), other, endpoint, "not yours")
    with pytest.raises(NotFoundError):
        world.webhooks.endpoint(other, endpoint)
    with pytest.raises(NotFoundError):
        world.webhooks.disable_endpoint(ctx(), acme, acme, "a tenant is no endpoint")
    world.webhooks.disable_endpoint(ctx(), acme, endpoint, "pause")
    with pytest.raises(EndpointDisabledError):
        world.webhooks.recover_endpoint(ctx(), acme, endpoint, START)


def test_sharded_dispatchers_serve_each_endpoint_once_between_them(world: World) -> None:
    acme = world.tenant("acme")
    endpoints: dict[UUID, str] = {}
    while len(endpoints) < 4 or {endpoint.int % 2 for endpoint in endpoints} != {0, 1}:
        url = f"https://acme.example/{len(endpoints)}"
        endpoints[world.subscribe(acme, url)] = url
    world.entitle(acme, "a")
    world.entitle(acme, "b")
    even, odd = world.dispatcher((0, 2)), world.dispatcher((1, 2))
    assert even.deliver_due() == 2 * sum(1 for endpoint in endpoints if endpoint.int % 2 == 0)
    assert odd.deliver_due() == 2 * sum(1 for endpoint in endpoints if endpoint.int % 2 == 1)
    for url in endpoints.values():
        assert world.sender.features(url) == [["a"], ["b"]]
    assert even.deliver_due() == odd.deliver_due() == 0
    with pytest.raises(ValueError, match="shard 2 of 2"):
        world.dispatcher((2, 2))
    assert parse_shard("1/3") == (1, 3)
    for bad in ("1", "a/b", "3/3", "-1/2"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
