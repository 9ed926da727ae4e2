"""Where messages go: e-mail over SMTP and a webhook for SMS or messenger gateways.

A channel sends one :class:`Message`; it raises :class:`RetryLaterError` when the failure may pass
(the server busy or down, a timeout, a 5xx answer) and :class:`UndeliverableError` when it will not
(no address for the patient, the gateway refusing the message). Error texts never carry the
message or the address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import httpx

__all__ = [
    "SIGNATURE_HEADER",
    "Channel",
    "DeliveryError",
    "EmailChannel",
    "Message",
    "RetryLaterError",
    "UndeliverableError",
    "WebhookChannel",
    "webhook_signature",
]

SIGNATURE_HEADER = "X-Routing-Signature"
"""The webhook's HMAC-SHA256 signature of the body: ``sha256=<hex>``."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message of the outbox, to one patient through one channel."""

    key: str
    channel: str
    route_id: str
    patient_id: str
    kind: str
    language: str
    subject: str
    body: str
    ics: str | None


class DeliveryError(Exception):
    """A message was not delivered; ``reason`` names what failed, never the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLaterError(DeliveryError):
    """The failure may pass: try again later."""


class UndeliverableError(DeliveryError):
    """The message cannot be delivered through this channel."""


class Channel(Protocol):
    """Sends messages (see the module docstring)."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`RetryLaterError` / :class:`UndeliverableError`."""
        ...


class EmailChannel:
    """E-mail over SMTP (stdlib ``smtplib``), the route's calendar attached as ``route.ics``.

    Parameters
    ----------
    host, port
        The SMTP server.
    sender
        The ``From`` address.
    addresses
        Patient pseudonym → e-mail address (the operator's contact directory).
    timeout
        Seconds for the connection and each command.
    starttls
        Upgrade the connection with STARTTLS before sending.
    """

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        addresses: Mapping[str, str],
        timeout: float = 10.0,
        starttls: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self._addresses = dict(addresses)
        self.timeout = timeout
        self.starttls = starttls

    def __repr__(self) -> str:
        return f"EmailChannel({self.host!r}, {self.port})"

    def send(self, message: Message) -> None:
        """Send one e-mail (see the class docstring)."""
        address = self._addresses.get(message.patient_id)
        if not address:
            raise UndeliverableError("no e-mail address for the patient")
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = address
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(domain="patient-routing")
        email["Content-Language"] = message.language
        email.set_content(message.body)
        if message.ics is not None:
            method = "CANCEL" if "METHOD:CANCEL" in message.ics else "PUBLISH"
            email.add_attachment(
                message.ics.encode("utf-8"),
                maintype="text",
                subtype="calendar",
                filename="route.ics",
                params={"method": method, "charset": "utf-8"},
            )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused:
            raise UndeliverableError("the SMTP server refused the recipient") from None
        except smtplib.SMTPResponseException as exc:
            kind = RetryLaterError if 400 <= exc.smtp_code < 500 else UndeliverableError
            raise kind(f"SMTP {exc.smtp_code}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise RetryLaterError(f"SMTP: {type(exc).__name__}") from None


def webhook_signature(secret: bytes, body: bytes) -> str:
    """The value of :data:`SIGNATURE_HEADER` for ``body``: ``sha256=<hex HMAC>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """A JSON POST to a gateway (SMS, messenger), signed with HMAC-SHA256.

    The body is ``{"key", "route_id", "patient_id", "kind", "language", "subject", "body"}``
    (the calendar is not sent: a text gateway cannot show it); headers
    :data:`SIGNATURE_HEADER` and ``Idempotency-Key`` (the message's key and channel: the same
    message retried carries the same key). A 2xx answer delivers; 408, 429 and 5xx, a timeout
    or a connection failure retry later; any other answer is final.

    Parameters
    ----------
    url
        The gateway's endpoint (http or https).
    secret
        The shared secret of the signature.
    timeout
        Seconds for the whole call.
    """

    name = "webhook"

    def __init__(
        self, url: str, *, secret: bytes, timeout: float = 10.0, name: str = "webhook"
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must be http or https")
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        self.url = url
        self.name = name
        self._secret = secret
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def __repr__(self) -> str:
        return f"WebhookChannel({self.url!r})"

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def send(self, message: Message) -> None:
        """POST one message (see the class docstring)."""
        body = json.dumps(
            {
                "key": message.key,
                "route_id": message.route_id,
                "patient_id": message.patient_id,
                "kind": message.kind,
                "language": message.language,
                "subject": message.subject,
                "body": message.body,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: webhook_signature(self._secret, body),
            "Idempotency-Key": f"{message.key}:{message.channel}",
        }
        try:
            answer = self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryLaterError(f"webhook: {type(exc).__name__}") from None
        if answer.is_success:
            return
        if answer.status_code in (408, 429) or answer.status_code >= 500:
            raise RetryLaterError(f"webhook HTTP {answer.status_code}")
        raise UndeliverableError(f"webhook HTTP {answer.status_code}")
