"""Network security: HTTPS serving options for uvicorn and the client certificate a service presented.

uvicorn (0.54) does not put the ASGI TLS extension (scope["extensions"]["tls"]) into HTTP scopes, so the options
select ``TLSExtensionH11Protocol``: uvicorn's own h11 protocol that adds it, per connection, from the TLS object.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from cryptography.x509.oid import NameOID
from uvicorn.protocols.http.h11_impl import H11Protocol

from interfaces.settings import SettingsError
from interfaces.settings.groups import HttpSettings

ASGIApp = Callable[..., Awaitable[None]]
TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def uvicorn_tls_options(http: HttpSettings) -> dict[str, Any]:
    """The uvicorn.run keyword arguments for HTTPS; empty when PLATFORM_TLS_CERT and PLATFORM_TLS_KEY are unset.

    With PLATFORM_TLS_CLIENT_CA, clients may present a certificate signed by it (ssl.CERT_OPTIONAL): one that does
    not verify fails the handshake, and none at all is allowed, so people can still use bearer tokens.
    Raises SettingsError (a ValueError) when only one of certificate and key is set or a file is missing or unusable.
    """
    cert, key, client_ca = http.tls_cert, http.tls_key, http.tls_client_ca
    if not cert and not key:
        if client_ca:
            msg = "PLATFORM_TLS_CLIENT_CA needs HTTPS: set PLATFORM_TLS_CERT and PLATFORM_TLS_KEY too"
            raise SettingsError(msg)
        return {}
    if not cert or not key:
        missing = "PLATFORM_TLS_KEY" if cert else "PLATFORM_TLS_CERT"
        msg = f"HTTPS needs both PLATFORM_TLS_CERT and PLATFORM_TLS_KEY; {missing} is not set"
        raise SettingsError(msg)
    _check_files(cert, key, client_ca)
    options: dict[str, Any] = {"ssl_certfile": cert, "ssl_keyfile": key, "http": TLSExtensionH11Protocol}
    if client_ca:
        options |= {"ssl_ca_certs": client_ca, "ssl_cert_reqs": ssl.CERT_OPTIONAL}
    return options


def _check_files(cert: str, key: str, client_ca: str) -> None:
    """Fails with the setting's name when a file is missing or is not what it should be, before uvicorn starts."""
    named = {"PLATFORM_TLS_CERT": cert, "PLATFORM_TLS_KEY": key, "PLATFORM_TLS_CLIENT_CA": client_ca}
    for name, path in named.items():
        if path and not Path(path).is_file():
            msg = f"{name}={path!r}: no such file"
            raise SettingsError(msg)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as error:
        msg = f"PLATFORM_TLS_CERT and PLATFORM_TLS_KEY are not a matching PEM certificate and key: {error}"
        raise SettingsError(msg) from None
    if client_ca:
        try:
            context.load_verify_locations(client_ca)
        except ssl.SSLError as error:
            msg = f"PLATFORM_TLS_CLIENT_CA={client_ca!r} is not a PEM CA bundle: {error}"
            raise SettingsError(msg) from None


def tls_extension(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    """The ASGI TLS extension for one connection; its client chain holds the leaf only (Python gives no more)."""
    der = ssl_object.getpeercert(binary_form=True)
    name = x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None
    return {
        "server_cert": None,
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": name,
        "client_cert_error": None,  # a certificate that does not verify fails the handshake
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # Python exposes the suite's name, not its number
    }


def _with_tls_extension(app: ASGIApp, extension: dict[str, Any]) -> ASGIApp:
    async def app_with_tls(scope: dict[str, Any], receive: Any, send: Any) -> None:
        extensions = cast("dict[str, Any]", scope.setdefault("extensions", {}))
        extensions["tls"] = dict(extension)
        await app(scope, receive, send)

    return app_with_tls


class TLSExtensionH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, adding scope["extensions"]["tls"] to every request of a TLS connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if isinstance(ssl_object, ssl.SSLObject):
            self.app = _with_tls_extension(self.app, tls_extension(ssl_object))


def client_certificate_subject(scope: Mapping[str, Any]) -> str | None:
    """The common name of the verified certificate the client presented, or None (no certificate, or no TLS)."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls or tls.get("client_cert_error") is not None or not tls.get("client_cert_chain"):
        return None
    certificate = x509.load_pem_x509_certificate(tls["client_cert_chain"][0].encode())
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None
