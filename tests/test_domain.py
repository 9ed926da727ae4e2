"""The routing domain models: each checks its own fields and shows no patient data."""

from __future__ import annotations

import math
import pickle
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nosology.pathway import VisitMode
from routing.domain import (
    NAIVE_TIMEZONE_KEY,
    Facility,
    GeoPoint,
    Patient,
    Period,
    RouteRequest,
    Slot,
    TravelModel,
)
from routing.exceptions import (
    CalendarRangeError,
    InvalidInputError,
    InvalidProblemError,
    RoutingError,
)

MSK = ZoneInfo("Europe/Moscow")
SPB = GeoPoint(lat=59.9386, lon=30.3141)
MOSCOW = GeoPoint(lat=55.7558, lon=37.6173)


def slot_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "S17",
        "facility_id": "F1",
        "service": "nmu:A06.09.005",
        "start": "2026-05-12T10:00:00+03:00",
        "end": "2026-05-12T10:30:00+03:00",
    }
    return data | changes


def request_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "R1",
        "patient": {"id": "P-001"},
        "diagnoses": ["C34.1"],
        "referral": "2026-05-08T09:00:00+03:00",
    }
    return data | changes


def facility(fid: str, location: GeoPoint | None = None) -> Facility:
    return Facility(id=fid, name=f"Facility {fid}", level=1, location=location)


def test_geopoint_distance_spb_moscow() -> None:
    """The haversine distance Saint Petersburg – Moscow is about 634 km, symmetric, 0 to itself."""
    assert SPB.distance_km(MOSCOW) == pytest.approx(634, abs=2)
    assert SPB.distance_km(MOSCOW) == pytest.approx(MOSCOW.distance_km(SPB))
    assert SPB.distance_km(SPB) == 0.0


@pytest.mark.parametrize(
    "point", [{"lat": 91, "lon": 0}, {"lat": 0, "lon": -181}, {"lat": float("nan"), "lon": 0}]
)
def test_geopoint_rejects_out_of_range(point: dict[str, float]) -> None:
    """Latitude beyond ±90, longitude beyond ±180 and NaN are rejected."""
    with pytest.raises(ValidationError):
        GeoPoint.model_validate(point)


@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.floats(-90, 90),
    st.floats(-180, 180),
)
@settings(max_examples=50, deadline=None)
def test_geopoint_distance_bounded(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    """Any distance lies between 0 and half the Earth's circumference."""
    d = GeoPoint(lat=lat1, lon=lon1).distance_km(GeoPoint(lat=lat2, lon=lon2))
    assert 0.0 <= d <= 20016.0


def test_facility_valid_and_offers() -> None:
    """A facility accepts services as 'system:code' strings and answers `offers`."""
    f = Facility.model_validate(
        {"id": "F1", "name": "ЦАОП 1", "level": 2, "services": ["fer:27", "nmu:A06.09.005"]}
    )
    assert f.offers("fer:27")
    assert not f.offers("fer:28")
    assert f.service_keys == frozenset({"fer:27", "nmu:A06.09.005"})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "F 1"}, "id"),
        ({"id": ""}, "id"),
        ({"level": 4}, "level"),
        ({"level": 0}, "level"),
        ({"services": ["fer:27", "fer:27"]}, "services"),
        ({"fax": "123"}, "fax"),
        ({"phone": ""}, "phone"),
    ],
)
def test_facility_rejects_bad_fields(changes: dict[str, Any], field: str) -> None:
    """Whitespace in ids, levels outside 1..3, duplicate services and unknown fields fail."""
    data = {"id": "F1", "name": "One", "level": 1} | changes
    with pytest.raises(ValidationError) as info:
        Facility.model_validate(data)
    assert info.value.errors()[0]["loc"][0] == field


def test_slot_valid() -> None:
    """A slot parses its service and aware times and defaults to capacity 1, in person."""
    slot = Slot.model_validate(slot_data())
    assert str(slot.service) == "nmu:A06.09.005"
    assert slot.capacity == 1
    assert slot.mode is VisitMode.IN_PERSON
    assert slot.duration == timedelta(minutes=30)


def test_slot_naive_datetime_rejected_naming_field() -> None:
    """A naive start is rejected, and the error names the field 'start'."""
    with pytest.raises(ValidationError) as info:
        Slot.model_validate(slot_data(start="2026-05-12T10:00:00"))
    assert [e["loc"] for e in info.value.errors()] == [("start",)]
    assert info.value.errors()[0]["type"] == "timezone_aware"


def test_slot_naive_datetime_with_context_zone_is_moscow() -> None:
    """With a zone in the validation context a naive time is read as Moscow time (UTC+3)."""
    slot = Slot.model_validate(
        slot_data(start=datetime(2026, 5, 12, 10, 0), end="2026-05-12T10:30"),  # noqa: DTZ001
        context={NAIVE_TIMEZONE_KEY: MSK},
    )
    assert slot.start.utcoffset() == timedelta(hours=3)
    assert slot.end.utcoffset() == timedelta(hours=3)
    assert slot.start == datetime(2026, 5, 12, 7, 0, tzinfo=UTC)


