"""The webhook sender: one signed POST per attempt, with the standard library's HTTP client.

The host is resolved through the SSRF guard and the connection made to the address it allowed (TLS still checks
the certificate against the host name). Redirects are not followed: a 3xx is a failed attempt. The whole request
has ``timeout`` seconds (15 by default): connecting, sending and reading the answer each get what is left. Only
the status, Retry-After (on 429 and 503) and the first bytes of an error body are read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from adapters.delivery.guard import AddressGuard, TargetRefusedError
from adapters.delivery.signing import headers
from application.webhooks import Message
from domain.webhooks import Outcome

USER_AGENT = "governed-data-platform-webhooks/1"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
EXCERPT_BYTES = 1024
EXCERPT_CHARS = 200


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a given address, whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a given address; the certificate must still name the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=tls)
        self.address = address
        self.tls = tls

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # isdigit alone is true for "²", which float() refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo else None


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:EXCERPT_CHARS]


class HttpSender:
    """Sends webhook requests as Standard Webhooks says, to addresses the guard allows."""

    def __init__(self, guard: AddressGuard, timeout: float = 15.0, tls: ssl.SSLContext | None = None) -> None:
        self.guard = guard
        self.timeout = timeout
        self.tls = tls or ssl.create_default_context()

    def send(self, message: Message) -> Outcome:
        started = time.monotonic()
        try:
            status, after, error = self._post(message, started + self.timeout)
        except TargetRefusedError as refused:
            return Outcome(None, str(refused), duration_ms=self._ms(started))
        except TimeoutError:
            return Outcome(None, f"no answer within {self.timeout:g} s", duration_ms=self._ms(started))
        except ssl.SSLError as failure:
            return Outcome(None, f"TLS failed: {failure.reason or failure}", duration_ms=self._ms(started))
        except (OSError, http.client.HTTPException) as failure:
            return Outcome(None, f"{type(failure).__name__}: {failure}", duration_ms=self._ms(started))
        return Outcome(status, error, after, self._ms(started))

    def _post(self, message: Message, deadline: float) -> tuple[int, float | None, str | None]:
        parts = urlsplit(message.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = str(self.guard.addresses(host, port)[0])
        connection = self._connection(parts.scheme, host, port, address, deadline)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            sent = headers(message.secret, message.message_id, message.sent_at, message.body)
            sent |= {"content-type": CONTENT_TYPE, "user-agent": USER_AGENT}
            connection.request("POST", target, body=message.body, headers=sent)
            _left(connection, deadline)
            response = connection.getresponse()
            status = response.status
            after = retry_after(response.getheader("retry-after"), message.sent_at) if status in (429, 503) else None
            if 200 <= status < 300:
                return status, None, None
            _left(connection, deadline)
            error = _excerpt(response.read(EXCERPT_BYTES))
            if 300 <= status < 400:
                error = f"redirects are not followed (Location: {response.getheader('location', '')[:200]})"
            return status, after, error or None
        finally:
            connection.close()

    def _connection(
        self, scheme: str, host: str, port: int, address: str, deadline: float
    ) -> http.client.HTTPConnection:
        remaining = max(deadline - time.monotonic(), 0.001)
        if scheme == "https":
            return _PinnedHTTPS(host, port, address, remaining, self.tls)
        return _PinnedHTTP(host, port, address, remaining)

    @staticmethod
    def _ms(started: float) -> int:
        return round((time.monotonic() - started) * 1000)


def _left(connection: http.client.HTTPConnection, deadline: float) -> None:
    """Gives the socket what is left of the request's time (TimeoutError when nothing is)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    if connection.sock is not None:
        connection.sock.settimeout(remaining)
