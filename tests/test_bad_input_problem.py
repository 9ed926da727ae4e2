"""Bad records in a problem file: each is reported by record and field, and the rest is planned.

Every case corrupts one record of a small valid problem (two facilities, three slots, two
pathways, two requests). :func:`routing.problem.read_problem` must report the corrupted record
(and any record that refers to it) by id and field, keep the offending value off the message,
and the good request ``R1`` must still get its route.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bad_input_helpers import good_document
from routing.calendar import calendar_for
from routing.exceptions import InvalidInputError, InvalidProblemError
from routing.problem import Problem, load_problem
from routing.reading import read_problem
from routing.slot_index import SlotIndex
from routing.solve.plan import plan_route

MISSING = object()
"""Marks a field to delete."""

TARGETS = {
    "facility": ("facilities", 1, "facility 'F2'"),
    "slot": ("slots", 2, "slot 'S3'"),
    "pathway": ("pathways", 1, "pathway 'other_visit'"),
    "request": ("requests", 1, "request 'R2'"),
}
"""Kind → (collection, index of the corrupted record, its name in messages)."""


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        record = record[int(key)] if isinstance(record, list) else record[key]
    last = keys[-1]
    if value is MISSING:
        del record[last]
    elif isinstance(record, list):
        record[int(last)] = value
    else:
        record[last] = value


NAN, INF = math.nan, math.inf

# (kind, path in the record, bad value, the field the issue names)
FIELD_CASES: list[tuple[str, str, Any, str]] = [
    # facilities
    ("facility", "name", "", "name"),
    ("facility", "name", None, "name"),
    ("facility", "name", 5, "name"),
    ("facility", "name", "Poly\x00clinic", "name"),
    ("facility", "name", MISSING, "name"),
    ("facility", "level", True, "level"),
    ("facility", "level", False, "level"),
    ("facility", "level", 0, "level"),
    ("facility", "level", 4, "level"),
    ("facility", "level", 1e40, "level"),
    ("facility", "level", 10**30, "level"),
    ("facility", "level", "2", "level"),
    ("facility", "level", 2.5, "level"),
    ("facility", "level", 2.0, "level"),
    ("facility", "level", NAN, "level"),
    ("facility", "level", MISSING, "level"),
    ("facility", "location", {"lat": 91.0, "lon": 30.0}, "location.lat"),
    ("facility", "location", {"lat": True, "lon": 30.0}, "location.lat"),
    ("facility", "location", {"lat": 59.9, "lon": NAN}, "location.lon"),
    ("facility", "location", {"lat": 59.9, "lon": INF}, "location.lon"),
    ("facility", "location", {"lat": "59.9", "lon": 30.0}, "location.lat"),
    ("facility", "location", {"lat": 59.9}, "location.lon"),
    ("facility", "location", [59.9, 30.3], "location"),
    ("facility", "district", "", "district"),
    ("facility", "district", "Kalin\x07insky", "district"),
    ("facility", "services", ["nope"], "services.0"),
    ("facility", "services", ["fer:27", "fer:27"], "services"),
    ("facility", "services", ["fer:2\x007"], "services.0.code"),
    ("facility", "services", ["FER:27"], "services.0.system"),
    ("facility", "services", [5], "services.0"),
    ("facility", "services", "fer:27", "services"),
    ("facility", "days_off", ["2026-13-01"], "days_off.0"),
    ("facility", "days_off", [True], "days_off.0"),
    ("facility", "surname", "Ivanov", "surname"),
    # slots
    ("slot", "service", "A06", "service"),
    ("slot", "service", "fer:", "service.code"),
    ("slot", "service", 27, "service"),
    ("slot", "service", {"system": "fer", "code": "\x00"}, "service.code"),
    ("slot", "service", MISSING, "service"),
    ("slot", "start", "2026-05-14T10:00:00", "start"),
    ("slot", "start", "not a date", "start"),
    ("slot", "start", True, "start"),
    ("slot", "start", MISSING, "start"),
    ("slot", "end", "2026-05-14T09:00:00+03:00", "end"),
    ("slot", "end", "2026-05-14T10:00:00+03:00", "end"),
    ("slot", "end", 1e40, "end"),
    ("slot", "capacity", 0, "capacity"),
    ("slot", "capacity", -1, "capacity"),
    ("slot", "capacity", True, "capacity"),
    ("slot", "capacity", False, "capacity"),
    ("slot", "capacity", 1e40, "capacity"),
    ("slot", "capacity", 10**30, "capacity"),
    ("slot", "capacity", 10_001, "capacity"),
    ("slot", "capacity", 1.5, "capacity"),
    ("slot", "capacity", "1", "capacity"),
    ("slot", "capacity", NAN, "capacity"),
    ("slot", "capacity", INF, "capacity"),
    ("slot", "capacity", None, "capacity"),
    ("slot", "resource", "", "resource"),
    ("slot", "resource", "room\x1b7", "resource"),
    ("slot", "mode", "walk_in", "mode"),
    ("slot", "mode", 1, "mode"),
    ("slot", "facility_id", "F 2", "facility_id"),
    ("slot", "facility_id", "F\x002", "facility_id"),
    ("slot", "facility_id", True, "facility_id"),
    ("slot", "overbooked", True, "overbooked"),
    # pathways
    ("pathway", "stages", [], "stages"),
    ("pathway", "stages.0.duration_minutes", True, "stages.0.duration_minutes"),
    ("pathway", "stages.0.duration_minutes", 10**30, "stages.0.duration_minutes"),
    ("pathway", "stages.0.duration_minutes", 0, "stages.0.duration_minutes"),
    ("pathway", "stages.0.facility_level", True, "stages.0.facility_level"),
    ("pathway", "stages.0.services", ["x"], "stages.0.services.0"),
    ("pathway", "stages.0.after", ["nowhere"], ""),
    ("pathway", "stages.0.mode", "teleport", "stages.0.mode"),
    ("pathway", "title", MISSING, "title"),
    ("pathway", "title", {"ru": "Приём\x00", "en": "Visit"}, "title.ru"),
    ("pathway", "applicability", {"codes": []}, "applicability.codes"),
    ("pathway", "applicability", {"codes": ["J45"], "priority": True}, "applicability.priority"),
    (
        "pathway",
        "constraints",
        [
            {
                "from_event": "referral",
                "to_event": "visit.start",
                "min": True,
                "unit": "hours",
                "source": "test",
            }
        ],
        "constraints.0.min",
    ),
    (
        "pathway",
        "constraints",
        [
            {
                "from_event": "referral",
                "to_event": "visit.start",
                "max": 10**30,
                "unit": "hours",
                "source": "test",
            }
        ],
        "constraints.0.max",
    ),
    (
        "pathway",
        "deadlines",
        [
            {
                "id": "d1",
                "title": {"ru": "Срок", "en": "Limit"},
                "from_event": "referral",
                "to_event": "visit.start",
                "limit": -1,
                "unit": "working_days",
                "source": "test",
            }
        ],
        "deadlines.0.limit",
    ),
    # requests
    ("request", "patient", MISSING, "patient"),
    ("request", "patient", "P-2", "patient"),
    ("request", "patient.id", "P 2", "patient.id"),
    ("request", "patient.id", "P\x002", "patient.id"),
    ("request", "patient.id", 5, "patient.id"),
    ("request", "patient.max_visits_per_day", True, "patient.max_visits_per_day"),
    ("request", "patient.max_visits_per_day", 0, "patient.max_visits_per_day"),
    ("request", "patient.max_visits_per_day", 10**30, "patient.max_visits_per_day"),
    ("request", "patient.location", {"lat": 59.9, "lon": 200.0}, "patient.location.lon"),
    (
        "request",
        "patient.unavailable",
        [{"start": "2026-05-12T10:00:00+03:00", "end": "2026-05-12T09:00:00+03:00"}],
        "patient.unavailable.0.end",
    ),
    (
        "request",
        "patient.unavailable",
        [{"start": "2026-05-12T10:00:00", "end": "2026-05-12T11:00:00+03:00"}],
        "patient.unavailable.0.start",
    ),
    ("request", "patient.allowed_facilities", [], "patient.allowed_facilities"),
    ("request", "patient.preferred_facilities", ["F1", "F1"], "patient.preferred_facilities"),
    ("request", "patient.surname", "Ivanov", "patient.surname"),
    ("request", "diagnoses", ["C34\x00.1"], "diagnoses.0"),
    ("request", "diagnoses", [""], "diagnoses.0"),
    ("request", "diagnoses", [34.1], "diagnoses.0"),
    ("request", "diagnoses", ["C" * 41], "diagnoses.0"),
    ("request", "pathway_id", "Other-Visit", "pathway_id"),
    ("request", "pathway_id", "other\x00visit", "pathway_id"),
    ("request", "pathway_id", MISSING, "diagnoses"),
    ("request", "referral", "2026-05-08T09:00:00", "referral"),
    ("request", "referral", "08.05.2026", "referral"),
    ("request", "referral", True, "referral"),
    ("request", "referral", MISSING, "referral"),
    ("request", "reference_dates", {"LMP": "2026-01-01"}, "reference_dates.#0.[key]"),
    ("request", "reference_dates", {"lmp": "2026-02-30"}, "reference_dates.#0"),
    ("request", "reference_dates", {"a": "2026-01-01", "lmp": True}, "reference_dates.#1"),
    ("request", "region", "Russia", "region"),
    ("request", "horizon_days", 0, "horizon_days"),
    ("request", "horizon_days", 3661, "horizon_days"),
    ("request", "horizon_days", True, "horizon_days"),
    ("request", "horizon_days", 1e40, "horizon_days"),
    ("request", "horizon_days", "90", "horizon_days"),
    ("request", "priority", True, "priority"),
    ("request", "priority", 10**30, "priority"),
    ("request", "priority", 1.5, "priority"),
    ("request", "priority", NAN, "priority"),
    ("request", "existing_bookings", {"visit": "S 1"}, "existing_bookings.visit"),
    ("request", "existing_bookings", {"Visit": "S1"}, "existing_bookings.Visit.[key]"),
    ("request", "notes", "free text", "notes"),
]

# (kind, the record as a whole, the field named: "" for the record itself)
RECORD_CASES: list[tuple[str, Any, str]] = [
    ("facility", "F2", ""),
    ("facility", 5, ""),
    ("facility", None, ""),
    ("facility", [], ""),
    ("slot", "S3", ""),
    ("slot", True, ""),
    ("pathway", "other_visit", ""),
    ("request", ["R2"], ""),
    ("request", 1e40, ""),
]


def _corrupt(kind: str, path: str | None, value: Any) -> tuple[dict[str, Any], str]:
    document = good_document()
    collection, index, name = TARGETS[kind]
    if path is None:
        document[collection][index] = value
        return document, f"{collection}[{index}]"
    _set(document[collection][index], path, value)
    return document, name


def _plan_r1(problem: Problem) -> None:
    """R1 is kept and gets a route over the slots that are left."""
    request = problem.request("R1")
    index = SlotIndex.build(problem.facilities, problem.slots, calendar=calendar_for(None))
    pathways = {p.id: p for p in problem.pathways}
    result = plan_route(request, index, pathways=pathways)
    assert result.has_route, result.reasons


def _fields(issues: tuple[InvalidInputError, ...]) -> list[tuple[str, str]]:
    return [(i.record, i.field) for i in issues]


@pytest.mark.parametrize(
    ("kind", "path", "value", "field"),
    FIELD_CASES,
    ids=[f"{k}-{p}-{i}" for i, (k, p, _, _) in enumerate(FIELD_CASES)],
)
def test_bad_field_is_reported_and_the_rest_planned(
    kind: str, path: str, value: Any, field: str
) -> None:
    """A bad field names its record and field; the value stays off the message; R1 is planned."""
    document, name = _corrupt(kind, path, value)
    reading = read_problem(document)
    assert (name, field) in _fields(reading.issues)
    collection = TARGETS[kind][0]
    assert reading.rejected[collection] == 1
    own = next(i for i in reading.issues if (i.record, i.field) == (name, field))
    if isinstance(value, str) and len(value) > 3 and value not in ("true", "None"):
        assert value not in str(own)
        assert value not in repr(own)
    _plan_r1(reading.problem)
    # The all-or-nothing reader refuses the same document, naming the same record.
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert name in [i.record for i in info.value.issues]


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    RECORD_CASES,
    ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(RECORD_CASES)],
)
def test_record_of_the_wrong_type_is_named_by_position(kind: str, value: Any, field: str) -> None:
    """A record that is not an object is named by its position; the rest is planned."""
    document, name = _corrupt(kind, None, value)
    reading = read_problem(document)
    assert (name, field) in _fields(reading.issues)
    _plan_r1(reading.problem)


CASCADES: list[tuple[str, Callable[[dict[str, Any]], None], list[tuple[str, str]]]] = [
    (
        "slot of a rejected facility",
        lambda d: _set(d["facilities"][1], "level", True),
        [("facility 'F2'", "level"), ("slot 'S3'", "facility_id")],
    ),
    (
        "slot of an unknown facility",
        lambda d: _set(d["slots"][2], "facility_id", "F404"),
        [("slot 'S3'", "facility_id")],
    ),
    (
        "request of a rejected pathway",
        lambda d: _set(d["pathways"][1], "stages", []),
        [("pathway 'other_visit'", "stages"), ("request 'R2'", "pathway_id")],
    ),
    (
        "request allowed only a rejected facility",
        lambda d: (
            _set(d["facilities"][1], "name", ""),
            _set(d["requests"][1]["patient"], "allowed_facilities", ["F2"]),
        ),
        [
            ("facility 'F2'", "name"),
            ("slot 'S3'", "facility_id"),
            ("request 'R2'", "patient.allowed_facilities"),
        ],
    ),
    (
        "request preferring an unknown facility",
        lambda d: _set(d["requests"][1]["patient"], "preferred_facilities", ["F404"]),
        [("request 'R2'", "patient.preferred_facilities.0")],
    ),
    (
        "request holding a booking of a rejected slot",
        lambda d: (
            _set(d["slots"][2], "capacity", True),
            _set(d["requests"][1], "existing_bookings", {"visit": "S3"}),
        ),
        [("slot 'S3'", "capacity"), ("request 'R2'", "existing_bookings.visit")],
    ),
    (
        "request holding a booking of a slot of a rejected facility",
        lambda d: (
            _set(d["facilities"][1], "level", 9),
            _set(d["requests"][1], "existing_bookings", {"visit": "S3"}),
        ),
        [
            ("facility 'F2'", "level"),
            ("slot 'S3'", "facility_id"),
            ("request 'R2'", "existing_bookings.visit"),
        ],
    ),
    (
        "a repeated slot id",
        lambda d: _set(d["slots"][2], "id", "S2"),
        [("slot 'S2'", "id")],
    ),
    (
        "a repeated request id",
        lambda d: _set(d["requests"][1], "id", "R1"),
        [("request 'R1'", "id")],
    ),
    (
        "a repeated facility id",
        lambda d: _set(d["facilities"][1], "id", "F1"),
        [("facility 'F1'", "id"), ("slot 'S3'", "facility_id")],
    ),
    (
        "a travel matrix of an unknown facility",
        lambda d: d.update(travel={"matrix": {"F1": {"F404": 10}}}),
        [("travel", "matrix.F1.F404")],
    ),
    (
        "a travel model with a boolean",
        lambda d: d.update(travel={"overhead_minutes": True}),
        [("travel", "overhead_minutes")],
    ),
    (
        "slots that are not a list",
        lambda d: d.update(slots={"S1": d["slots"][0]}),
        [("problem", "slots")],
    ),
    (
        "an unknown top-level field",
        lambda d: d.update(patients=[]),
        [("problem", "")],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [(m, e) for _, m, e in CASCADES],
    ids=[c[0] for c in CASCADES],
)
def test_references_to_rejected_records_are_reported(
    mutate: Callable[[dict[str, Any]], None], expected: list[tuple[str, str]]
) -> None:
    """A record that refers to a rejected or missing one is left out with its own issue."""
    document = good_document()
    mutate(document)
    reading = read_problem(document)
    assert _fields(reading.issues) == expected
    if ("problem", "slots") in expected:
        assert reading.problem.slots == ()
        return
    _plan_r1(reading.problem)


def test_issue_keeps_the_offending_value_as_an_attribute() -> None:
    """The value is on ``issue.value``, never in str() or repr()."""
    document = good_document()
    document["requests"][1]["diagnoses"] = ["C34\x001"]
    document["requests"][1]["referral"] = "2031-02-03T04:05:06"
    reading = read_problem(document)
    by_field = {i.field: i for i in reading.issues}
    assert by_field["diagnoses.0"].value == "C34\x001"
    assert by_field["referral"].value == "2031-02-03T04:05:06"
    for issue in reading.issues:
        assert "C34" not in str(issue) + repr(issue)
        assert "2031" not in str(issue) + repr(issue)
        assert issue.__reduce__()[1] == (issue.record, issue.field, issue.reason)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"facilities": [], "slots": [], "requests": []}, "format_version"),
        ({"format_version": 2, "facilities": [], "slots": [], "requests": []}, "format_version"),
        ({"format_version": True, "facilities": [], "slots": [], "requests": []}, "format_version"),
        ({"format_version": "1", "facilities": [], "slots": [], "requests": []}, "format_version"),
        ({"format_version": 1, "timezone": "Mars/Base", "requests": []}, "timezone"),
        ({"format_version": 1, "timezone": 3, "requests": []}, "timezone"),
    ],
)
def test_document_level_errors_raise(document: dict[str, Any], field: str) -> None:
    """A wrong format_version or timezone makes the whole document unusable: it raises."""
    with pytest.raises(InvalidInputError) as info:
        read_problem(copy.deepcopy(document))
    assert (info.value.record, info.value.field) == ("problem", field)


@pytest.mark.parametrize("depth", [10, 200, 700])
def test_deeply_nested_value_in_a_record_is_an_issue(depth: int) -> None:
    """A deeply nested value where a string belongs is an issue on that field; R1 is planned."""
    text = json.dumps(good_document()).replace(
        '"name": "Polyclinic 2"', '"name": ' + "[" * depth + "]" * depth
    )
    reading = read_problem(text)
    assert _fields(reading.issues)[0] == ("facility 'F2'", "name")
    _plan_r1(reading.problem)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location (key path) inside a JSON document."""
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


@given(st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_mutation_keeps_the_untouched_records(data: st.DataObject) -> None:
    """One part of a record replaced or removed: the other records are kept, R1 is planned when
    untouched, and the strict loader fails exactly when the forgiving reader reports issues."""
    document = good_document()
    paths = [p for p in _paths(document) if len(p) >= 2 and p[0] != "format_version"]
    path = data.draw(st.sampled_from(paths))
    parent: Any = document
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON_VALUES)
    reading = read_problem(document)
    assert all(i.record for i in reading.issues)
    try:
        strict: Problem | None = load_problem(document)
    except InvalidProblemError:
        strict = None
    assert (strict is None) == bool(reading.issues)
    if strict is not None:
        assert strict == reading.problem
    if path[:2] in {("requests", 0), ("pathways", 0), ("slots", 0), ("facilities", 0)}:
        return
    if path[0] in ("requests", "pathways", "slots", "facilities") and len(path) == 2:
        return  # the list itself was changed: R1's records may be gone
    _plan_r1(reading.problem)
