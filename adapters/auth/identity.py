"""Who is calling, as the edges see it before the policy engine does: the stand-in identity and the one refusal."""

from __future__ import annotations

from application.authorization import Identity
from domain.access import PLATFORM_ADMIN

ANONYMOUS_ADMIN = Identity("anonymous", "person", None, (PLATFORM_ADMIN,), "none")
"""The identity every request has when PLATFORM_AUTH=off (benchmarks only)."""


class AuthenticationError(Exception):
    """The credentials are missing, malformed, expired, revoked or not ours; the reason stays in the logs."""
