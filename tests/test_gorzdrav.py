"""The city portal's records: every recorded answer parses, envelopes, times, mapping to slots."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.pathway import ServiceRef, VisitMode
from routing.adapters.gorzdrav import (
    DEFAULT_TYPE_LEVELS,
    PORTAL_TIMEZONE,
    Appointment,
    GorzdravError,
    GorzdravFormatError,
    Lpu,
    MappingOptions,
    PortalAnswer,
    PortalError,
    PortalModel,
    PortalRetryableError,
    appointment_to_slot,
    appointments_to_slots,
    lpu_to_facility,
    lpus_to_facilities,
    parse_appointments,
    parse_districts,
    parse_doctors,
    parse_lpus,
    parse_specialties,
    parse_timetable,
    read_envelope,
    specialty_service,
    timetable_appointments,
)
from routing.exceptions import InvalidInputError, RoutingError

DATA = Path(__file__).parent / "data" / "gorzdrav"
FER27 = ServiceRef(system="fer", code="27")
PARSERS = (
    parse_districts,
    parse_lpus,
    parse_specialties,
    parse_doctors,
    parse_appointments,
    parse_timetable,
)


@cache
def raw(name: str) -> bytes:
    """A recorded answer, as bytes."""
    return (DATA / name).read_bytes()


def decoded(name: str) -> Any:
    """A recorded answer, decoded (a fresh copy each call)."""
    return json.loads(raw(name))


def envelope(result: Any) -> dict[str, Any]:
    """A successful envelope around ``result``."""
    return {"result": result, "success": True, "errorCode": 0, "message": None, "stackTrace": None}


def error_envelope(code: int, request_id: str = "req-1") -> bytes:
    """An error envelope with ``code``."""
    body = {"success": False, "errorCode": code, "message": "Иванов И.И.", "requestId": request_id}
    return json.dumps(body, ensure_ascii=False).encode()


# --------------------------------------------------------------------------- recorded answers


@pytest.mark.parametrize(
    ("name", "parser", "count"),
    [
        ("DistrictListResponse_example.json", parse_districts, 18),
        ("DistrictResponse_example.json", parse_lpus, 38),
        ("DistrictResponse_invalid.json", parse_lpus, 0),
        ("SpecialtyListResponse_example.json", parse_specialties, 10),
        ("SpecialtyDoctorsListResponse_example.json", parse_doctors, 16),
        ("DoctorAppointmentsResponse_example.json", parse_appointments, 68),
        ("DoctorTimetableResponse_example.json", parse_timetable, 22),
    ],
)
def test_every_recorded_answer_parses(name: str, parser: Any, count: int) -> None:
    """Each recorded answer parses in full, from bytes, text and decoded JSON alike."""
    assert count == len(decoded(name)["result"])
    for form in (raw(name), raw(name).decode(), decoded(name)):
        answer = parser(form)
        assert len(answer.records) == count
        assert answer.rejected == ()
        assert answer.empty_code is None


def test_no_free_tickets_is_an_empty_answer() -> None:
    """Error 39 (the recorded 'no free tickets') gives no records and keeps the request id."""
    answer = parse_appointments(raw("DoctorAppointmentsNotAvailableResponse_example.json"))
    assert answer.records == ()
    assert answer.empty_code == 39
    assert answer.request_id == "bfc92b0e-0510-4f5d-b4a1-b9d4c47e8a36"


@pytest.mark.parametrize(("code", "parser"), [(37, parse_specialties), (38, parse_doctors)])
def test_no_specialties_or_doctors_is_empty(code: int, parser: Any) -> None:
    """Errors 37 and 38 are empty answers, not failures."""
    answer = parser(error_envelope(code))
    assert (answer.records, answer.empty_code) == ((), code)


@pytest.mark.parametrize("code", [603, 616])
def test_clinic_system_failure_is_retryable(code: int) -> None:
    """Errors 603 and 616 raise the retryable error, naming the request id."""
    with pytest.raises(PortalRetryableError) as caught:
        parse_appointments(
            error_envelope(code, "abc-603"), "/schedule/lpu/44/doctor/d1/appointments"
        )
    assert caught.value.retryable
    assert caught.value.error_code == code
    assert "abc-603" in str(caught.value)
    assert "/schedule/lpu/44/doctor/d1/appointments" in str(caught.value)


def test_unknown_error_code_names_request_id_without_message() -> None:
    """Any other code raises a non-retryable PortalError naming the requestId, not the message."""
    with pytest.raises(PortalError) as caught:
        parse_doctors(error_envelope(1234, "f00d-42"))
    error = caught.value
    assert isinstance(error, RoutingError)
    assert not isinstance(error, PortalRetryableError)
    assert not error.retryable
    assert (error.error_code, error.request_id) == (1234, "f00d-42")
    assert "f00d-42" in str(error)
    assert "1234" in str(error)
    assert "Иванов" not in str(error)


def test_error_without_request_id_says_so() -> None:
    """A failure envelope without requestId or code still gives a clear PortalError."""
    with pytest.raises(PortalError, match="request id absent"):
        read_envelope({"success": False})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"success": tru', ""),
        (b"\xff\xfe\x00", ""),
        (b"[1, 2]", ""),
        (b'{"result": []}', "success"),
        (b'{"success": true, "result": {"id": 1}}', "result"),
    ],
)
def test_malformed_answer_raises_format_error(body: bytes, field: str) -> None:
    """Non-JSON, non-UTF-8, non-object or wrongly shaped answers raise GorzdravFormatError."""
    with pytest.raises(GorzdravFormatError) as caught:
        parse_appointments(body, "/x")
    assert isinstance(caught.value, InvalidInputError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == field
    assert "gorzdrav /x" in caught.value.record


def test_bad_records_are_rejected_and_the_rest_kept() -> None:
    """A record with a bad field is rejected, named by id and field; good records still parse."""
    records = decoded("DoctorAppointmentsResponse_example.json")["result"]
    records[1]["visitEnd"] = "not a time"
    records[2] = "junk"
    answer = parse_appointments(envelope(records))
    assert len(answer.records) == 66
    first, second = answer.rejected
    assert first.record == "appointment '18.02.2025;13:00;п100.136'"
    assert first.field == "visitEnd"
    assert "not a time" not in str(first)
    assert second.record == "appointment result[2]"


def test_portal_adds_fields_without_harm() -> None:
    """Unknown fields in the portal's records are ignored."""
    records = decoded("SpecialtyListResponse_example.json")["result"]
    records[0]["brandNewField"] = {"x": 1}
    assert len(parse_specialties(envelope(records)).records) == 10


