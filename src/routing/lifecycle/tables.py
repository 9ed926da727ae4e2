"""The journal's tables (SQLAlchemy 2 typed ORM); the migrations create exactly these.

``journal_events`` is append-only: one row per event, in the order appended (``seq``), with
its unique id, its stream (the route, or ``"slots"``), its type and its JSON payload.
``slot_places`` holds, per slot, the places as the journal's events leave them and a version
bumped by every event that touches the slot: the row a writer updates, conditionally, in the
same transaction that appends its event (optimistic concurrency; see
:mod:`routing.lifecycle.journal`). ``notification_outbox`` holds the messages to patients
(:mod:`routing.notify`): one row per notice and channel, unique on both, so that a replayed
event never sends twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "EventRow", "OutboxRow", "SlotPlacesRow"]


class Base(DeclarativeBase):
    """The journal's metadata."""


class EventRow(Base):
    """One event of the journal."""

    __tablename__ = "journal_events"
    __table_args__ = (
        UniqueConstraint("event_id", name="uq_journal_events_event_id"),
        Index("ix_journal_events_stream", "stream"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200))
    stream: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlotPlacesRow(Base):
    """The places of one slot and the version of its row."""

    __tablename__ = "slot_places"

    slot_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer)
    booked: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[bool]
    version: Mapped[int] = mapped_column(Integer)


class OutboxRow(Base):
    """One message to one patient through one channel, and its delivery."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        UniqueConstraint("notice_key", "channel", name="uq_notification_outbox_key_channel"),
        Index("ix_notification_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_key: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(40))
    route_id: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
