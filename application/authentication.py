"""Who is calling: the port the edges ask to turn a request's credentials into an Identity, and its one refusal.

Implemented in ``adapters/auth/authenticator.py`` (bearer JWTs and API keys, or everyone the anonymous platform admin
when the composition root switches authentication off); the edges depend on this port, never on the adapter.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from application.authorization import Identity


class AuthenticationError(Exception):
    """The credentials are missing, malformed, expired, revoked or not ours; the reason stays in the logs."""


@runtime_checkable  # handlers are given it by dependency injection, which checks what it hands out
class Authentication(Protocol):
    """Who is calling, from the request's credentials (an Authorization header or an X-API-Key)."""

    def recently_proven(
        self, authorization: str | None, api_key: str | None = None, tenant_id: str | None = None
    ) -> Identity | None:
        """The identity of a credential proven moments ago, without any I/O; None when it must be proven."""
        ...

    def authenticate(
        self, authorization: str | None, api_key: str | None = None, tenant_id: str | None = None
    ) -> Identity:
        """Proves the credential, acting through the membership of ``tenant_id``; else AuthenticationError."""
        ...

    def tenants_of(self, authorization: str | None) -> list[str]:
        """The tenants the credential may act in (a person's memberships); AuthenticationError when it is not ours."""
        ...
