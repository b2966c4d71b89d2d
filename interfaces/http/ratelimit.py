"""Rate limits: token buckets per principal, per tenant and per client address, with the IETF RateLimit headers and
429 answers.

Requests that prove an identity draw on their principal's and tenant's buckets. Requests that prove none draw on their
client address's: the routes that need no credentials (the /health and /ready probes aside) and, with PLATFORM_AUTH
off, every route. Each failed authentication costs its client address a token of a smaller bucket; once that is empty
the address is refused before its credentials are even checked, so guessing credentials gets no answer either way.

The buckets live in this process (``TokenBuckets``, the embedded default) or in Redis, shared by every API process
(``RedisBuckets`` in interfaces/http/ratelimit_redis.py), as PLATFORM_RATE_LIMIT_STORE says.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from interfaces.http.gateway import Headers, add_missing_headers, send_problem
from interfaces.settings import Quota, Switch
from interfaces.settings.groups import LimitSettings

Clock = Callable[[], float]
_EPSILON = 1e-9
PROBE_PATHS = ("/health", "/ready")
"""Never limited: an orchestrator's liveness and readiness probes must not be refused for asking often."""


@dataclass
class _Bucket:
    quota: Quota
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.quota.limit), self.tokens + max(0.0, now - self.updated) * self.quota.rate)
        self.updated = now

    def full_at(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.updated) * self.quota.rate >= self.quota.limit - _EPSILON

    def remaining(self) -> int:
        return max(0, math.floor(self.tokens + _EPSILON))

    def seconds_until(self, tokens: float) -> int:
        return max(0, math.ceil((tokens - self.tokens) / self.quota.rate - _EPSILON))

    def reset(self) -> int:
        """Seconds until the bucket is full again, or, when it is empty, until its next token."""
        return self.seconds_until(self.quota.limit if self.remaining() else 1)


@dataclass(frozen=True)
class Decision:
    """The outcome for one request: allowed or not, and the state of its most constrained policy."""

    allowed: bool
    quotas: tuple[Quota, ...]
    binding: Quota
    remaining: int
    reset: int
    retry_after: int

    def headers(self) -> Headers:
        """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), plus Retry-After when denied."""
        policy = ", ".join(quota.policy_item() for quota in self.quotas)
        state = f'"{self.binding.name}";r={self.remaining};t={self.reset}'
        headers = [(b"ratelimit-policy", policy.encode()), (b"ratelimit", state.encode())]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


class TokenBuckets:
    """Token buckets by (policy, key) in this process's memory: each worker process limits on its own.

    Thread-safe. At most ``max_buckets`` are kept, least recently used dropped first, and buckets that have
    refilled completely are dropped as they age (a full bucket is what a new one would be anyway).
    """

    def __init__(self, clock: Clock = time.monotonic, max_buckets: int = 100_000) -> None:
        self._clock = clock
        self._max_buckets = max_buckets
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, demands: Sequence[tuple[Quota, str]], take: bool = True) -> Decision:
        """Takes one token from each named bucket, or none at all when any of them is empty; ``take=False`` only
        looks whether it could."""
        with self._lock:
            now = self._clock()
            buckets = [self._bucket(quota, key, now) for quota, key in demands]
            allowed = all(bucket.tokens >= 1 - _EPSILON for bucket in buckets)
            if allowed and take:
                for bucket in buckets:
                    bucket.tokens -= 1
            self._evict(now)
            return _decision(allowed, buckets)

    def charge(self, demands: Sequence[tuple[Quota, str]]) -> Decision:
        """Takes one token from each named bucket for a cost already incurred (an empty bucket stays empty)."""
        with self._lock:
            now = self._clock()
            buckets = [self._bucket(quota, key, now) for quota, key in demands]
            for bucket in buckets:
                bucket.tokens = max(0.0, bucket.tokens - 1)
            return _decision(True, buckets)

    def _bucket(self, quota: Quota, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get((quota.name, key))
        if bucket is None:
            bucket = self._buckets[(quota.name, key)] = _Bucket(quota, float(quota.limit), now)
        else:
            self._buckets.move_to_end((quota.name, key))
            bucket.refill(now)
        return bucket

    def _evict(self, now: float) -> None:
        while len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)
        for _ in range(2):  # a little idle cleanup per call keeps the map near the number of active keys
            oldest_key = next(iter(self._buckets), None)
            if oldest_key is None or not self._buckets[oldest_key].full_at(now):
                return
            del self._buckets[oldest_key]


def decision_of(allowed: bool, levels: Sequence[tuple[Quota, float]]) -> Decision:
    """The decision for buckets at these token levels (a bucket store that keeps its levels elsewhere answers with
    the same headers as TokenBuckets)."""
    return _decision(allowed, [_Bucket(quota, tokens, 0.0) for quota, tokens in levels])


class BucketStore(Protocol):
    """Where the token buckets live: this process (ProcessBuckets) or a store every API process shares."""

    async def acquire(self, demands: Sequence[tuple[Quota, str]], take: bool = True) -> Decision: ...

    async def charge(self, demands: Sequence[tuple[Quota, str]]) -> Decision: ...

    async def close(self) -> None: ...


