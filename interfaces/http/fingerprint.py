"""Request fingerprints for the Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header).

A command sent with an Idempotency-Key carries the fingerprint of its request into its events' metadata: a digest
of the method, the target (path and query) and the body, the body hashed as it streams through (an upload of a
gigabyte is never held for it). The digest is keyed with a platform secret (HMAC-SHA256), so the fingerprint in
the log cannot be used to guess a low-entropy body, such as a secret's value. The same key with another request
is refused by the command runner (422), the same key with the same request replays the first answer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

FINGERPRINT_STATE_KEY = "request_digest"
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _has_idempotency_key(scope: Scope) -> bool:
    return any(name.lower() == b"idempotency-key" for name, _ in scope.get("headers", ()))


class RequestDigest:
    """The running digest of one request, and the platform secret that keys its fingerprint."""

    def __init__(self, head: bytes, secret: bytes) -> None:
        self.digest, self.secret = hashlib.sha256(head), secret

    def fingerprint(self) -> str:
        return hmac.new(self.secret, self.digest.digest(), hashlib.sha256).hexdigest()


def fingerprint_middleware(secret: bytes) -> Callable[[ASGIApp], ASGIApp]:
    """Hashes the method, target and body of commands sent with an Idempotency-Key (keyed with ``secret``); nothing
    else is touched."""

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if (
                scope["type"] != ScopeType.HTTP
                or scope["method"] not in COMMAND_METHODS
                or not _has_idempotency_key(scope)
            ):
                await app(scope, receive, send)
                return
            head = b"%s %s?%s\n" % (scope["method"].encode(), scope["path"].encode(), scope["query_string"])
            digest = RequestDigest(head, secret)
            cast("dict[str, Any]", scope).setdefault("state", {})[FINGERPRINT_STATE_KEY] = digest

            async def receive_hashed() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    digest.digest.update(message.get("body", b""))
                return cast("Message", message)

            await app(scope, cast("Receive", receive_hashed), send)

        return middleware

    return factory


def request_fingerprint(scope: Scope) -> str | None:
    """The fingerprint of this request as read so far (call it once the body is read), or None without a key."""
    digest: RequestDigest | None = cast("dict[str, Any]", scope).get("state", {}).get(FINGERPRINT_STATE_KEY)
    return None if digest is None else digest.fingerprint()