def test_slot_context_zone_keeps_explicit_offsets() -> None:
    """A value that carries its own offset keeps it even when a context zone is given."""
    slot = Slot.model_validate(
        slot_data(start="2026-05-12T10:00:00Z", end="2026-05-12T11:00:00Z"),
        context={NAIVE_TIMEZONE_KEY: MSK},
    )
    assert slot.start.utcoffset() == timedelta(0)


@pytest.mark.parametrize("end", ["2026-05-12T10:00:00+03:00", "2026-05-12T09:00:00+03:00"])
def test_slot_end_not_after_start(end: str) -> None:
    """A slot ending at or before its start is rejected naming the slot id and 'end'."""
    with pytest.raises(ValidationError) as info:
        Slot.model_validate(slot_data(end=end))
    message = str(info.value)
    assert "slot 'S17'" in message
    assert "field 'end'" in message


@pytest.mark.parametrize("capacity", [0, -1])
def test_slot_capacity_must_be_positive(capacity: int) -> None:
    """Capacity 0 or negative is rejected on the field 'capacity'."""
    with pytest.raises(ValidationError) as info:
        Slot.model_validate(slot_data(capacity=capacity))
    assert info.value.errors()[0]["loc"] == ("capacity",)


def test_period_end_after_start() -> None:
    """A period must end after it starts; `overlaps` is half-open."""
    start = datetime(2026, 5, 12, 10, tzinfo=MSK)
    with pytest.raises(ValidationError, match="end must be after start"):
        Period(start=start, end=start)
    period = Period(start=start, end=start + timedelta(hours=1))
    assert period.overlaps(start + timedelta(minutes=59), start + timedelta(hours=2))
    assert not period.overlaps(start + timedelta(hours=1), start + timedelta(hours=2))


def test_patient_repr_shows_only_id() -> None:
    """The repr and str of a patient show the id and nothing else."""
    patient = Patient.model_validate(
        {
            "id": "P-001",
            "location": {"lat": 59.9, "lon": 30.3},
            "district": "Kalininsky",
            "allowed_facilities": ["F1"],
            "preferred_facilities": ["F1"],
        }
    )
    assert repr(patient) == "Patient(id='P-001')"
    assert "Kalininsky" not in str(patient)
    assert "59.9" not in str(patient)


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "Ivanov Ivan"},
        {"id": "P.1"},
        {"name": "Ivanov"},
        {"max_visits_per_day": 0},
        {"allowed_facilities": []},
        {"preferred_facilities": ["F1", "F1"]},
    ],
)
def test_patient_rejects_bad_fields(changes: dict[str, Any]) -> None:
    """Non-pseudonymous ids, personal fields, zero visits a day and bad facility lists fail."""
    with pytest.raises(ValidationError) as info:
        Patient.model_validate({"id": "P1"} | changes)
    assert "Ivanov" not in str(info.value)


def test_patient_may_use() -> None:
    """`allowed_facilities=None` allows any facility; a set allows only its members."""
    assert Patient(id="P1").may_use("F9")
    restricted = Patient(id="P1", allowed_facilities=frozenset({"F1"}))
    assert restricted.may_use("F1")
    assert not restricted.may_use("F9")


def test_request_repr_hides_diagnoses_and_dates() -> None:
    """No diagnosis code or reference date appears in the repr of a request."""
    request = RouteRequest.model_validate(
        request_data(reference_dates={"last_menstrual_period": "2026-03-03"})
    )
    text = repr(request) + str(request)
    assert "R1" in text
    assert "P-001" in text
    assert "C34" not in text
    assert "2026-03-03" not in text
    assert request.horizon_days == 90
    assert request.region == "RU-SPE"


def test_request_errors_do_not_echo_diagnoses() -> None:
    """A bad request's error message does not contain its diagnosis codes."""
    with pytest.raises(ValidationError) as info:
        RouteRequest.model_validate(request_data(referral="2026-05-08T09:00", diagnoses=["C34.1"]))
    assert "C34" not in str(info.value)


def test_request_needs_a_pathway_source() -> None:
    """A request with no diagnoses, pathway_id or pathway is rejected naming 'diagnoses'."""
    with pytest.raises(ValidationError, match=r"request 'R1', field 'diagnoses'"):
        RouteRequest.model_validate(request_data(diagnoses=[]))
    assert RouteRequest.model_validate(request_data(diagnoses=[], pathway_id="zno_lung")).pathway_id