class ProcessBuckets:
    """The BucketStore of one process: its TokenBuckets, which answer at once."""

    def __init__(self, buckets: TokenBuckets) -> None:
        self.buckets = buckets

    async def acquire(self, demands: Sequence[tuple[Quota, str]], take: bool = True) -> Decision:
        return self.buckets.acquire(demands, take)

    async def charge(self, demands: Sequence[tuple[Quota, str]]) -> Decision:
        return self.buckets.charge(demands)

    async def close(self) -> None:
        return None


def _decision(allowed: bool, buckets: list[_Bucket]) -> Decision:
    binding = min(buckets, key=lambda bucket: (bucket.remaining(), -bucket.reset()))
    empty = [bucket.seconds_until(1) for bucket in buckets if bucket.tokens < 1 - _EPSILON]
    return Decision(
        allowed=allowed,
        quotas=tuple(bucket.quota for bucket in buckets),
        binding=binding.quota,
        remaining=binding.remaining(),
        reset=binding.reset(),
        retry_after=0 if allowed else max(empty),
    )


def _principal_demands(scope: Scope, principal: Quota | None, tenant: Quota | None) -> list[tuple[Quota, str]]:
    """The buckets a request with a proven identity draws on: its principal's and its tenant's."""
    identity = scope.get("auth")
    principal_id = getattr(identity, "principal_id", None)
    if not principal_id or getattr(identity, "method", None) == "none":  # PLATFORM_AUTH=off's stand-in proves nobody
        return []
    tenant_id = getattr(identity, "tenant_id", None)
    demands: list[tuple[Quota, str]] = []
    if principal is not None:
        demands.append((principal, f"principal:{principal_id}"))
    if tenant is not None and tenant_id:
        demands.append((tenant, str(tenant_id)))
    return demands


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return f"client:{client[0] if client else 'unknown'}"


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


async def _refuse(scope: Scope, send: Send, decision: Decision) -> None:
    quota = decision.binding
    detail = (
        f"the {quota.name} rate limit of {quota.limit} {quota.unit} per {quota.window} s is used up; "
        f"retry in {decision.retry_after} s"
    )
    await send_problem(scope, send, 429, detail, decision.headers())


async def _limited(app: ASGIApp, scope: Scope, receive: Receive, send: Send, decision: Decision | None) -> None:
    """Runs the app with the decision's RateLimit headers on its answer (none when there is no decision)."""
    if decision is None:
        await app(scope, receive, send)
        return

    async def send_with_limits(message: Message) -> None:
        if message["type"] == "http.response.start":
            add_missing_headers(message, decision.headers())
        await send(message)

    await app(scope, receive, send_with_limits)


class RateLimits:
    """The platform's rate limits, on one set of token buckets, as two middleware around authentication.

    ``by_address`` goes BEFORE the authentication middleware: it limits requests that prove no identity by client
    address, counts failed authentications (the NotAuthorizedException raised inside it) and refuses an address
    whose failures are used up. ``by_principal`` goes AFTER it: it reads the identity from scope["auth"]
    (``principal_id``, ``tenant_id``). The buckets are this process's own unless ``buckets`` is given
    (``ratelimit_stores.open_buckets``: where PLATFORM_RATE_LIMIT_STORE says).
    """

    def __init__(
        self,
        limits: LimitSettings,
        auth: Switch = Switch.ON,
        clock: Clock = time.monotonic,
        max_buckets: int = 100_000,
        public_paths: Sequence[str] = (),
        buckets: BucketStore | None = None,
    ) -> None:
        self.principal = limits.rate_limit_principal
        self.tenant = limits.rate_limit_tenant
        self.client = limits.rate_limit_client
        self.failures = limits.rate_limit_auth_failures
        self.buckets = buckets or ProcessBuckets(TokenBuckets(clock, max_buckets))
        self.auth_off = auth == Switch.OFF
        self.public_paths = tuple(public_paths)

    def by_address(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or _under(scope["path"], PROBE_PATHS):
                await app(scope, receive, send)
                return
            address = _address(scope)
            failures = [(self.failures, address)] if self.failures else []
            if failures and not (barred := await self.buckets.acquire(failures, take=False)).allowed:
                await _refuse(scope, send, barred)
                return
            anonymous = self.auth_off or _under(scope["path"], self.public_paths)
            decision = await self.buckets.acquire([(self.client, address)]) if anonymous and self.client else None
            if decision is not None and not decision.allowed:
                await _refuse(scope, send, decision)
                return
            try:
                await _limited(app, scope, receive, send, decision)
            except NotAuthorizedException as error:
                if failures:
                    charged = (await self.buckets.charge(failures)).headers()
                    error.headers = {**(error.headers or {}), **{k.decode(): v.decode() for k, v in charged}}
                raise

        return middleware

    def by_principal(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            demands = _principal_demands(scope, self.principal, self.tenant) if scope["type"] == ScopeType.HTTP else []
            decision = await self.buckets.acquire(demands) if demands else None
            if decision is not None and not decision.allowed:
                await _refuse(scope, send, decision)
                return
            await _limited(app, scope, receive, send, decision)

        return middleware

    async def close(self) -> None:
        """Lets go of the bucket store's connections (the app's shutdown calls it)."""
        await self.buckets.close()
