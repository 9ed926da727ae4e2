"""Living routes: each stage's lifecycle, an event journal, and the state replayed from it.

- :mod:`~routing.lifecycle.model`: the state (stages, routes, history, waitlist);
- :mod:`~routing.lifecycle.events`: the commands and events;
- :mod:`~routing.lifecycle.apply`: the fold ``apply(state, event) -> state``;
- :mod:`~routing.lifecycle.journal`: the journal in SQLite or PostgreSQL (SQLAlchemy, Alembic);
- :mod:`~routing.lifecycle.repair`: re-planning a route after an event;
- :mod:`~routing.lifecycle.waitlist`: offering a freed slot;
- :mod:`~routing.lifecycle.service`: the Python API;
- :mod:`~routing.lifecycle.booking`: a planned route booked through the booking saga, every
  step journalled (:func:`book`);
- :mod:`~routing.lifecycle.seen`: the set of applied event ids the fold adds to.
"""

from __future__ import annotations

from routing.lifecycle.apply import apply, apply_all
from routing.lifecycle.booking import BookingRecord, book
from routing.lifecycle.events import EVENT_ADAPTER, Event, parse_event
from routing.lifecycle.journal import Journal
from routing.lifecycle.model import (
    ChangeReason,
    ChangeRecord,
    RouteState,
    StageState,
    StageStatus,
    State,
    WaitReason,
)
from routing.lifecycle.repair import Repair, RepairPolicy, repair
from routing.lifecycle.service import Service
from routing.lifecycle.waitlist import Offer, OfferRule, offer_freed_slot

__all__ = [
    "EVENT_ADAPTER",
    "BookingRecord",
    "ChangeReason",
    "ChangeRecord",
    "Event",
    "Journal",
    "Offer",
    "OfferRule",
    "Repair",
    "RepairPolicy",
    "RouteState",
    "Service",
    "StageState",
    "StageStatus",
    "State",
    "WaitReason",
    "apply",
    "apply_all",
    "book",
    "offer_freed_slot",
    "parse_event",
    "repair",
]