def test_request_inline_pathway_must_match_id_and_stages() -> None:
    """An inline pathway must agree with pathway_id, and bookings must name its stages."""
    pathway = {
        "id": "mini",
        "title": {"ru": "Мини", "en": "Mini"},
        "applicability": {"codes": ["C34"]},
        "stages": [{"id": "ct", "title": {"ru": "КТ", "en": "CT"}, "services": ["nmu:A06"]}],
    }
    ok = RouteRequest.model_validate(request_data(pathway=pathway, existing_bookings={"ct": "S1"}))
    assert ok.pathway is not None
    with pytest.raises(ValidationError, match="field 'pathway_id'"):
        RouteRequest.model_validate(request_data(pathway=pathway, pathway_id="other"))
    with pytest.raises(ValidationError, match=r"field 'existing_bookings\.mri'"):
        RouteRequest.model_validate(request_data(pathway=pathway, existing_bookings={"mri": "S1"}))


def test_travel_same_facility_and_matrix_either_direction() -> None:
    """Same facility is 0 minutes; a matrix entry applies in both directions and wins."""
    a, b, c = facility("A", SPB), facility("B", MOSCOW), facility("C")
    travel = TravelModel(matrix={"A": {"B": 42}})
    assert travel.minutes(a, a) == 0
    assert travel.minutes(a, b) == 42
    assert travel.minutes(b, a) == 42
    assert travel.minutes(a, c) == travel.unknown_minutes == 60


def test_travel_from_distance() -> None:
    """Without a matrix entry: ceil(distance / speed · 60) + overhead."""
    a = facility("A", GeoPoint(lat=59.93, lon=30.30))
    b = facility("B", GeoPoint(lat=59.93, lon=30.40))
    km = a.location.distance_km(b.location)  # type: ignore[union-attr]
    travel = TravelModel(speed_kmh=30, overhead_minutes=10)
    assert travel.minutes(a, b) == math.ceil(km / 30 * 60) + 10
    assert TravelModel(unknown_minutes=5).minutes(a, facility("C")) == 5


@given(
    st.floats(-90, 90),
    st.floats(-180, 180),
    st.lists(st.one_of(st.none(), st.tuples(st.floats(-90, 90), st.floats(-180, 180))), max_size=8),
    st.floats(0.5, 200),
)
@settings(max_examples=200, deadline=None)
def test_travel_from_home_to_each_is_from_home(
    lat: float, lon: float, places: list[tuple[float, float] | None], speed: float
) -> None:
    """The solver's batch of home legs equals :meth:`TravelModel.from_home` minute for minute."""
    home = GeoPoint(lat=lat, lon=lon)
    facilities = [
        facility(f"F{n}", None if p is None else GeoPoint(lat=p[0], lon=p[1]))
        for n, p in enumerate(places)
    ]
    travel = TravelModel(speed_kmh=speed, overhead_minutes=7, unknown_minutes=33)
    expected = [travel.from_home(home, f) for f in facilities]
    assert travel.from_home_to_each(home, facilities) == expected


def test_travel_from_many_homes_of_a_city_is_from_home() -> None:
    """The home legs over a city's facilities, home by home, equal :meth:`TravelModel.from_home`
    minute for minute (in the wheel they run compiled, the single legs do not)."""
    rng = random.Random(11)
    facilities = [
        facility(f"F{n}", GeoPoint(lat=rng.uniform(59.7, 60.1), lon=rng.uniform(29.6, 30.7)))
        for n in range(180)
    ] + [facility("nowhere")]
    travel = TravelModel(speed_kmh=23.5, overhead_minutes=12, unknown_minutes=41)
    sites = travel.sites(facilities)
    for _ in range(150):
        home = GeoPoint(lat=rng.uniform(59.6, 60.2), lon=rng.uniform(29.5, 30.8))
        expected = [travel.from_home(home, f) for f in facilities]
        assert travel.from_home_to_sites(home, sites) == expected
    assert expected[-1] == 41


@pytest.mark.parametrize("changes", [{"speed_kmh": 0}, {"overhead_minutes": -1}])
def test_travel_rejects_bad_parameters(changes: dict[str, Any]) -> None:
    """Speed must be positive and overhead non-negative."""
    with pytest.raises(ValidationError):
        TravelModel.model_validate(changes)


def test_exception_messages_and_hierarchy() -> None:
    """InvalidInputError names record and field, is a ValueError, and pickles."""
    error = InvalidInputError("slot 'S17'", "end", "end must be after start")
    assert str(error) == "slot 'S17', field 'end': end must be after start"
    assert isinstance(error, RoutingError)
    assert isinstance(error, ValueError)
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
    assert str(InvalidInputError("problem", "", "not JSON")) == "problem: not JSON"
    assert issubclass(CalendarRangeError, InvalidInputError)


def test_problem_error_carries_all_issues() -> None:
    """InvalidProblemError reports the first issue, counts the rest, and pickles."""
    issues = [InvalidInputError("slot 'S1'", "end", "x"), InvalidInputError("slots[1]", "id", "y")]
    error = InvalidProblemError(issues)
    assert error.record == "slot 'S1'"
    assert error.field == "end"
    assert str(error) == "slot 'S1', field 'end': x (and 1 more issue)"
    assert pickle.loads(pickle.dumps(error)).issues[1].record == "slots[1]"
    with pytest.raises(ValueError, match="at least one issue"):
        InvalidProblemError([])
