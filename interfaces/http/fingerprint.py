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
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

FINGERPRINT_STATE_KEY = "request_digest"
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _has_idempotency_key(scope: Scope) -> bool:
    return any(name.lower() == b"idempotency-key" for name, _ in scope.get("headers", ()))


def fingerprint_middleware(app: ASGIApp) -> ASGIApp:
    """Hashes the method, target and body of commands sent with an Idempotency-Key; nothing else is touched."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] not in COMMAND_METHODS or not _has_idempotency_key(scope):
            await app(scope, receive, send)
            return
        digest = hashlib.sha256(
            b"%s %s?%s\n" % (scope["method"].encode(), scope["path"].encode(), scope["query_string"])
        )
        cast("dict[str, Any]", scope).setdefault("state", {})[FINGERPRINT_STATE_KEY] = digest

        async def receive_hashed() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                digest.update(message.get("body", b""))
            return cast("Message", message)

        await app(scope, cast("Receive", receive_hashed), send)

    return middleware


def request_fingerprint(scope: Scope, secret: bytes) -> str | None:
    """The fingerprint of this request as read so far (call it once the body is read), or None without a key."""
    digest = cast("dict[str, Any]", scope).get("state", {}).get(FINGERPRINT_STATE_KEY)
    if digest is None:
        return None
    return hmac.new(secret, digest.digest(), hashlib.sha256).hexdigest()