# --------------------------------------------------------------------------- times


def test_naive_times_are_moscow_wall_clock() -> None:
    """Naive visitStart / visitEnd become the same wall-clock time in Europe/Moscow (+03:00)."""
    source = decoded("DoctorAppointmentsResponse_example.json")["result"]
    for record, item in zip(
        parse_appointments(raw("DoctorAppointmentsResponse_example.json")).records,
        source,
        strict=True,
    ):
        assert record.visit_start.tzinfo is PORTAL_TIMEZONE
        assert record.visit_start.utcoffset() == timedelta(hours=3)
        assert record.visit_start.replace(tzinfo=None) == datetime.fromisoformat(item["visitStart"])
        assert record.visit_end.replace(tzinfo=None) == datetime.fromisoformat(item["visitEnd"])


def test_first_recorded_slot_instant() -> None:
    """17.02.2025 10:30 local is 07:30 UTC, not 10:30 UTC."""
    first = parse_appointments(raw("DoctorAppointmentsResponse_example.json")).records[0]
    assert first.visit_start.isoformat() == "2025-02-17T10:30:00+03:00"
    assert first.visit_start.astimezone(ZoneInfo("UTC")).hour == 7


def test_parser_zone_and_aware_input() -> None:
    """A configured zone is attached to naive times; an explicit offset is kept as given."""
    records = [
        {"id": "a", "visitStart": "2025-02-17T10:30:00", "visitEnd": "2025-02-17T10:45:00"},
        {"id": "b", "visitStart": "2025-02-17T10:30:00Z", "visitEnd": "2025-02-17T10:45:00Z"},
    ]
    zone = ZoneInfo("Asia/Yekaterinburg")
    a, b = parse_appointments(envelope(records), zone=zone).records
    assert a.visit_start.utcoffset() == timedelta(hours=5)
    assert b.visit_start.utcoffset() == timedelta(0)


