"""Rate-limit buckets in Redis: shared by every store that names the same server and prefix, taken atomically,
answering as the in-process buckets do, and falling back to the process's own buckets while Redis is away."""

from __future__ import annotations

import asyncio
import logging

import pytest

from interfaces.http.ratelimit import ProcessBuckets, Quota, TokenBuckets
from interfaces.http.ratelimit_redis import RedisBuckets, split_prefix
from interfaces.http.ratelimit_stores import open_buckets
from interfaces.settings import Settings, SettingsError
from tests.s3 import free_port

pytestmark = pytest.mark.redis
SLOW = Quota("principal", 3, 3600)  # refills too slowly to matter within a test
FAILURES = Quota("auth_failures", 2, 3600, "failed authentications")


async def test_two_stores_on_one_prefix_share_one_bucket_and_never_take_a_token_twice(redis_store_url: str) -> None:
    first, second = RedisBuckets(redis_store_url), RedisBuckets(redis_store_url)
    quota = Quota("tenant", 25, 3600)
    try:
        decisions = await asyncio.gather(*(store.acquire([(quota, "t1")]) for store in [first, second] * 30))
    finally:
        await first.close()
        await second.close()
    assert sum(decision.allowed for decision in decisions) == 25
    assert sorted(decision.remaining for decision in decisions if decision.allowed) == list(range(25))


async def test_the_shared_buckets_answer_as_the_process_buckets_do(redis_store_url: str) -> None:
    shared, local = RedisBuckets(redis_store_url), TokenBuckets()
    demands = [(SLOW, "principal:p"), (Quota("tenant", 10, 60), "t1")]
    try:
        for _ in range(4):
            assert (await shared.acquire(demands)).headers() == local.acquire(demands).headers()
        failures = [(FAILURES, "client:10.0.0.1")]
        for _ in range(3):
            assert (await shared.charge(failures)).headers() == local.charge(failures).headers()
            assert (await shared.acquire(failures, take=False)) == local.acquire(failures, take=False)
    finally:
        await shared.close()


async def test_a_look_takes_nothing(redis_store_url: str) -> None:
    store = RedisBuckets(redis_store_url)
    try:
        looks = [await store.acquire([(SLOW, "p")], take=False) for _ in range(5)]
        taken = await store.acquire([(SLOW, "p")])
    finally:
        await store.close()
    assert {look.remaining for look in looks} == {3}
    assert taken.remaining == 2


async def test_while_redis_does_not_answer_each_process_limits_alone(caplog: pytest.LogCaptureFixture) -> None:
    store = RedisBuckets(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with caplog.at_level(logging.WARNING):
        allowed = [(await store.acquire([(SLOW, "p")])).allowed for _ in range(4)]
    await store.close()
    assert allowed == [True, True, True, False]
    assert [r.message for r in caplog.records if "Redis did not answer" in r.message][:1]  # logged once per outage
    assert len([r for r in caplog.records if "Redis did not answer" in r.message]) == 1


def test_the_setting_names_memory_or_a_redis_url() -> None:
    assert split_prefix("redis://h:6379/0?prefix=a:b:&db=1") == ("redis://h:6379/0?db=1", "a:b:")
    assert split_prefix("redis://h:6379/0")[1] == "platform:ratelimit:"
    with pytest.raises(SettingsError, match="PLATFORM_RATE_LIMIT_STORE"):  # checked once, where settings are read
        Settings(rate_limit_store="memcached://h")
    assert isinstance(open_buckets("memory", lambda: 0.0, 10), ProcessBuckets)
