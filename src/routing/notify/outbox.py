"""The notification outbox: messages stored beside the journal, then delivered in order.

:meth:`Outbox.enqueue` stores one row per notice and channel (the table's unique key), so that
notices derived again after any replay add nothing: one message per change and channel.
:meth:`Outbox.deliver` sends the due messages oldest first, in order per patient: a patient's
message waits while an older one of theirs is not yet delivered (retrying or not due). A
failure that may pass is retried with exponential backoff (``base · 2^(attempts - 1)``, at most
``ceiling``); after ``max_attempts``, or on a final failure, the message is ``failed`` with the
reason (never its text) and the patient's later messages go on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from routing.exceptions import InvalidInputError
from routing.lifecycle.journal import Journal
from routing.lifecycle.tables import OutboxRow
from routing.notify.channels import Channel, Message, RetryLaterError, UndeliverableError
from routing.notify.notices import Notice

__all__ = ["Backoff", "DeliveryReport", "Outbox", "OutboxStatus"]

logger = logging.getLogger(__name__)

_KEYS_PER_QUERY = 500
"""Notice keys looked up per query (SQLite allows 999 bound parameters in older builds)."""


class OutboxStatus(StrEnum):
    """Where a message stands."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Backoff:
    """When to try a message again, and how often at most."""

    base: timedelta = timedelta(minutes=1)
    ceiling: timedelta = timedelta(hours=1)
    max_attempts: int = 6

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInputError("backoff", "max_attempts", "must be at least 1")
        if self.base <= timedelta(0) or self.ceiling < self.base:
            raise InvalidInputError("backoff", "base", "must be positive and at most ceiling")

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt."""
        wait: timedelta = self.base * (2 ** max(0, attempts - 1))
        return min(self.ceiling, wait)


@dataclass(slots=True)
class DeliveryReport:
    """What one :meth:`Outbox.deliver` did, by message key and channel."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    retrying: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)
    """Not tried: not due yet, or behind an older message of the same patient."""


