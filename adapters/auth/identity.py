"""Who is calling: the authenticated principal, as the edges and the policy engine see it."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access import PLATFORM_ADMIN


@dataclass(frozen=True)
class Identity:
    principal_id: str
    kind: str
    tenant_id: str | None
    roles: tuple[str, ...]
    method: str
    """How it was proven: 'jwt', 'api-key', or 'none' when authentication is switched off."""

    @property
    def platform_admin(self) -> bool:
        return PLATFORM_ADMIN in self.roles


ANONYMOUS_ADMIN = Identity("anonymous", "person", None, (PLATFORM_ADMIN,), "none")
"""The identity every request has when PLATFORM_AUTH=off (benchmarks only)."""


class AuthenticationError(Exception):
    """The credentials are missing, malformed, expired, revoked or not ours; the reason stays in the logs."""
