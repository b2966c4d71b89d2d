"""Download links of completed exports: signed (HMAC-SHA256 with the platform's link key) over the tenant, the
export and the expiry, valid for a while. A link still needs the caller's credentials: a leaked link alone
downloads nothing."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from domain.errors import DomainError


class LinkInvalidError(DomainError):
    """The download link was not signed by this platform for this export."""


class LinkExpiredError(DomainError):
    """The download link has expired; reading the export again gives a new one."""


class ExportLinks:
    """Signs download links and checks them when they are followed."""

    def __init__(self, secret: bytes, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self.secret = secret
        self.ttl = ttl
        self.clock = clock

    def link(self, tenant_id: str, export_id: str) -> tuple[str, int]:
        """The download path of a completed export, signed, and when it expires (Unix seconds)."""
        expires = int(self.clock()) + self.ttl
        signature = self._sign(tenant_id, export_id, expires)
        return f"/v1/tenants/{tenant_id}/exports/{export_id}/download?expires={expires}&signature={signature}", expires

    def check(self, tenant_id: str, export_id: str, expires: int, signature: str) -> None:
        """LinkInvalidError for a link this platform did not sign so; LinkExpiredError past its expiry."""
        expected = self._sign(tenant_id, export_id, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):  # bytes: a str must be ASCII
            raise LinkInvalidError("the download link is not valid")
        if expires < self.clock():
            raise LinkExpiredError("the download link has expired; read the export again for a new one")

    def _sign(self, tenant_id: str, export_id: str, expires: int) -> str:
        message = f"{tenant_id}|{export_id}|{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()
