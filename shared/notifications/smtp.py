"""Send e-mail over SMTP with smtplib: STARTTLS when configured, login when a username is set.

Every failure becomes a `DeliveryFailed` that says whether trying again can help: a 5xx reply about the
message or its recipient (RFC 5321 §4.2.1) is permanent; a refused connection, a timeout or a 4xx reply is
transient. A failed login is treated as transient: it is our configuration, not the notification, that is
wrong, so the notification keeps its remaining attempts for when an operator fixes it.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from shared.platform.settings import Settings


class DeliveryFailed(Exception):
    """The message was not accepted; `permanent` when sending it again cannot succeed."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout_seconds=settings.smtp_timeout_seconds,
        )

    def send(self, message: EmailMessage) -> None:
        """Hand one message to the SMTP server; raise `DeliveryFailed` if it was not accepted."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _reply in exc.recipients.values()]
            raise DeliveryFailed(_describe_refusals(exc), permanent=all(code >= 500 for code in codes)) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(
                f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)}", permanent=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(
                f"SMTP server {self.host}:{self.port} unavailable: {type(exc).__name__}: {exc}", permanent=False
            ) from None


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _describe_refusals(exc: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(
        f"{address} refused: SMTP {code} {_text(reply)}" for address, (code, reply) in exc.recipients.items()
    )
