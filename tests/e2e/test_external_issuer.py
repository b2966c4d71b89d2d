"""Bearer tokens from an external identity provider: RS256 and EdDSA keys from a JWKS file or URL."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from litestar.testing import TestClient

from application.commands import CommandContext
from interfaces.bootstrap import Platform, bootstrap
from interfaces.http.app import create_app
from interfaces.settings import Settings

ISSUER = "https://idp.example"
AUDIENCE = "governed-data-platform"


@pytest.fixture(scope="module")
def keys() -> dict[str, object]:
    return {"rsa-1": rsa.generate_private_key(65537, 2048), "ed-1": ed25519.Ed25519PrivateKey.generate()}


def jwks(keys: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    entries = []
    for kid, key in keys.items():
        public = key.public_key()  # type: ignore[attr-defined]
        algorithm = RSAAlgorithm if kid.startswith("rsa") else OKPAlgorithm
        entry = json.loads(algorithm.to_jwk(public))
        entries.append({**entry, "kid": kid, "use": "sig"})
    return {"keys": entries}


def token(keys: dict[str, object], kid: str, subject: str = "ann", **claims: object) -> dict[str, str]:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "nbf": now, "exp": now + 300} | claims
    algorithm = "RS256" if kid.startswith("rsa") else "EdDSA"
    encoded = jwt.encode(body, keys[kid], algorithm=algorithm, headers={"kid": kid})  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {encoded}"}


@pytest.fixture
def jwks_server(keys: dict[str, object]) -> Iterator[str]:
    body = json.dumps(jwks(keys)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def platform_for(tmp_path: Path, **settings: str) -> Platform:
    platform = bootstrap(
        Settings(
            event_store_url=str(tmp_path / "events.db"),
            read_model_url=f"sqlite:///{tmp_path}/rm.db",
            keys_dir=str(tmp_path / "keys"),
            jwt_issuer=ISSUER,
            **settings,  # type: ignore[arg-type]
        )
    )
    context = CommandContext("test", "register-ann", "test")
    principal = platform.access.register_principal(context, "person", ISSUER, "ann", "Ann", None)
    platform.access.grant_role(CommandContext("test", "grant-ann", "test"), principal.aggregate_id, "platform-admin")
    platform.worker.catch_up()
    return platform


@pytest.mark.parametrize("kid", ["rsa-1", "ed-1"])
def test_tokens_verify_against_a_jwks_file(tmp_path: Path, keys: dict[str, object], kid: str) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps(jwks(keys)))
    platform = platform_for(tmp_path, jwks_file=str(tmp_path / "jwks.json"))
    try:
        with TestClient(create_app(platform)) as client:
            assert client.get("/v1/tenants", headers=token(keys, kid)).status_code == 200
            assert client.get("/v1/tenants", headers=token(keys, kid, aud="other")).status_code == 401
            assert client.get("/v1/tenants", headers=token(keys, kid, subject="bob")).status_code == 401
            stranger = {"rsa-1": rsa.generate_private_key(65537, 2048)}
            assert client.get("/v1/tenants", headers=token(stranger, "rsa-1")).status_code == 401
    finally:
        platform.close()


def test_tokens_verify_against_a_jwks_url(tmp_path: Path, keys: dict[str, object], jwks_server: str) -> None:
    platform = platform_for(tmp_path, jwks_url=jwks_server)
    try:
        with TestClient(create_app(platform)) as client:
            assert client.get("/v1/tenants", headers=token(keys, "rsa-1")).status_code == 200
            assert client.get("/v1/tenants", headers=token(keys, "ed-1")).status_code == 200
    finally:
        platform.close()


def test_an_hmac_token_is_refused_even_with_a_known_key_id(tmp_path: Path, keys: dict[str, object]) -> None:
    (tmp_path / "jwks.json").write_text(json.dumps(jwks(keys)))
    platform = platform_for(tmp_path, jwks_file=str(tmp_path / "jwks.json"))
    try:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ann", "iat": now, "nbf": now, "exp": now + 300}
        forged = jwt.encode(claims, "secret-guess-of-at-least-32-bytes!!", algorithm="HS256", headers={"kid": "rsa-1"})
        with TestClient(create_app(platform)) as client:
            assert client.get("/v1/tenants", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    finally:
        platform.close()
