"""The journal's first schema: the append-only events and the per-slot places.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``journal_events`` and ``slot_places``."""
    op.create_table(
        "journal_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("stream", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id", name="uq_journal_events_event_id"),
    )
    op.create_index("ix_journal_events_stream", "journal_events", ["stream"])
    op.create_table(
        "slot_places",
        sa.Column("slot_id", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("slot_id"),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("slot_places")
    op.drop_index("ix_journal_events_stream", table_name="journal_events")
    op.drop_table("journal_events")
