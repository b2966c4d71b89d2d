"""Where the rate-limit buckets live, as PLATFORM_RATE_LIMIT_STORE says: in the process, or in Redis shared by every
API process (``ratelimit_redis``)."""

from __future__ import annotations

from interfaces.http.ratelimit import BucketStore, Clock, ProcessBuckets, TokenBuckets
from interfaces.http.ratelimit_redis import RedisBuckets
from interfaces.settings import SettingsError


def open_buckets(location: str, clock: Clock, max_buckets: int = 100_000) -> BucketStore:
    """The bucket store PLATFORM_RATE_LIMIT_STORE names: ``memory`` or a ``redis://`` (``rediss://``) URL."""
    if location == "memory":
        return ProcessBuckets(TokenBuckets(clock, max_buckets))
    if location.startswith(("redis://", "rediss://", "unix://")):
        return RedisBuckets(location, clock, max_buckets)
    msg = f"PLATFORM_RATE_LIMIT_STORE={location!r} is neither 'memory' nor a redis:// URL"
    raise SettingsError(msg)  # settings read from the environment never get here: they were checked at start
