"""One ``ActionSender`` for every kind: it hands each request to the sender of its kind."""

from __future__ import annotations

from collections.abc import Mapping

from application.action_engine import ActionOutcome, ActionRequest, ActionSender


class SendersByKind:
    """Chooses the sender by the template's kind (http, webhook, nats, email)."""

    def __init__(self, senders: Mapping[str, ActionSender]) -> None:
        self.senders = dict(senders)

    def send(self, request: ActionRequest) -> ActionOutcome:
        sender = self.senders.get(request.kind)
        if sender is None:
            return ActionOutcome(False, None, f"no connector for {request.kind} actions is configured", retryable=False)
        return sender.send(request)
