"""Turns an Authorization header into an Identity: a bearer JWT or an API key, checked against the read models.

Those read models must be sound (``adapters/readmodel_health.py``): while one is stuck, or has parked an event about
the caller's principal, API key or tenant (perhaps the revocation), the caller is refused with
ReadModelUnsoundError (503), never let in on what the read model says.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from adapters.auth.identity import ANONYMOUS_ADMIN
from adapters.auth.tokens import TokenVerifier
from adapters.readmodel_health import AUTHORIZATION_READ_MODELS, ReadModelHealth, ReadModelUnsoundError
from adapters.readmodels import ReadModelStore
from application.access import KEY_SCHEME, key_digest, split_token
from application.authentication import AuthenticationError
from application.authorization import Identity
from domain.access import principal_id_for
from domain.values import ApiKeyStatus
from projections.access import identity_of, key_query, memberships_query, principal_query

CACHE_SECONDS = 2.0
"""How long a proven credential is trusted without checking again: a revoked key or role stops within this."""
CACHE_SIZE = 10_000


class NoAuthentication:
    """PLATFORM_AUTH=off (benchmarks only): every caller is ANONYMOUS_ADMIN, whatever it presents."""

    def recently_proven(
        self, authorization: str | None, api_key: str | None = None, tenant_id: str | None = None
    ) -> Identity:
        return ANONYMOUS_ADMIN

    def authenticate(
        self, authorization: str | None, api_key: str | None = None, tenant_id: str | None = None
    ) -> Identity:
        return ANONYMOUS_ADMIN

    def tenants_of(self, authorization: str | None) -> list[str]:
        return []


class Authenticator:
    def __init__(
        self,
        read_models: ReadModelStore,
        tokens: TokenVerifier,
        clock: Callable[[], datetime],
        cache_seconds: float = CACHE_SECONDS,
        health: ReadModelHealth | None = None,
    ) -> None:
        self.read_models = read_models
        self.engine = read_models.engine
        self.health = health
        self.tokens = tokens
        self.clock = clock
        self.cache_seconds = cache_seconds
        self._cache: OrderedDict[str, tuple[float, Identity, frozenset[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def recently_proven(
        self, authorization: str | None, api_key: str | None = None, tenant_id: str | None = None
    ) -> Identity | None:
        """The identity of a credential proven within the last CACHE_SECONDS, without any I/O; else None."""
        credential = api_key or authorization
        if not credential:
            return None
        with self._lock:
            cached = self._cache.get(_fingerprint(credential, tenant_id))
        if cached is None or cached[0] <= time.monotonic():
            return None
        soundness = self.health.cached() if self.health is not None else None
        doubted = soundness is not None and soundness.doubt(AUTHORIZATION_READ_MODELS, cached[2])
        return None if doubted else cached[1]  # a doubted one is proven again, and refused there

    def authenticate(
        self, authorization: str | None, api_key: str | None = None, tenant_id: str | None = None
    ) -> Identity:
        """Proves the credential (signature, claims, key digest, registered principal) and remembers it briefly.

        ``tenant_id`` is the tenant the request is about: a person acts through their membership of it.
        """
        identity, scopes = self._prove(api_key or _bearer(authorization), tenant_id)
        self._vouch(scopes)
        with self._lock:
            self._cache[_fingerprint(api_key or authorization or "", tenant_id)] = (
                time.monotonic() + self.cache_seconds,
                identity,
                scopes,
            )
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return identity

    def tenants_of(self, authorization: str | None) -> list[str]:
        """The tenants a credential may act in: a person's memberships, an API key's one tenant (none: platform)."""
        credential = _bearer(authorization)
        if credential.startswith(f"{KEY_SCHEME}_"):
            identity = self.authenticate(authorization)
            return [identity.tenant_id] if identity.tenant_id else []
        rows = self._memberships(self.tokens.verify(credential))
        return sorted(row.tenant_id for row in rows if row.tenant_id)

    def _memberships(self, claims: dict[str, Any]) -> Sequence[Any]:
        """The principals registered for a token's subject, one per tenant (and one for the platform)."""
        identity = identity_of(claims["iss"], claims["sub"])
        sealer = self.read_models.sealer
        if identity is None or sealer is None:
            raise AuthenticationError(f"subject {claims['sub']!r} cannot be looked up")
        with self.engine.connect() as connection:
            return connection.execute(memberships_query(sealer.fingerprint(identity.text))).all()

    def _vouch(self, scopes: frozenset[str]) -> None:
        """Refuses (503) when the read models the identity came from cannot be trusted about it."""
        if self.health is None:
            return
        try:
            doubt = self.health.current().doubt(AUTHORIZATION_READ_MODELS, scopes)
        except Exception as error:  # cannot tell whether they are sound: closed, as when they are not
            raise ReadModelUnsoundError(f"the read models cannot be checked: {type(error).__name__}") from error
        if doubt:
            raise ReadModelUnsoundError(f"authorization state cannot be trusted now: {doubt}")

    def _prove(self, credential: str, tenant_id: str | None) -> tuple[Identity, frozenset[str]]:
        """The identity, and what it rests on: its principal, tenant and API key."""
        if credential.startswith(f"{KEY_SCHEME}_"):
            identity, key_id = self._by_api_key(credential)
        else:
            identity, key_id = self._by_token(credential, tenant_id), None
        return identity, frozenset(s for s in (identity.principal_id, identity.tenant_id, key_id) if s)

    def _by_token(self, token: str, tenant_id: str | None) -> Identity:
        claims = self.tokens.verify(token)
        rows = self._memberships(claims)
        if not rows:
            raise AuthenticationError(f"no principal is registered for subject {claims['sub']!r}")
        return _membership(rows, tenant_id, str(principal_id_for(claims["iss"], claims["sub"], None)))

    def _by_api_key(self, token: str) -> tuple[Identity, str]:
        parts = split_token(token)
        if parts is None:
            raise AuthenticationError("malformed API key")
        prefix, secret = parts
        with self.engine.connect() as connection:
            key = connection.execute(key_query(prefix)).first()
        if key is None or not hmac.compare_digest(key.digest, key_digest(key.salt, secret)):
            raise AuthenticationError(f"unknown API key {prefix}")
        expired = bool(key.expires_at) and datetime.fromisoformat(key.expires_at) <= self.clock()
        if key.status != ApiKeyStatus.ACTIVE or expired:
            raise AuthenticationError(f"API key {prefix} is {key.status} or expired")
        return self._identity(key.principal_id, "api-key"), key.key_id

    def _identity(self, principal_id: str, method: str) -> Identity:
        with self.engine.connect() as connection:
            row: Any = connection.execute(principal_query(principal_id)).first()
        if row is None:
            raise AuthenticationError(f"principal {principal_id} is not registered")
        return Identity(principal_id, row.kind, row.tenant_id, tuple(row.roles), method)


def _membership(rows: Sequence[Any], tenant_id: str | None, person_id: str) -> Identity:
    """The principal a person acts as: their membership of the tenant in question, else their platform principal,
    else their only membership; a person of several tenants acts in none of them elsewhere (no tenant, no roles)."""
    by_tenant = {row.tenant_id: row for row in rows}
    row = by_tenant.get(tenant_id) if tenant_id is not None else None
    row = row or by_tenant.get(None) or (rows[0] if len(rows) == 1 else None)
    if row is None:
        return Identity(person_id, "person", None, (), "jwt")
    return Identity(row.principal_id, row.kind, row.tenant_id, tuple(row.roles), "jwt")


def _fingerprint(credential: str, tenant_id: str | None) -> str:
    """The cache key: a hash, so the cache never holds a credential itself."""
    return hashlib.sha256(f"{tenant_id}|{credential}".encode()).hexdigest()


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("no credentials")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthenticationError("expected 'Authorization: Bearer <token>'")
    return credential.strip()
