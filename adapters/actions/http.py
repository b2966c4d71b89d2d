"""HTTP actions: a request with an idempotency key, and webhook events signed as Standard Webhooks says.

The HTTP request goes only where the SSRF guard (``adapters/delivery/guard.py``) allows, to the address it allowed
(no second lookup), with one time limit for the whole request; redirects are not followed. A 2xx is delivered;
429, 5xx, timeouts and connection failures may be tried again; any other status cannot succeed by repeating it.
Webhook events go through the webhooks' own sender (``adapters/delivery/http.py``), signed with the secret the
connector names.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from urllib.parse import urlsplit

from adapters.delivery.guard import AddressGuard, TargetRefusedError
from adapters.delivery.http import HttpSender
from application.action_engine import ActionOutcome, ActionRequest
from application.webhooks import Message

USER_AGENT = "governed-data-platform-actions/1"
MAX_TIMEOUT = 60.0
EXCERPT = 300


def outcome_of(status: int | None, detail: str) -> ActionOutcome:
    """A status as an outcome: 2xx delivered; 429 and 5xx (and no answer) worth another try; the rest not."""
    if status is not None and 200 <= status < 300:
        return ActionOutcome(True, status, detail or f"HTTP {status}")
    retryable = status is None or status == 429 or status >= 500
    return ActionOutcome(False, status, detail or f"HTTP {status}", retryable)


class _Pinned(http.client.HTTPConnection):
    """A connection to a given address whatever the host name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=tls)
        self.address, self.tls = address, tls

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


class HttpActionSender:
    """Makes the HTTP request of an ``http`` action."""

    def __init__(self, guard: AddressGuard, timeout: float = 15.0, tls: ssl.SSLContext | None = None) -> None:
        self.guard, self.timeout = guard, timeout
        self.tls = tls or ssl.create_default_context()

    def send(self, request: ActionRequest) -> ActionOutcome:
        settings = request.connector
        timeout = min(float(settings.get("timeout", self.timeout)), MAX_TIMEOUT)
        try:
            status, excerpt = self._request(request, timeout)
        except TargetRefusedError as refused:
            return ActionOutcome(False, None, str(refused), retryable=False)
        except TimeoutError:
            return ActionOutcome(False, None, f"no answer within {timeout:g} s")
        except (OSError, http.client.HTTPException) as failure:
            return ActionOutcome(False, None, f"{type(failure).__name__}: {failure}")
        return outcome_of(status, excerpt)

    def _request(self, request: ActionRequest, timeout: float) -> tuple[int, str]:
        settings = request.connector
        parts = urlsplit(str(settings["url"]))
        host, tls = parts.hostname or "", parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        address = str(self.guard.addresses(host, port)[0])
        connection: http.client.HTTPConnection = (
            _PinnedTLS(host, port, address, timeout, self.tls) if tls else _Pinned(host, port, address, timeout)
        )
        deadline = time.monotonic() + timeout
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(
                str(settings.get("method", "POST")).upper(), target, request.body.encode(), self._headers(request)
            )
            if connection.sock is not None:
                connection.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            response = connection.getresponse()
            body = response.read(EXCERPT).decode("utf-8", "replace")
            return response.status, " ".join(body.split())[:EXCERPT]
        finally:
            connection.close()

    @staticmethod
    def _headers(request: ActionRequest) -> dict[str, str]:
        settings = request.connector
        headers = {str(k).lower(): str(v) for k, v in (settings.get("headers") or {}).items()}
        headers.setdefault("content-type", "application/json")
        headers |= {"idempotency-key": request.idempotency_key, "user-agent": USER_AGENT}
        if settings.get("auth_secret"):
            scheme = str(settings.get("auth_scheme", "Bearer"))
            headers["authorization"] = f"{scheme} {request.secrets[str(settings['auth_secret'])]}"
        return headers


class WebhookActionSender:
    """Posts a ``webhook`` action as a signed Standard Webhooks request (the idempotency key is the webhook-id)."""

    def __init__(self, sender: HttpSender) -> None:
        self.sender = sender

    def send(self, request: ActionRequest) -> ActionOutcome:
        secret = request.secrets[str(request.connector["signing_secret"])]
        message = Message(
            str(request.connector["url"]), request.idempotency_key, request.sent_at, request.body.encode(), secret
        )
        sent = self.sender.send(message)
        return outcome_of(sent.status, sent.error or "")