class Outbox:
    """The outbox in the journal's database (the journal's migrations create its table).

    Parameters
    ----------
    journal
        The journal whose database holds the outbox.
    backoff
        Retry timing.
    """

    def __init__(self, journal: Journal, backoff: Backoff | None = None) -> None:
        self.journal = journal
        self.backoff = backoff or Backoff()

    def enqueue(self, notices: Iterable[Notice], channels: Sequence[str], now: datetime) -> int:
        """Store each notice for each channel, unless stored already; how many were new."""
        if now.tzinfo is None:
            raise InvalidInputError("outbox", "now", "needs a time zone")
        now = now.astimezone(UTC)
        wanted = [(n, c) for n in notices for c in channels]
        if not wanted:
            return 0
        added = 0
        keys = sorted({n.key for n, _ in wanted})
        with self.journal.engine.begin() as connection:
            known: set[tuple[str, str]] = set()
            for at in range(0, len(keys), _KEYS_PER_QUERY):  # SQLite caps bound parameters
                chunk = keys[at : at + _KEYS_PER_QUERY]
                known.update(
                    (row.notice_key, row.channel)
                    for row in connection.execute(
                        select(OutboxRow.notice_key, OutboxRow.channel).where(
                            OutboxRow.notice_key.in_(chunk)
                        )
                    )
                )
            for notice, channel in wanted:
                if (notice.key, channel) in known:
                    continue
                known.add((notice.key, channel))
                connection.execute(
                    insert(OutboxRow).values(
                        notice_key=notice.key,
                        channel=channel,
                        route_id=notice.route_id,
                        patient_id=notice.patient_id,
                        kind=notice.kind.value,
                        language=notice.language,
                        subject=notice.subject,
                        body=notice.body,
                        ics=notice.ics,
                        status=OutboxStatus.PENDING.value,
                        attempts=0,
                        next_attempt_at=now,
                        last_error=None,
                        created_at=now,
                        sent_at=None,
                    )
                )
                added += 1
        logger.info("outbox: %d message(s) added", added)
        return added

    def enqueue_safely(
        self, notices: Iterable[Notice], channels: Sequence[str], now: datetime
    ) -> int:
        """:meth:`enqueue`, where another writer adding the same message at the same time is
        not an error (its row stands)."""
        try:
            return self.enqueue(notices, channels, now)
        except IntegrityError:
            logger.info("outbox: another writer added the same messages; taking theirs")
            return 0

    def messages(self, *, status: OutboxStatus | None = None) -> list[tuple[Message, str, int]]:
        """Every message (or those of ``status``), oldest first: ``(message, status,
        attempts)``."""
        query = select(OutboxRow).order_by(OutboxRow.id)
        if status is not None:
            query = query.where(OutboxRow.status == status.value)
        with self.journal.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [(_message(r), r.status, r.attempts) for r in rows]

    def deliver(self, channels: Mapping[str, Channel], now: datetime) -> DeliveryReport:
        """Send the due messages through ``channels`` (by name); see the module docstring.

        Messages of a channel not in ``channels`` wait.
        """
        if now.tzinfo is None:
            raise InvalidInputError("outbox", "now", "needs a time zone")
        now = now.astimezone(UTC)
        report = DeliveryReport()
        with self.journal.engine.connect() as connection:
            rows = connection.execute(
                select(OutboxRow)
                .where(OutboxRow.status == OutboxStatus.PENDING.value)
                .order_by(OutboxRow.id)
            ).all()
        held: set[tuple[str, str]] = set()  # (patient, channel) with an older message waiting
        for row in rows:
            who = (row.patient_id, row.channel)
            ident = (row.notice_key, row.channel)
            channel = channels.get(row.channel)
            if who in held or channel is None or _aware(row.next_attempt_at) > now:
                held.add(who)
                report.waiting.append(ident)
                continue
            try:
                channel.send(_message(row))
            except RetryLaterError as exc:
                attempts = row.attempts + 1
                if attempts >= self.backoff.max_attempts:
                    self._finish(row.id, OutboxStatus.FAILED, attempts, exc.reason, now)
                    report.failed.append(ident)
                else:
                    self._retry(row.id, attempts, exc.reason, now + self.backoff.delay(attempts))
                    report.retrying.append(ident)
                    held.add(who)
                continue
            except UndeliverableError as exc:
                self._finish(row.id, OutboxStatus.FAILED, row.attempts + 1, exc.reason, now)
                report.failed.append(ident)
                continue
            self._finish(row.id, OutboxStatus.SENT, row.attempts + 1, None, now)
            report.sent.append(ident)
        logger.info(
            "outbox: %d sent, %d to retry, %d failed, %d waiting",
            len(report.sent),
            len(report.retrying),
            len(report.failed),
            len(report.waiting),
        )
        return report

    def _retry(self, row_id: int, attempts: int, reason: str, when: datetime) -> None:
        with self.journal.engine.begin() as connection:
            connection.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id)
                .values(attempts=attempts, last_error=reason[:200], next_attempt_at=when)
            )

    def _finish(
        self, row_id: int, status: OutboxStatus, attempts: int, reason: str | None, now: datetime
    ) -> None:
        with self.journal.engine.begin() as connection:
            connection.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id)
                .values(
                    status=status.value,
                    attempts=attempts,
                    last_error=None if reason is None else reason[:200],
                    sent_at=now if status is OutboxStatus.SENT else None,
                )
            )


def _aware(moment: datetime) -> datetime:
    """SQLite returns stored times without their zone: they are stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _message(row: Any) -> Message:
    return Message(
        key=row.notice_key,
        channel=row.channel,
        route_id=row.route_id,
        patient_id=row.patient_id,
        kind=row.kind,
        language=row.language,
        subject=row.subject,
        body=row.body,
        ics=row.ics,
    )
