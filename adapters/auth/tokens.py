"""Bearer tokens: verifying JWTs (EdDSA or RS256) against JWKS, and minting local development tokens."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.keys.local import new_file
from application.authentication import AuthenticationError

ALGORITHMS = ["EdDSA", "RS256"]
LOCAL_ISSUER = "platform-local"
LOCAL_KID = "platform-local-1"
SIGNING_KEY_FILE = "jwt-signing-key.pem"


def private_file(path: Path, content: bytes) -> None:
    """Writes a file only its owner can read, in a directory only its owner can enter."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)


def new_signing_key_pem() -> bytes:
    """A new Ed25519 private key as PKCS#8 PEM."""
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return Ed25519PrivateKey.generate().private_bytes(pem, pkcs8, serialization.NoEncryption())


def signing_key_from(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key of a PEM file; ValueError when the file holds none (OSError when it cannot be read)."""
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        loaded = None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError("does not hold an Ed25519 private key (PEM)")
    return loaded


def local_signing_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The local development signing key under ``keys_dir``, created on first use."""
    path = keys_dir / SIGNING_KEY_FILE
    if not path.exists():
        new_file(path, new_signing_key_pem())
    return signing_key_from(path)


def mint_token(key: Ed25519PrivateKey, subject: str, audience: str, ttl_seconds: int = 12 * 3600) -> str:
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": LOCAL_KID})


class TokenVerifier:
    """Checks signature, issuer, audience, expiry and not-before (with leeway); returns the claims."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        leeway: float,
        jwks: dict[str, Any] | None = None,
        jwks_url: str = "",
        local_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.keys: dict[str, Any] = {}
        for jwk in (jwks or {}).get("keys", []):
            parsed = jwt.PyJWK(jwk)
            self.keys[parsed.key_id or ""] = parsed.key
        if local_key is not None and issuer == LOCAL_ISSUER:
            self.keys[LOCAL_KID] = local_key.public_key()
        self.jwks_client = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None

    @classmethod
    def from_files(
        cls, issuer: str, audience: str, leeway: float, jwks_file: str, jwks_url: str, local: Ed25519PrivateKey | None
    ) -> TokenVerifier:
        jwks = json.loads(Path(jwks_file).read_text()) if jwks_file else None
        return cls(issuer, audience, leeway, jwks, jwks_url, local)

    def verify(self, token: str) -> dict[str, Any]:
        try:
            key = self._key_for(token)
            return jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, KeyError, ValueError) as error:
            raise AuthenticationError(f"bearer token refused: {error}") from error

    def _key_for(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid", "")
        if kid in self.keys:
            return self.keys[kid]
        if self.jwks_client is not None:
            return self.jwks_client.get_signing_key(kid).key
        raise KeyError(f"unknown signing key {kid!r}")
