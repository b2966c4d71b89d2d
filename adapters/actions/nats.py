"""NATS actions: the rendered body published to a subject under the tenant's own prefix.

Subjects are ``actions.<tenant id>.<subject>``, so one tenant's playbooks cannot publish into the platform's or
another tenant's subjects. The server is the connector's ``url`` when given (through the SSRF guard) or the
platform's; credentials, when needed, are a secret holding a NATS creds file. One connection per delivery (actions
are rare); the idempotency key goes in ``Nats-Msg-Id``, which JetStream uses to drop duplicates.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from urllib.parse import urlsplit

import nats

from adapters.delivery.guard import AddressGuard, TargetRefusedError
from application.action_engine import ActionOutcome, ActionRequest

SUBJECT_PREFIX = "actions"


def subject_for(tenant_id: str, subject: str) -> str:
    return f"{SUBJECT_PREFIX}.{tenant_id}.{subject}"


class NatsActionSender:
    """Publishes a ``nats`` action and waits for the server to have it (a flush)."""

    def __init__(self, guard: AddressGuard, default_url: str, timeout: float = 5.0) -> None:
        self.guard, self.default_url, self.timeout = guard, default_url, timeout

    def send(self, request: ActionRequest) -> ActionOutcome:
        url = str(request.connector.get("url") or self.default_url)
        subject = subject_for(request.tenant_id, str(request.connector["subject"]))
        try:
            if request.connector.get("url"):
                parts = urlsplit(url)
                self.guard.addresses(parts.hostname or "", parts.port or 4222)
            asyncio.run(self._publish(url, subject, request))
        except TargetRefusedError as error:
            return ActionOutcome(False, None, str(error), retryable=False)
        except Exception as error:  # nats-py raises its own error types and timeouts; each is a failed attempt
            return ActionOutcome(False, None, f"{type(error).__name__}: {error}")
        return ActionOutcome(True, None, f"published to {subject}")

    async def _publish(self, url: str, subject: str, request: ActionRequest) -> None:
        creds = request.connector.get("credentials_secret")
        path = None
        if creds:
            handle, path = tempfile.mkstemp(suffix=".creds")
            with os.fdopen(handle, "w") as file:
                file.write(request.secrets[str(creds)])
        try:
            options = {"user_credentials": path} if path else {}
            # nats-py keeps retrying a refused first connection, whatever its options say: bound it here.
            client = await asyncio.wait_for(
                nats.connect(
                    url, connect_timeout=self.timeout, max_reconnect_attempts=0, allow_reconnect=False, **options
                ),
                timeout=self.timeout,
            )
            try:
                headers = {"Nats-Msg-Id": request.idempotency_key, "Content-Type": "application/json"}
                await client.publish(subject, request.body.encode(), headers=headers)
                await client.flush(timeout=max(1, round(self.timeout)))
            finally:
                await client.close()
        finally:
            if path:
                os.unlink(path)
