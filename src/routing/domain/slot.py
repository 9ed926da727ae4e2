"""Slots: bookable appointments at a facility."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import Field, Strict, StringConstraints, model_validator

from nosology.pathway import FrozenModel, PlainText, ServiceRef, VisitMode
from routing.domain.common import Instant, RecordId, record_name
from routing.exceptions import InvalidInputError

__all__ = ["MAX_CAPACITY", "Slot"]

MAX_CAPACITY = 10_000
"""The most patients one slot may take (a group session, a screening day)."""


class Slot(FrozenModel):
    """A bookable appointment: a service at a facility over ``[start, end)``.

    Attributes
    ----------
    id
        Unique in a problem.
    facility_id
        The facility that gives it.
    service
        The service it provides.
    start, end
        Timezone-aware; ``end`` after ``start``.
    capacity
        How many patients it takes (usually 1; at most :data:`MAX_CAPACITY`).
    resource
        The doctor, room or device it books, if known.
    mode
        In person or remote (telemedicine); never ``either`` (that is for stages).
    room
        The room or cabinet (кабинет), if the source says.
    address
        Where the appointment takes place when the source gives it per appointment (a facility
        with several buildings); the facility's address otherwise.
    """

    id: RecordId
    facility_id: RecordId
    service: ServiceRef
    start: Instant
    end: Instant
    capacity: Annotated[int, Strict(), Field(ge=1, le=MAX_CAPACITY)] = 1
    resource: Annotated[PlainText, StringConstraints(min_length=1, max_length=200)] | None = None
    mode: VisitMode = VisitMode.IN_PERSON
    room: Annotated[PlainText, StringConstraints(min_length=1, max_length=100)] | None = None
    address: Annotated[PlainText, StringConstraints(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _check_times(self) -> Self:
        if self.end <= self.start:
            raise InvalidInputError(record_name("slot", self.id), "end", "end must be after start")
        if self.mode is VisitMode.EITHER:
            raise InvalidInputError(
                record_name("slot", self.id), "mode", "a slot is in_person or remote, not either"
            )
        return self

    @property
    def duration(self) -> timedelta:
        """``end - start``."""
        return self.end - self.start
