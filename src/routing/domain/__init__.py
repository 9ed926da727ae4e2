"""The routing domain: facilities, slots, patients, requests and travel, as frozen models.

Each model checks its own fields; cross-references between records are checked once, by
:class:`routing.problem.Problem`.
"""

from routing.domain.common import (
    NAIVE_TIMEZONE_KEY,
    Instant,
    PatientId,
    RecordId,
    record_name,
    resolve_timezone,
)
from routing.domain.facility import Facility
from routing.domain.geo import GeoPoint
from routing.domain.patient import Patient, Period
from routing.domain.request import RouteRequest
from routing.domain.slot import Slot
from routing.domain.travel import TravelModel

__all__ = [
    "NAIVE_TIMEZONE_KEY",
    "Facility",
    "GeoPoint",
    "Instant",
    "Patient",
    "PatientId",
    "Period",
    "RecordId",
    "RouteRequest",
    "Slot",
    "TravelModel",
    "record_name",
    "resolve_timezone",
]
