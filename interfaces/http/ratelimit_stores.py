"""Where the rate-limit buckets live, as PLATFORM_RATE_LIMIT_STORE says: in the process, or in Redis shared by every
API process (``ratelimit_redis``)."""

from __future__ import annotations

from interfaces.http.ratelimit import BucketStore, Clock, ProcessBuckets, TokenBuckets
from interfaces.http.ratelimit_redis import RedisBuckets
from interfaces.settings.values import MEMORY


def open_buckets(location: str, clock: Clock, max_buckets: int = 100_000) -> BucketStore:
    """The bucket store PLATFORM_RATE_LIMIT_STORE names (checked when the settings were read): ``memory``, or else a
    Redis URL."""
    if location == MEMORY:
        return ProcessBuckets(TokenBuckets(clock, max_buckets))
    return RedisBuckets(location, clock, max_buckets)
