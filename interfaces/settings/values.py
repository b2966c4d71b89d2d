"""The kinds of value a PLATFORM_* variable holds, and how each is read from its text.

Every reader takes the variable's text and returns the typed value, or raises ValueError whose message completes
the sentence "PLATFORM_NAME='text' ...", so a bad setting stops the start with one line naming it.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from domain.values import Shard

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
E = TypeVar("E", bound=StrEnum)
_ORIGIN = re.compile(r"https?://[^/\s?#]+")


class SettingsError(ValueError):
    """A setting has a value the platform cannot use."""


class EventStoreKind(StrEnum):
    """Where the event log is kept."""

    MEMORY = "memory"
    SQLITE = "sqlite"
    POSTGRES = "postgres"
    EVENTSTOREDB = "eventstoredb"


class Placement(StrEnum):
    """Whether a background part runs inside `platform serve` or is left to its own process."""

    INPROCESS = "inprocess"
    OFF = "off"


class Switch(StrEnum):
    ON = "on"
    OFF = "off"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class Quota:
    """A token-bucket policy: the bucket holds `limit` tokens and refills at limit/window tokens per second."""

    name: str
    limit: int
    window: int
    unit: str = "requests"

    @classmethod
    def parse(cls, name: str, text: str, unit: str = "requests") -> Quota | None:
        """ "N/W" (N requests per W seconds, whole numbers) -> Quota; "" or "off" -> None, no limit."""
        if text.strip().lower() in ("", "off"):
            return None
        limit, _, window = text.partition("/")
        try:
            quota = cls(name, int(limit), int(window), unit)
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


def whole_number(text: str) -> int:
    """0 or more, written in digits."""
    try:
        number = int(text)
    except ValueError:
        raise ValueError("is not a valid int") from None
    if number < 0:
        raise ValueError("is not 0 or more")
    return number


def port(text: str) -> int:
    number = whole_number(text)
    if number > 65535:
        raise ValueError("is not a port (0 to 65535)")
    return number


def seconds(text: str) -> float:
    """A finite number of 0 or more (seconds, or a ratio such as PLATFORM_MAX_EXPANSION)."""
    try:
        number = float(text)
    except ValueError:
        raise ValueError("is not a valid float") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError("is not a finite number of 0 or more")
    return number


def some_seconds(text: str) -> float:
    """A finite number of seconds above 0 (a time-out that must pass)."""
    number = seconds(text)
    if number == 0:
        raise ValueError("is not above 0")
    return number


def word(kind: type[E], noun: str) -> Callable[[str], E]:
    """A reader of one of the enum's words, in any case."""

    def read(text: str) -> E:
        try:
            return kind(text.strip().lower())
        except ValueError:
            choices = ", ".join(kind)
            raise ValueError(f"is not one of {choices} (unknown {noun} {text!r})") from None

    return read


def log_level(text: str) -> str:
    """A logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL), in any case."""
    level = text.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ValueError("is not a logging level (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    return level


def schedule(text: str) -> tuple[float, ...]:
    """A retry schedule from comma-separated seconds (``0,5,300``): the wait before each attempt."""
    try:
        waits = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError("is not comma-separated seconds (a retry schedule)") from None
    if any(not math.isfinite(wait) or wait < 0 for wait in waits):
        raise ValueError("is not a retry schedule: its waits are 0 or more seconds")
    return waits


def shard(text: str) -> Shard:
    """``INDEX/COUNT`` (``0/1``: every endpoint) as a dispatcher's shard."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError("is not a shard INDEX/COUNT, like 0/2") from None
    try:
        return Shard.of(index, count)
    except ValueError as error:
        raise ValueError(f"is not a shard: {error}") from None


def networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDR blocks (``127.0.0.0/8,::1/128``); empty allows none."""
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise ValueError(f"is not a list of CIDR blocks ({error})") from None


def origins(text: str) -> tuple[str, ...]:
    """Comma-separated CORS origins (scheme, host and port, or ``*``); empty keeps CORS off."""
    found = tuple(origin.strip().rstrip("/") for origin in text.split(",") if origin.strip())
    for origin in found:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ValueError(f"is not a list of origins: {origin!r} is not an origin such as https://app.example.com")
    return found


def rate_limit(name: str, unit: str = "requests") -> Callable[[str], Quota | None]:
    """A reader of "N/W" rate limits (or "off") for the quota of that name; its SettingsError names the setting."""
    return lambda text: Quota.parse(name, text, unit)


def url(*schemes: str) -> Callable[[str], str]:
    """A reader of a URL with one of the schemes (empty allowed: the setting is not used)."""

    def read(text: str) -> str:
        if text and not text.startswith(tuple(f"{scheme}://" for scheme in schemes)):
            raise ValueError(f"is not a {' or '.join(schemes)} URL")
        return text

    return read


MEMORY = "memory"
"""PLATFORM_RATE_LIMIT_STORE for buckets in the process's memory."""


def bucket_store(text: str) -> str:
    """Where rate-limit buckets live: ``memory`` or a Redis URL."""
    if text != MEMORY and not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("is neither 'memory' nor a redis:// URL")
    return text


def sql_url(text: str) -> str:
    """A SQLAlchemy URL of a database the read models support."""
    if not text.startswith(("sqlite:///", "postgresql")):
        raise ValueError("is not a sqlite:/// or postgresql:// URL")
    return text


def origin_line(text: str) -> str:
    """A checkpoint origin: a schema-less URL, no spaces, no '+'."""
    if not text or any(character.isspace() or character == "+" for character in text):
        raise ValueError("is not a checkpoint origin (a schema-less URL: no spaces, no '+')")
    return text
