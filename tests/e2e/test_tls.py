"""HTTPS serving: a real uvicorn with the platform's TLS options, a generated CA, and clients with and without
certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from litestar import Litestar, Request, get

from interfaces.http.gateway import gateway_middleware, security_headers_hook
from interfaces.settings import Settings, SettingsError
from interfaces.tls import client_certificate_subject, uvicorn_tls_options

TIMEOUT = 5.0


# A throwaway PKI


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: Issued
    client: Issued
    stranger: Issued
    """A client certificate from a CA the server does not trust."""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    usage: str,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=usage == "ca", path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if usage == "ca":
        key_usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(key_usage, critical=True)
    elif usage == "server":
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    issued = Issued(directory / f"{stem}.pem", directory / f"{stem}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    issued.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return issued


def _issue(
    directory: Path, stem: str, subject: str, ca: tuple[x509.Name, ec.EllipticCurvePrivateKey], usage: str
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    return _write(directory, stem, _certificate(subject, key, ca, usage=usage), key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    authorities = []
    for stem in ("ca", "other-ca"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(directory, stem, _certificate(f"Test {stem}", key, None, usage="ca"), key)
        authorities.append((_name(f"Test {stem}"), key))
    ca, other_ca = authorities
    return Pki(
        ca=directory / "ca.pem",
        server=_issue(directory, "server", "localhost", ca, "server"),
        client=_issue(directory, "client", "svc-ingest", ca, "client"),
        stranger=_issue(directory, "stranger", "svc-intruder", other_ca, "client"),
    )


# A real server


@get("/whoami")
async def whoami(request: Request[Any, Any, Any]) -> dict[str, Any]:
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    return {
        "scheme": request.scope["scheme"],
        "subject": client_certificate_subject(request.scope),
        "client_cert_name": tls.get("client_cert_name"),
        "tls_version": tls.get("tls_version"),
    }


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """Runs uvicorn with the settings' TLS options on a free local port in a thread; yields the https base URL."""
    app = Litestar([whoami], middleware=gateway_middleware(settings.limits), before_send=[security_headers_hook])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", loop="asyncio", **uvicorn_tls_options(settings.http)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail("uvicorn did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
    assert not thread.is_alive(), "uvicorn did not stop within 10 s"


def trusting(pki: Pki, client: Issued | None = None) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return httpx.Client(verify=context, timeout=TIMEOUT)


def tls_settings(pki: Pki, client_ca: bool = False) -> Settings:
    return Settings(
        tls_cert=str(pki.server.cert), tls_key=str(pki.server.key), tls_client_ca=str(pki.ca) if client_ca else ""
    )


# Serving


def test_https_is_served_with_the_configured_certificate(pki: Pki) -> None:
    with serving(tls_settings(pki)) as base, trusting(pki) as client:
        answer = client.get(f"{base}/whoami")
    assert answer.status_code == 200
    assert answer.json() == {"scheme": "https", "subject": None, "client_cert_name": None, "tls_version": 0x0304}
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_a_client_that_does_not_trust_the_ca_refuses_the_server(pki: Pki) -> None:
    with (
        serving(tls_settings(pki)) as base,
        httpx.Client(timeout=TIMEOUT) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"{base}/whoami")


def test_plain_http_is_refused(pki: Pki) -> None:
    with (
        serving(tls_settings(pki)) as base,
        httpx.Client(timeout=TIMEOUT) as client,
        pytest.raises(httpx.RemoteProtocolError, match="without sending a response"),
    ):
        client.get(f"{base.replace('https://', 'http://')}/whoami")


def test_a_client_certificate_signed_by_the_client_ca_is_accepted_and_exposed(pki: Pki) -> None:
    with serving(tls_settings(pki, client_ca=True)) as base, trusting(pki, pki.client) as client:
        answer = client.get(f"{base}/whoami")
    assert answer.status_code == 200
    assert answer.json()["subject"] == "svc-ingest"
    assert answer.json()["client_cert_name"] == "CN=svc-ingest"


def test_a_client_certificate_is_optional(pki: Pki) -> None:
    with serving(tls_settings(pki, client_ca=True)) as base, trusting(pki) as client:
        answer = client.get(f"{base}/whoami")
    assert (answer.status_code, answer.json()["subject"]) == (200, None)


def test_a_client_certificate_from_another_ca_is_refused(pki: Pki) -> None:
    with (
        serving(tls_settings(pki, client_ca=True)) as base,
        trusting(pki, pki.stranger) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get(f"{base}/whoami")


# Options


def test_no_certificate_means_no_tls_options() -> None:
    assert uvicorn_tls_options(Settings().http) == {}


def test_the_options_are_uvicorns_https_arguments(pki: Pki) -> None:
    options = uvicorn_tls_options(tls_settings(pki, client_ca=True).http)
    assert options["ssl_certfile"] == str(pki.server.cert)
    assert options["ssl_keyfile"] == str(pki.server.key)
    assert options["ssl_ca_certs"] == str(pki.ca)
    assert options["ssl_cert_reqs"] == ssl.CERT_OPTIONAL
    assert "ssl_ca_certs" not in uvicorn_tls_options(tls_settings(pki).http)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tls_key": ""}, "PLATFORM_TLS_KEY is not set"),
        ({"tls_cert": ""}, "PLATFORM_TLS_CERT is not set"),
        ({"tls_cert": "", "tls_key": ""}, "PLATFORM_TLS_CLIENT_CA needs HTTPS"),
        ({"tls_key": "/nonexistent/server.key"}, "PLATFORM_TLS_KEY='/nonexistent/server.key': no such file"),
        ({"tls_client_ca": "/nonexistent/ca.pem"}, "PLATFORM_TLS_CLIENT_CA='/nonexistent/ca.pem': no such file"),
    ],
)
def test_incomplete_or_missing_tls_files_are_refused(pki: Pki, change: dict[str, Any], message: str) -> None:
    settings = replace(tls_settings(pki, client_ca=True), **change)
    with pytest.raises(SettingsError, match=message):
        uvicorn_tls_options(settings.http)


def test_a_key_that_does_not_match_the_certificate_is_refused(pki: Pki) -> None:
    settings = Settings(tls_cert=str(pki.server.cert), tls_key=str(pki.client.key))
    with pytest.raises(SettingsError, match="not a matching PEM certificate and key"):
        uvicorn_tls_options(settings.http)


def test_platform_serve_speaks_https_with_the_given_certificate(pki: Pki, tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PLATFORM_EVENT_STORE_URL": str(tmp_path / "events.db"),
        "PLATFORM_READ_MODEL_URL": f"sqlite:///{tmp_path}/rm.db",
        "PLATFORM_KEYS_DIR": str(tmp_path / "keys"),
        "PLATFORM_PORT": str(port),
    }
    args = ["serve", "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key)]
    process = subprocess.Popen([sys.executable, "-m", "interfaces.cli", *args], env=env, stderr=subprocess.PIPE)
    try:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(pki.ca)), timeout=2) as client:
            deadline, answer = time.monotonic() + 30, None
            while answer is None and time.monotonic() < deadline and process.poll() is None:
                try:
                    answer = client.get(f"https://127.0.0.1:{port}/health")
                except httpx.TransportError:
                    time.sleep(0.2)
        assert answer is not None, "platform serve did not answer over HTTPS"
        assert answer.status_code == 200
        assert answer.headers["strict-transport-security"].startswith("max-age=")
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)  # waits, and closes the stderr pipe (an unclosed one warns)
