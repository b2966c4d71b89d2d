"""Token buckets in Redis, shared by every API process (PLATFORM_RATE_LIMIT_STORE=redis://...).

Each bucket is a Redis hash (``tokens``, ``updated``) under ``<prefix><policy>:<key>``. One Lua script refills,
checks and takes the buckets of a request at once, on Redis's own clock, so concurrent requests on any number of
processes never take the same token twice and never disagree about the time. A key expires once its bucket would
be full again (a missing bucket is a full one), so idle clients cost nothing.

When Redis does not answer, the limits FAIL OPEN TO THIS PROCESS'S BUCKETS: requests are limited by the in-process
token buckets, as the embedded default is, and Redis is tried again after ``RETRY_AFTER`` seconds. Refusing every
request would turn a cache outage into an API outage (Redis holds no state the platform needs to be correct);
allowing every request unlimited would drop the brute-force guard on credentials. Limited per process, the worst
case while Redis is away is each limit times the number of API processes. Every switch is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from interfaces.http.ratelimit import Clock, Decision, TokenBuckets, decision_of
from interfaces.settings import Quota

log = logging.getLogger(__name__)
RETRY_AFTER = 5.0
"""Seconds the process's own buckets stand in after Redis failed to answer, before Redis is asked again."""
TIMEOUT = 0.5
"""Seconds a request waits for Redis (to connect, or to answer) before the process's own buckets decide."""
DEFAULT_PREFIX = "platform:ratelimit:"

SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local mode = ARGV[1]
local levels, allowed = {}, true
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'updated')
  local level = limit
  if state[1] then
    level = math.min(limit, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * limit / window)
  end
  levels[i] = level
  if level < 1 - 1e-9 then allowed = false end
end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i + 1])
  if mode == 'charge' then
    levels[i] = math.max(0, levels[i] - 1)
  elseif mode == 'take' and allowed then
    levels[i] = levels[i] - 1
  end
  if mode ~= 'look' then
    redis.call('HSET', key, 'tokens', string.format('%.17g', levels[i]), 'updated', string.format('%.17g', now))
    redis.call('EXPIRE', key, window + 1)
  end
  levels[i] = string.format('%.17g', levels[i])
end
return {allowed and 1 or 0, levels}
"""
"""ARGV: the mode (take, look or charge), then limit and window of each bucket in KEYS. Returns whether every
bucket had a token and each bucket's level afterwards (as text: Redis would truncate a Lua number to an integer)."""


def split_prefix(url: str) -> tuple[str, str]:
    """The Redis URL without its ``prefix=`` query parameter, and that prefix (DEFAULT_PREFIX when absent)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


class RedisBuckets:
    """Token buckets in Redis, shared by every process that names the same server and prefix; this process's own
    buckets stand in while Redis does not answer (see the module's docstring)."""

    def __init__(self, url: str, clock: Clock = time.monotonic, max_buckets: int = 100_000) -> None:
        self._url, self.prefix = split_prefix(url)
        self.local = TokenBuckets(clock, max_buckets)
        self._clock = clock
        self._redis: Redis | None = None
        self._script: AsyncScript | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down_until = 0.0

    async def acquire(self, demands: Sequence[tuple[Quota, str]], take: bool = True) -> Decision:
        """As TokenBuckets.acquire, on the shared buckets."""
        return await self._run("take" if take else "look", demands)

    async def charge(self, demands: Sequence[tuple[Quota, str]]) -> Decision:
        """As TokenBuckets.charge, on the shared buckets."""
        return await self._run("charge", demands)

    async def close(self) -> None:
        """Closes the connections to Redis (the app's shutdown calls it)."""
        if self._redis is not None and self._loop is asyncio.get_running_loop():
            await self._redis.aclose()
        self._redis = self._script = self._loop = None

    async def _run(self, mode: str, demands: Sequence[tuple[Quota, str]]) -> Decision:
        if self._clock() < self._down_until:
            return self._locally(mode, demands)
        keys = [f"{self.prefix}{quota.name}:{key}" for quota, key in demands]
        args: list[str | int] = [mode]
        for quota, _ in demands:
            args += [quota.limit, quota.window]
        try:
            allowed, levels = await self._bound_script()(keys=keys, args=args)
        except (RedisError, OSError) as error:
            log.warning(
                "rate limits: Redis did not answer (%s); this process limits alone for %.0f s", error, RETRY_AFTER
            )
            self._down_until = self._clock() + RETRY_AFTER
            return self._locally(mode, demands)
        levels_of = [(quota, float(level)) for (quota, _), level in zip(demands, levels, strict=True)]
        return decision_of(bool(allowed) or mode == "charge", levels_of)  # a charge is for a cost already incurred

    def _locally(self, mode: str, demands: Sequence[tuple[Quota, str]]) -> Decision:
        if mode == "charge":
            return self.local.charge(demands)
        return self.local.acquire(demands, take=mode == "take")

    def _bound_script(self) -> AsyncScript:
        """The script on a client of the running event loop (a client's connections belong to the loop that made
        them; a test client runs its own loop)."""
        loop = asyncio.get_running_loop()
        if self._script is None or self._loop is not loop:
            self._redis = Redis.from_url(self._url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
            self._script, self._loop = self._redis.register_script(SCRIPT), loop
        return self._script
