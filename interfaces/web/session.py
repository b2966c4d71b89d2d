"""The web apps' sign-in session: an encrypted cookie holding the credential a person signed in with.

Every page proves that credential again through the platform's one authentication port (exactly as the API proves
an Authorization header), acting through the membership of the tenant the path names; the app-wide Cedar guard
then decides on the route's action. The cookie is HttpOnly, SameSite=Lax and Secure when the platform serves TLS;
the apps keep nothing else. CSRF tokens guard every form (Litestar's CSRF middleware, form field ``_csrf_token``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import anyio
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.types import ASGIApp, Middleware

from application.authentication import Authentication, AuthenticationError
from interfaces.bootstrap import Platform
from interfaces.http.context import id_in_path

CREDENTIAL = "credential"
"""The session key holding the credential (a bearer token or an API key)."""
SESSION_HOURS = 8
PUBLIC_PAGE = "web_public_page"
"""An opt key no web route sets: the session middleware's own exclusion key, apart from the API's."""


def _derived(platform: Platform, label: bytes) -> bytes:
    """A 32-byte secret of its own for each use, derived from the platform's fingerprint key."""
    return hmac.new(platform.fingerprint_secret, b"web|" + label, hashlib.sha256).digest()


def served_over_tls(platform: Platform) -> bool:
    return bool(platform.settings.http.tls_cert)


def session_config(platform: Platform) -> CookieBackendConfig:
    return CookieBackendConfig(
        secret=_derived(platform, b"session"),
        key="platform_session",
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        secure=served_over_tls(platform),
    )


def csrf_config(platform: Platform) -> CSRFConfig:
    return CSRFConfig(
        secret=_derived(platform, b"csrf").hex(),
        cookie_name="platform_csrf",
        cookie_httponly=True,
        cookie_samesite="lax",
        cookie_secure=served_over_tls(platform),
    )


def bearer(credential: str) -> str:
    return f"Bearer {credential}"


class SessionAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """The signed-in person, proven from the session's credential as the membership of the path's tenant."""

    def __init__(self, app: ASGIApp, authenticator: Authentication) -> None:
        super().__init__(app, exclude_from_auth_key=PUBLIC_PAGE)
        self.authenticator = authenticator

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        credential = connection.session.get(CREDENTIAL) if connection.scope.get("session") else None
        if not credential:
            raise NotAuthorizedException("sign in first")
        named = connection.path_params.get("tenant_id")
        authorization, tenant_id = bearer(credential), str(id_in_path(named)) if named is not None else None
        identity = self.authenticator.recently_proven(authorization, None, tenant_id)
        if identity is None:
            try:
                identity = await anyio.to_thread.run_sync(
                    self.authenticator.authenticate, authorization, None, tenant_id
                )
            except AuthenticationError:
                raise NotAuthorizedException("the session's credential is no longer valid; sign in again") from None
        return AuthenticationResult(user=identity, auth=identity)


def session_middleware(platform: Platform) -> Middleware:
    """The session middleware, made when the app builds its routes: its cipher cannot be copied with a router."""
    config = session_config(platform)

    def make(app: ASGIApp) -> ASGIApp:
        middleware: ASGIApp = config.middleware(app)
        return middleware

    return make


def public_middleware(platform: Platform) -> list[Middleware]:
    """Sign-in pages: a session (to write) and CSRF, no identity yet."""
    return [session_middleware(platform), DefineMiddleware(CSRFMiddleware, config=csrf_config(platform))]


def signed_in_middleware(platform: Platform) -> list[Middleware]:
    """App pages: the session, CSRF, then the signed-in identity (which the app-wide guard authorizes)."""
    authenticator = platform.authenticator

    def signed_in(app: ASGIApp) -> ASGIApp:  # a closure: routers are deep-copied, the authenticator must not be
        return SessionAuthenticationMiddleware(app, authenticator)

    return [*public_middleware(platform), signed_in]
