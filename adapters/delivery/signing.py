"""Standard Webhooks signing: ``whsec_`` secrets and the ``webhook-*`` headers of one request.

The signature is ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``, keyed with the
base64-decoded part of the secret after ``whsec_``; the timestamp is the attempt's time in unix seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from datetime import datetime

PREFIX = "whsec_"
KEY_BYTES = 32


class BadSecretError(ValueError):
    """The value is not a ``whsec_`` secret (the prefix, then base64 of at least 24 bytes)."""


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for."""
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise BadSecretError("a webhook secret is whsec_ and base64") from None
    if not secret.startswith(PREFIX) or len(key) < 24:
        raise BadSecretError("a webhook secret is whsec_ and base64 of at least 24 bytes")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one request."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, message_id: str, sent_at: datetime, body: bytes) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` (unix seconds of ``sent_at``) and ``webhook-signature``."""
    timestamp = int(sent_at.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