def test_specialty_and_doctor_dates_are_aware() -> None:
    """nearestDate / lastDate get the zone; null stays None."""
    specialties = parse_specialties(raw("SpecialtyListResponse_example.json")).records
    assert specialties[0].nearest_date == datetime(2025, 2, 17, tzinfo=PORTAL_TIMEZONE)
    assert specialties[3].nearest_date is None
    doctors = parse_doctors(raw("SpecialtyDoctorsListResponse_example.json")).records
    assert sum(d.nearest_date is None for d in doctors) == 4
    assert all(d.last_date is None or d.last_date.tzinfo is PORTAL_TIMEZONE for d in doctors)


# --------------------------------------------------------------------------- mapping


def test_lpus_map_to_facilities() -> None:
    """The 38 recorded LPUs become facilities with ids, names, districts, levels and locations."""
    lpus = parse_lpus(raw("DistrictResponse_example.json")).records
    facilities, issues = lpus_to_facilities(lpus)
    assert issues == ()
    assert len(facilities) == 38
    by_id = {f.id: f for f in facilities}
    gp87 = by_id["gorzdrav:44"]
    assert gp87.name == 'СПб ГБУЗ "Городская поликлиника №87"'
    assert gp87.district == "Невский"
    assert gp87.location is not None
    assert (gp87.location.lat, gp87.location.lon) == (59.9019, 30.4739)
    assert by_id["gorzdrav:1114"].location is None  # no coordinates on the portal
    levels = {f.id: f.level for f in facilities}
    assert levels["gorzdrav:1050"] == 2  # Онкоцентр (ЦАОП)
    assert levels["gorzdrav:470"] == 3  # Больница
    assert sorted(levels.values()).count(1) == 36


def test_level_overrides_and_validation() -> None:
    """A level by LPU id wins over the type table; a level outside 1..3 is rejected."""
    lpu = Lpu(id="44", lpu_type="Поликлиника", lpu_short_name="ГП")
    assert lpu_to_facility(lpu).level == 1
    assert lpu_to_facility(lpu, options=MappingOptions(lpu_levels={"44": 2})).level == 2
    assert lpu_to_facility(lpu, options=MappingOptions(default_level=3)).level == 3
    assert MappingOptions().type_levels == DEFAULT_TYPE_LEVELS
    with pytest.raises(InvalidInputError, match="type_levels"):
        MappingOptions(type_levels={"Больница": 4})


def test_inactive_lpus_are_skipped_and_counted() -> None:
    """Inactive LPUs give no facility and one issue each, naming the facility and isActive."""
    records = decoded("DistrictResponse_example.json")["result"]
    records[0]["isActive"] = False
    records[5]["isActive"] = False
    facilities, issues = lpus_to_facilities(parse_lpus(envelope(records)).records)
    assert len(facilities) == 36
    assert [(i.record, i.field) for i in issues] == [
        ("facility 'gorzdrav:44'", "isActive"),
        ("facility 'gorzdrav:244'", "isActive"),
    ]
    assert "gorzdrav:44" not in {f.id for f in facilities}


def test_facility_services_from_specialties() -> None:
    """Specialty ferIds become fer services (duplicates once, ferId 0 none)."""
    specialties = parse_specialties(raw("SpecialtyListResponse_example.json")).records
    services = [specialty_service(s) for s in specialties]
    assert services.count(None) == 1  # ferId "0"
    assert str(services[2]) == "fer:145"
    lpu = Lpu(id="44", lpu_full_name="ГП №87")
    facility = lpu_to_facility(lpu, [s for s in services if s is not None])
    assert [str(s) for s in facility.services] == [
        "fer:27", "fer:145", "fer:8", "fer:10", "fer:19", "fer:20", "fer:91", "fer:30"
    ]  # fmt: skip


