"""The stand-in identity of every caller when authentication is switched off."""

from __future__ import annotations

from application.authorization import Identity
from domain.access import PLATFORM_ADMIN

ANONYMOUS_ADMIN = Identity("anonymous", "person", None, (PLATFORM_ADMIN,), "none")
"""The identity every request has when PLATFORM_AUTH=off (benchmarks only)."""
