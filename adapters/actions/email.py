"""Email actions over SMTP: host and port from the connector settings, the password from the secret it names.

The host must pass the SSRF guard (like webhook targets). The message's Message-ID derives from the idempotency
key, so a repeated attempt is recognisable as the same mail. STARTTLS when the settings ask for it, then login
when a user name is set. Temporary SMTP failures (4xx replies, dropped connections) may be tried again;
permanent ones (5xx replies, refused recipients or authentication) cannot succeed by repeating them.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from adapters.delivery.guard import AddressGuard, TargetRefusedError
from application.action_engine import ActionOutcome, ActionRequest

MAX_TIMEOUT = 60.0


def _message(request: ActionRequest) -> EmailMessage:
    settings = request.connector
    message = EmailMessage()
    message["From"] = str(settings["sender"])
    message["To"] = ", ".join(str(a) for a in settings["to"])
    message["Subject"] = request.rendered.get("subject", str(settings["subject"]))
    message["Message-ID"] = make_msgid(idstring=request.idempotency_key.replace(":", "."), domain="actions.platform")
    message["X-Idempotency-Key"] = request.idempotency_key
    message.set_content(request.body)
    return message


class SmtpActionSender:
    """Sends an ``email`` action through the SMTP server its connector names."""

    def __init__(self, guard: AddressGuard, timeout: float = 15.0, tls: ssl.SSLContext | None = None) -> None:
        self.guard, self.timeout = guard, timeout
        self.tls = tls or ssl.create_default_context()

    def send(self, request: ActionRequest) -> ActionOutcome:
        settings = request.connector
        host, port = str(settings["host"]), int(settings["port"])
        timeout = min(float(settings.get("timeout", self.timeout)), MAX_TIMEOUT)
        try:
            self.guard.addresses(host, port)
            with smtplib.SMTP(host, port, timeout=timeout) as smtp:
                if settings.get("starttls"):
                    smtp.starttls(context=self.tls)
                if settings.get("username"):
                    smtp.login(str(settings["username"]), request.secrets[str(settings["password_secret"])])
                refused = smtp.send_message(_message(request))
        except TargetRefusedError as error:
            return ActionOutcome(False, None, str(error), retryable=False)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as error:
            return ActionOutcome(False, None, f"{type(error).__name__}: {error}", retryable=False)
        except smtplib.SMTPResponseException as error:
            return ActionOutcome(
                False, error.smtp_code, f"SMTP {error.smtp_code}: {error.smtp_error!r}", error.smtp_code < 500
            )
        except (OSError, smtplib.SMTPException) as error:
            return ActionOutcome(False, None, f"{type(error).__name__}: {error}")
        if refused:
            return ActionOutcome(False, None, f"recipients refused: {', '.join(refused)}", retryable=False)
        return ActionOutcome(True, 250, f"sent to {len(settings['to'])} recipient(s)")