def test_appointments_map_to_slots() -> None:
    """The 68 recorded appointments become 15-minute in-person slots with the portal ids."""
    appointments = parse_appointments(raw("DoctorAppointmentsResponse_example.json")).records
    slots, issues = appointments_to_slots(appointments, "44", FER27, "п100.136")
    assert issues == ()
    assert len(slots) == 68
    first = slots[0]
    assert first.id == "gorzdrav:44:17.02.2025;10:30;п100.136"
    assert first.facility_id == "gorzdrav:44"
    assert first.resource == "gorzdrav:44:п100.136"
    assert first.service == FER27
    assert (first.capacity, first.mode) == (1, VisitMode.IN_PERSON)
    assert all(s.duration == timedelta(minutes=15) for s in slots)
    assert len({s.id for s in slots}) == 68
    assert first == appointment_to_slot(appointments[0], "44", FER27, "п100.136")


def test_bad_appointment_becomes_an_issue() -> None:
    """An appointment that ends before it starts is reported; the others still map."""
    good = Appointment.model_validate(
        {"id": "a", "visitStart": "2025-02-17T10:00:00", "visitEnd": "2025-02-17T10:15:00"}
    )
    bad = good.model_copy(update={"id": "b", "visit_end": good.visit_start})
    slots, issues = appointments_to_slots([good, bad], "44", FER27)
    assert [s.id for s in slots] == ["gorzdrav:44:a"]
    assert slots[0].resource is None
    (issue,) = issues
    assert (issue.record, issue.field, issue.source) == ("appointment 'b'", "end", "gorzdrav")
    with pytest.raises(GorzdravFormatError, match="end must be after start"):
        appointment_to_slot(bad, "44", FER27)


def test_timetable_nests_the_free_appointments() -> None:
    """The timetable's 66 nested appointments are a subset of the appointments answer."""
    days = parse_timetable(raw("DoctorTimetableResponse_example.json")).records
    nested = timetable_appointments(days)
    assert len(nested) == 66
    listed = parse_appointments(raw("DoctorAppointmentsResponse_example.json")).records
    assert {a.id for a in nested} < {a.id for a in listed}
    closed = [days[1].model_copy(update={"recordable_day": False})]
    assert timetable_appointments(closed) == ()


# --------------------------------------------------------------------------- robustness

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = sorted(
    {
        "id", "visitStart", "visitEnd", "address", "room", "number", "ferId", "name",
        "nearestDate", "lastDate", "countFreeTicket", "freeTicketCount", "isActive", "latitude",
        "longitude", "lpuType", "lpuFullName", "lpuShortName", "districtName", "appointments",
        "recordableDay", "okato",
    }
)  # fmt: skip
VALUES = (
    JSON
    | st.sampled_from(["2025-02-17T10:30:00", "2025-02-17T10:15:00+03:00", "0", "", " ", "59.9"])
    | st.integers(min_value=-(10**30), max_value=10**30)
)
RECORD = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=8)
ENVELOPE = st.fixed_dictionaries(
    {"success": st.booleans() | JSON, "result": st.lists(RECORD | JSON, max_size=4) | JSON},
    optional={"errorCode": st.integers() | JSON, "requestId": st.text(max_size=10) | JSON},
)


def _map_everything(answer: PortalAnswer[Any]) -> None:
    """Map whatever parsed, as the crawl would: the mapping reports, it never raises."""
    for record in answer.records:
        assert isinstance(record, PortalModel)
        if isinstance(record, Lpu):
            facilities, issues = lpus_to_facilities([record])
            assert len(facilities) + len(issues) == 1
        if isinstance(record, Appointment):
            slots, issues = appointments_to_slots([record], "1", FER27, "d")
            assert len(slots) + len(issues) == 1
            assert all(s.start.utcoffset() is not None for s in slots)


@settings(max_examples=150, deadline=None)
@given(document=ENVELOPE | JSON, as_text=st.booleans())
def test_arbitrary_json_raises_only_library_errors(document: Any, as_text: bool) -> None:
    """Any JSON fed to any parser raises only PortalError or GorzdravFormatError."""
    given_input: Any = json.dumps(document) if as_text else document
    for parser in PARSERS:
        try:
            answer = parser(given_input)
        except (PortalError, GorzdravFormatError):
            continue
        _map_everything(answer)


@settings(max_examples=80, deadline=None)
@given(body=st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_library_errors(body: bytes) -> None:
    """Any bytes fed to a parser raise only GorzdravError."""
    for parser in PARSERS:
        with contextlib.suppress(GorzdravError):
            parser(body)
