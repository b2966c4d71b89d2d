"""Token-bucket arithmetic on a hand-driven clock: bursts, refills, Retry-After and the RateLimit header values."""

from __future__ import annotations

import threading

import pytest

from interfaces.http.ratelimit import Decision, Quota, TokenBuckets
from interfaces.settings import SettingsError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


PRINCIPAL = Quota("principal", 3, 60)  # one token every 20 s
TENANT = Quota("tenant", 5, 10)  # one token every 2 s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def buckets(clock: FakeClock) -> TokenBuckets:
    return TokenBuckets(clock)


def header(decision: Decision, name: bytes) -> str:
    return dict(decision.headers())[name].decode()


def test_parse_reads_n_per_w_and_off() -> None:
    assert Quota.parse("principal", "600/60") == Quota("principal", 600, 60)
    assert Quota.parse("tenant", "") is None
    assert Quota.parse("tenant", "off") is None


@pytest.mark.parametrize("text", ["600", "600/", "/60", "0/60", "10/0", "-1/60", "1.5/60", "ten/60"])
def test_parse_refuses_anything_else(text: str) -> None:
    with pytest.raises(SettingsError, match="N/W"):
        Quota.parse("principal", text)


def test_a_full_bucket_allows_a_burst_of_its_size_then_refuses(buckets: TokenBuckets) -> None:
    remaining = [buckets.acquire([(PRINCIPAL, "p")]).remaining for _ in range(3)]
    refused = buckets.acquire([(PRINCIPAL, "p")])
    assert remaining == [2, 1, 0]
    assert not refused.allowed
    assert refused.retry_after == 20


def test_tokens_come_back_at_limit_per_window(buckets: TokenBuckets, clock: FakeClock) -> None:
    for _ in range(3):
        buckets.acquire([(PRINCIPAL, "p")])
    clock.advance(19.5)
    assert buckets.acquire([(PRINCIPAL, "p")]).retry_after == 1  # half a second to go, rounded up to whole seconds
    clock.advance(0.5)
    assert buckets.acquire([(PRINCIPAL, "p")]).allowed
    clock.advance(3600)
    assert [buckets.acquire([(PRINCIPAL, "p")]).allowed for _ in range(4)] == [True, True, True, False]


def test_buckets_are_per_key(buckets: TokenBuckets) -> None:
    for _ in range(3):
        buckets.acquire([(PRINCIPAL, "alice")])
    assert buckets.acquire([(PRINCIPAL, "bob")]).allowed
    assert not buckets.acquire([(PRINCIPAL, "alice")]).allowed


def test_headers_name_every_policy_and_the_most_constrained_state(buckets: TokenBuckets) -> None:
    decision = buckets.acquire([(PRINCIPAL, "p"), (TENANT, "t")])
    assert header(decision, b"ratelimit-policy") == '"principal";q=3;w=60, "tenant";q=5;w=10'
    # principal has 2 of 3 left, full again in 20 s; tenant has 4 of 5
    assert header(decision, b"ratelimit") == '"principal";r=2;t=20'
    assert b"retry-after" not in dict(decision.headers())


def test_reset_is_seconds_until_full_or_until_the_next_token(buckets: TokenBuckets, clock: FakeClock) -> None:
    assert buckets.acquire([(TENANT, "t")]).reset == 2
    buckets.acquire([(TENANT, "t")])
    clock.advance(0.5)
    assert buckets.acquire([(TENANT, "t")]).reset == 6  # 2.25 tokens left: 2.75 to refill at 0.5 tokens a second
    buckets.acquire([(TENANT, "t")])
    last = buckets.acquire([(TENANT, "t")])
    assert (last.remaining, last.reset) == (0, 2)  # 0.25 tokens: the next one in 1.5 s, rounded up


def test_a_refusal_takes_no_token_from_any_bucket(buckets: TokenBuckets) -> None:
    small_tenant = Quota("tenant", 1, 60)
    assert buckets.acquire([(PRINCIPAL, "a"), (small_tenant, "t")]).allowed
    refused = buckets.acquire([(PRINCIPAL, "b"), (small_tenant, "t")])
    assert not refused.allowed
    assert header(refused, b"ratelimit") == '"tenant";r=0;t=60'
    assert header(refused, b"retry-after") == "60"
    assert buckets.acquire([(PRINCIPAL, "b")]).remaining == 2  # b's refused request took nothing from b


def test_retry_after_waits_for_every_empty_bucket(buckets: TokenBuckets) -> None:
    one = Quota("principal", 1, 5)
    slow = Quota("tenant", 1, 30)
    buckets.acquire([(one, "p"), (slow, "t")])
    refused = buckets.acquire([(one, "p"), (slow, "t")])
    assert refused.retry_after == 30
    assert refused.binding == slow


def test_the_map_stays_bounded_dropping_the_least_recently_used(clock: FakeClock) -> None:
    buckets = TokenBuckets(clock, max_buckets=2)
    for key in ("a", "b", "c"):
        buckets.acquire([(PRINCIPAL, key)])
    assert len(buckets) == 2
    assert buckets.acquire([(PRINCIPAL, "c")]).remaining == 1  # c was kept


def test_idle_buckets_that_have_refilled_are_dropped(buckets: TokenBuckets, clock: FakeClock) -> None:
    buckets.acquire([(PRINCIPAL, "a")])
    buckets.acquire([(PRINCIPAL, "b")])
    clock.advance(20)  # long enough for one token: both are full again
    buckets.acquire([(PRINCIPAL, "c")])
    assert len(buckets) == 1


def test_concurrent_threads_never_take_more_than_the_bucket_holds(buckets: TokenBuckets) -> None:
    quota = Quota("principal", 50, 3600)
    allowed: list[bool] = []

    def hammer() -> None:
        results = [buckets.acquire([(quota, "p")]).allowed for _ in range(100)]
        allowed.extend(results)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(allowed) == 800
    assert allowed.count(True) == 50


def test_looking_takes_no_token(buckets: TokenBuckets) -> None:
    looks = [buckets.acquire([(PRINCIPAL, "p")], take=False) for _ in range(5)]
    assert all(look.allowed for look in looks)
    assert looks[-1].remaining == 3


def test_a_charge_takes_a_token_even_from_an_empty_bucket_which_stays_empty(
    buckets: TokenBuckets, clock: FakeClock
) -> None:
    charged = [buckets.charge([(PRINCIPAL, "p")]) for _ in range(5)]
    assert [c.remaining for c in charged] == [2, 1, 0, 0, 0]
    refused = buckets.acquire([(PRINCIPAL, "p")], take=False)
    assert (refused.allowed, refused.retry_after) == (False, 20)
    clock.advance(20)
    assert buckets.acquire([(PRINCIPAL, "p")], take=False).allowed


def test_a_quota_names_its_unit_and_setting() -> None:
    quota = Quota.parse("auth_failures", "10/60", "failed authentications")
    assert quota == Quota("auth_failures", 10, 60, "failed authentications")
    with pytest.raises(SettingsError, match="PLATFORM_RATE_LIMIT_AUTH_FAILURES"):
        Quota.parse("auth_failures", "ten/60")
