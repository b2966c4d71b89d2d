"""Rate limits: token buckets per principal and per tenant, with the IETF RateLimit headers and 429 answers."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from interfaces.http.gateway import Headers, MiddlewareFactory, add_missing_headers, send_problem
from interfaces.settings import Settings, SettingsError

Clock = Callable[[], float]
_EPSILON = 1e-9


@dataclass(frozen=True)
class Quota:
    """A token-bucket policy: the bucket holds `limit` tokens and refills at limit/window tokens per second."""

    name: str
    limit: int
    window: int

    @classmethod
    def parse(cls, name: str, text: str) -> Quota | None:
        """ "N/W" (N requests per W seconds, whole numbers) -> Quota; "" or "off" -> None, no limit."""
        if text.strip().lower() in ("", "off"):
            return None
        limit, _, window = text.partition("/")
        try:
            quota = cls(name, int(limit), int(window))
        except ValueError:
            quota = cls(name, 0, 0)
        if quota.limit < 1 or quota.window < 1:
            msg = f"PLATFORM_RATE_LIMIT_{name.upper()}={text!r} is not N/W (N requests per W seconds, both above 0)"
            raise SettingsError(msg)
        return quota

    @property
    def rate(self) -> float:
        return self.limit / self.window

    def policy_item(self) -> str:
        return f'"{self.name}";q={self.limit};w={self.window}'


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

    def acquire(self, demands: Sequence[tuple[Quota, str]]) -> Decision:
        """Takes one token from each named bucket, or none at all when any of them is empty."""
        with self._lock:
            now = self._clock()
            buckets = [self._bucket(quota, key, now) for quota, key in demands]
            allowed = all(bucket.tokens >= 1 - _EPSILON for bucket in buckets)
            if allowed:
                for bucket in buckets:
                    bucket.tokens -= 1
            self._evict(now)
            return _decision(allowed, buckets)

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


def _demands(scope: Scope, principal: Quota | None, tenant: Quota | None) -> list[tuple[Quota, str]]:
    """The buckets a request draws on: its principal's (else its client address's) and its tenant's."""
    identity = scope.get("auth")
    principal_id = getattr(identity, "principal_id", None)
    if getattr(identity, "method", None) == "none":  # the stand-in identity of PLATFORM_AUTH=off proves nobody
        principal_id = None
    tenant_id = getattr(identity, "tenant_id", None) if principal_id else None
    client = scope.get("client")
    demands: list[tuple[Quota, str]] = []
    if principal is not None:
        key = f"principal:{principal_id}" if principal_id else f"client:{client[0] if client else 'unknown'}"
        demands.append((principal, key))
    if tenant is not None and tenant_id:
        demands.append((tenant, str(tenant_id)))
    return demands


def rate_limit_middleware(
    settings: Settings, clock: Clock = time.monotonic, max_buckets: int = 100_000
) -> MiddlewareFactory:
    """Token-bucket limits per principal and per tenant; 429 problem with Retry-After when a bucket is empty.

    Place it AFTER the authentication middleware: it reads the identity from scope["auth"] (``principal_id``,
    ``tenant_id``); without one it limits by client address and applies no tenant limit. The buckets live in this
    process (see TokenBuckets), shared by every route of the app this factory is given to.
    """
    principal = Quota.parse("principal", settings.rate_limit_principal)
    tenant = Quota.parse("tenant", settings.rate_limit_tenant)
    buckets = TokenBuckets(clock, max_buckets)

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            demands = _demands(scope, principal, tenant) if scope["type"] == ScopeType.HTTP else []
            if not demands:
                await app(scope, receive, send)
                return
            decision = buckets.acquire(demands)
            if not decision.allowed:
                quota = decision.binding
                detail = (
                    f"the {quota.name} rate limit of {quota.limit} requests per {quota.window} s is used up; "
                    f"retry in {decision.retry_after} s"
                )
                await send_problem(scope, send, 429, detail, decision.headers())
                return

            async def send_with_limits(message: Message) -> None:
                if message["type"] == "http.response.start":
                    add_missing_headers(message, decision.headers())
                await send(message)

            await app(scope, receive, send_with_limits)

        return middleware

    return factory
