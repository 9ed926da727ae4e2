"""Slots: bookable appointments at a facility."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import PositiveInt, StringConstraints, model_validator

from nosology.pathway import FrozenModel, ServiceRef, VisitMode
from routing.domain.common import Instant, RecordId, record_name
from routing.exceptions import InvalidInputError

__all__ = ["Slot"]


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
        How many patients it takes (usually 1).
    resource
        The doctor, room or device it books, if known.
    mode
        In person or remote (telemedicine).
    """

    id: RecordId
    facility_id: RecordId
    service: ServiceRef
    start: Instant
    end: Instant
    capacity: PositiveInt = 1
    resource: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    mode: VisitMode = VisitMode.IN_PERSON

    @model_validator(mode="after")
    def _check_times(self) -> Self:
        if self.end <= self.start:
            raise InvalidInputError(record_name("slot", self.id), "end", "end must be after start")
        return self

    @property
    def duration(self) -> timedelta:
        """``end - start``."""
        return self.end - self.start
