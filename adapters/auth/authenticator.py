"""Turns an Authorization header into an Identity: a bearer JWT or an API key, checked against the read models."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from adapters.auth.identity import AuthenticationError, Identity
from adapters.auth.tokens import TokenVerifier
from application.access import KEY_SCHEME, key_digest, split_token
from domain.access import principal_id_for
from projections.access import key_query, principal_query


class Authenticator:
    def __init__(self, engine: Engine, tokens: TokenVerifier, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.tokens = tokens
        self.clock = clock

    def authenticate(self, authorization: str | None, api_key: str | None = None) -> Identity:
        credential = api_key or _bearer(authorization)
        if credential.startswith(f"{KEY_SCHEME}_"):
            return self._by_api_key(credential)
        claims = self.tokens.verify(credential)
        principal_id = str(principal_id_for(claims["iss"], claims["sub"]))
        return self._identity(principal_id, "jwt")

    def _by_api_key(self, token: str) -> Identity:
        parts = split_token(token)
        if parts is None:
            raise AuthenticationError("malformed API key")
        prefix, secret = parts
        with self.engine.connect() as connection:
            key = connection.execute(key_query(prefix)).first()
        if key is None or not hmac.compare_digest(key.digest, key_digest(key.salt, secret)):
            raise AuthenticationError(f"unknown API key {prefix}")
        if key.status != "active" or (key.expires_at and datetime.fromisoformat(key.expires_at) <= self.clock()):
            raise AuthenticationError(f"API key {prefix} is {key.status} or expired")
        return self._identity(key.principal_id, "api-key")

    def _identity(self, principal_id: str, method: str) -> Identity:
        with self.engine.connect() as connection:
            row: Any = connection.execute(principal_query(principal_id)).first()
        if row is None:
            raise AuthenticationError(f"principal {principal_id} is not registered")
        return Identity(principal_id, row.kind, row.tenant_id, tuple(row.roles), method)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("no credentials")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise AuthenticationError("expected 'Authorization: Bearer <token>'")
    return credential.strip()
