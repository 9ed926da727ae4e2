"""Proactive informing: notices from the lifecycle's changes, an outbox, e-mail and webhooks.

:func:`state_notices` words what each patient must be told (booked, changed, cancelled,
reminder, result due; :func:`at_risk_notice` from a repair), :class:`Outbox` stores them beside
the journal, one per notice and channel, and delivers them in order per patient with retries
through :class:`EmailChannel` (SMTP, the calendar attached) and :class:`WebhookChannel`
(signed JSON for SMS or messenger gateways). ``routing notify`` does both from the command line.
"""

from routing.notify.channels import (
    Channel,
    DeliveryError,
    EmailChannel,
    Message,
    RetryLaterError,
    UndeliverableError,
    WebhookChannel,
    webhook_signature,
)
from routing.notify.notices import (
    Notice,
    NoticeKind,
    at_risk_notice,
    route_notices,
    state_notices,
)
from routing.notify.outbox import Backoff, DeliveryReport, Outbox, OutboxStatus

__all__ = [
    "Backoff",
    "Channel",
    "DeliveryError",
    "DeliveryReport",
    "EmailChannel",
    "Message",
    "Notice",
    "NoticeKind",
    "Outbox",
    "OutboxStatus",
    "RetryLaterError",
    "UndeliverableError",
    "WebhookChannel",
    "at_risk_notice",
    "route_notices",
    "state_notices",
    "webhook_signature",
]
