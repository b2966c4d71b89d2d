"""API keys: a service principal's credentials, kept as a public prefix and a salted hash."""

from __future__ import annotations

import re
from uuid import UUID, uuid5

from eventsourcing.domain import event

from domain.access.principals import ACCESS_NAMESPACE
from domain.aggregate import Aggregate
from domain.errors import ConflictError, InvalidValueError
from domain.values import TenantId

KEY_PREFIX = re.compile(r"^[a-z0-9]{12}$")


def api_key_id_for(command_id: str) -> UUID:
    """The key an issuing command creates: the same command (idempotency key) names the same key."""
    return uuid5(ACCESS_NAMESPACE, f"api-key|{command_id}")


class ApiKey(Aggregate):
    """A service credential: only its public prefix and a salted hash are kept; the secret is shown once."""

    class Issued(Aggregate.Created):
        principal_id: str
        tenant_id: TenantId | None
        prefix: str
        salt: str
        digest: str
        expires_at: str | None

    class ExpiryBrought(Aggregate.Event):
        expires_at: str

    class Revoked(Aggregate.Event):
        reason: str

    @classmethod
    def issue(
        cls, key_id: UUID, principal_id: str, tenant_id: TenantId | None, prefix: str, salt: str, digest: str
    ) -> ApiKey:
        if not KEY_PREFIX.fullmatch(prefix):
            msg = "an API key prefix is 12 lowercase letters or digits"
            raise InvalidValueError(msg)
        return cls._create(
            cls.Issued,
            id=key_id,
            principal_id=principal_id,
            tenant_id=tenant_id,
            prefix=prefix,
            salt=salt,
            digest=digest,
            expires_at=None,
        )

    def __init__(
        self, principal_id: str, tenant_id: TenantId | None, prefix: str, salt: str, digest: str, expires_at: str | None
    ) -> None:
        self.principal_id = principal_id
        self.tenant_id = tenant_id
        self.prefix = prefix
        self.expires_at = expires_at
        self.revoked = False

    def expire_at(self, expires_at: str) -> None:
        """Keeps the key working until ``expires_at`` (an ISO time), the overlap window of a rotation."""
        self._require_live()
        self._expiry_brought(expires_at)

    @event(ExpiryBrought)
    def _expiry_brought(self, expires_at: str) -> None:
        self.expires_at = expires_at

    def revoke(self, reason: str) -> None:
        self._require_live()
        self._revoked(reason)

    @event(Revoked)
    def _revoked(self, reason: str) -> None:
        self.revoked = True

    def _require_live(self) -> None:
        if self.revoked:
            msg = "the API key is revoked"
            raise ConflictError(msg)
