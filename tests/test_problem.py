"""The problem file: loading, cross-reference checks, timezones, round trip and schema."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.exceptions import InvalidInputError, InvalidProblemError
from routing.problem import Problem, dump_problem, load_problem, problem_json_schema

PATHWAY: dict[str, Any] = {
    "id": "local_lung",
    "title": {"ru": "Лёгкое", "en": "Lung"},
    "applicability": {"codes": ["C34"]},
    "stages": [
        {"id": "consult", "title": {"ru": "Онколог", "en": "Oncologist"}, "services": ["fer:27"]},
        {
            "id": "ct",
            "title": {"ru": "КТ", "en": "CT"},
            "services": ["nmu:A06.09.005"],
            "after": ["consult"],
        },
    ],
}


def base_document() -> dict[str, Any]:
    """A small valid problem document (a fresh copy each call)."""
    return {
        "format_version": 1,
        "facilities": [
            {
                "id": "F1",
                "name": "Polyclinic 1",
                "level": 1,
                "district": "Kalininsky",
                "location": {"lat": 59.99, "lon": 30.39},
                "services": ["fer:27"],
            },
            {
                "id": "F2",
                "name": "ЦАОП",
                "level": 2,
                "services": ["fer:27", "nmu:A06.09.005"],
                "days_off": ["2026-05-13"],
            },
        ],
        "slots": [
            {
                "id": "S1",
                "facility_id": "F1",
                "service": "fer:27",
                "start": "2026-05-12T10:00:00+03:00",
                "end": "2026-05-12T10:30:00+03:00",
                "resource": "doctor-7",
            },
            {
                "id": "S2",
                "facility_id": "F2",
                "service": {"system": "nmu", "code": "A06.09.005"},
                "start": "2026-05-14T09:00:00+03:00",
                "end": "2026-05-14T09:20:00+03:00",
                "capacity": 2,
            },
        ],
        "requests": [
            {
                "id": "R1",
                "patient": {
                    "id": "P-001",
                    "location": {"lat": 59.98, "lon": 30.40},
                    "allowed_facilities": ["F2", "F1"],
                    "preferred_facilities": ["F1"],
                    "unavailable": [
                        {"start": "2026-05-15T00:00:00+03:00", "end": "2026-05-16T00:00:00+03:00"}
                    ],
                },
                "diagnoses": ["C34.1"],
                "referral": "2026-05-08T09:00:00+03:00",
                "existing_bookings": {"consult": "S1"},
                "reference_dates": {"last_menstrual_period": "2026-03-01"},
            },
            {
                "id": "R2",
                "patient": {"id": "P-002"},
                "pathway_id": "local_lung",
                "referral": "2026-05-08T12:00:00+03:00",
                "priority": 1,
            },
        ],
        "pathways": [copy.deepcopy(PATHWAY)],
        "travel": {"speed_kmh": 25, "matrix": {"F1": {"F2": 35}}},
    }


def issues_of(document: Any, **kwargs: Any) -> list[tuple[str, str]]:
    """The (record, field) of every issue loading ``document`` raises."""
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document, **kwargs)
    return [(i.record, i.field) for i in info.value.issues]


def test_load_valid_document() -> None:
    """A valid document loads from a mapping, from JSON text and from a file alike."""
    document = base_document()
    problem = load_problem(document)
    assert isinstance(problem, Problem)
    assert [s.id for s in problem.slots] == ["S1", "S2"]
    assert problem.facility("F2").offers("nmu:A06.09.005")
    assert problem.slot("S2").capacity == 2
    assert problem.request("R2").pathway_id == "local_lung"
    assert problem.travel.minutes(problem.facility("F2"), problem.facility("F1")) == 35
    again = load_problem(json.dumps(document))
    assert again == problem
    assert hash(again) == hash(problem)


def test_load_from_path(tmp_path: Path) -> None:
    """A path (Path or str) is read as UTF-8 JSON."""
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(base_document(), ensure_ascii=False), encoding="utf-8")
    assert load_problem(path) == load_problem(str(path))
    assert load_problem(path).facility("F2").name == "ЦАОП"


def test_lookup_unknown_id_is_key_error() -> None:
    """Looking up an unknown facility raises KeyError naming the id."""
    with pytest.raises(KeyError, match="F9"):
        load_problem(base_document()).facility("F9")


def test_naive_datetime_rejected_naming_record_and_field() -> None:
    """Without a timezone a naive slot start is an error naming the slot and 'start'."""
    document = base_document()
    document["slots"][1]["start"] = "2026-05-14T09:00:00"
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert (info.value.record, info.value.field) == ("slot 'S2'", "start")
    assert "UTC offset" in info.value.reason


def test_naive_datetime_in_nested_period_names_path() -> None:
    """A naive time inside a patient's unavailability names the request and the nested field."""
    document = base_document()
    document["requests"][0]["patient"]["unavailable"][0]["end"] = "2026-05-16T00:00:00"
    assert issues_of(document) == [("request 'R1'", "patient.unavailable.0.end")]


@pytest.mark.parametrize("how", ["document", "argument"])
def test_naive_datetime_interpreted_in_moscow(how: str) -> None:
    """With a timezone (in the document or as an argument) naive values are Moscow time."""
    document = base_document()
    document["slots"][0]["start"] = "2026-05-12T10:00:00"
    document["requests"][0]["referral"] = "2026-05-08T09:00"
    kwargs: dict[str, Any] = {}
    if how == "document":
        document["timezone"] = "Europe/Moscow"
    else:
        kwargs["naive_timezone"] = "Europe/Moscow"
    problem = load_problem(document, **kwargs)
    assert problem.slot("S1").start.utcoffset() == timedelta(hours=3)
    assert problem.request("R1").referral.utcoffset() == timedelta(hours=3)
    assert problem.slot("S1").start == load_problem(base_document()).slot("S1").start


def test_document_timezone_wins_over_argument() -> None:
    """The document's own timezone is used for its naive values, not the caller's."""
    document = base_document()
    document["timezone"] = "Asia/Yekaterinburg"
    document["slots"][0]["start"] = "2026-05-12T10:00:00"
    problem = load_problem(document, naive_timezone="Europe/Moscow")
    assert problem.slot("S1").start.utcoffset() == timedelta(hours=5)


def test_unknown_timezone_rejected() -> None:
    """An unknown zone name is an error on 'timezone' (document) or 'naive_timezone' (argument)."""
    document = base_document()
    document["timezone"] = "Mars/Olympus"
    assert issues_of(document) == [("problem", "timezone")]
    with pytest.raises(InvalidInputError, match="naive_timezone"):
        load_problem(base_document(), naive_timezone="Europe/Nowhere")


def test_slot_end_before_start_names_slot_and_end() -> None:
    """A slot ending before it starts is reported as slot 'S2', field 'end'."""
    document = base_document()
    document["slots"][1]["end"] = "2026-05-14T08:00:00+03:00"
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert str(info.value) == "slot 'S2', field 'end': end must be after start"


def test_capacity_zero_rejected() -> None:
    """Capacity 0 is reported on the slot's 'capacity' field."""
    document = base_document()
    document["slots"][0]["capacity"] = 0
    assert issues_of(document) == [("slot 'S1'", "capacity")]


def test_record_without_id_is_named_by_position() -> None:
    """A slot with no id is named by its index in the list."""
    document = base_document()
    del document["slots"][1]["id"]
    assert issues_of(document) == [("slots[1]", "id")]


def test_duplicate_slot_ids() -> None:
    """A slot id used twice is reported on the second slot's 'id'."""
    document = base_document()
    document["slots"][1]["id"] = "S1"
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert (info.value.record, info.value.field) == ("slot 'S1'", "id")
    assert "slots[0]" in info.value.reason


@pytest.mark.parametrize(
    ("collection", "noun"), [("facilities", "facility"), ("requests", "request")]
)
def test_duplicate_facility_and_request_ids(collection: str, noun: str) -> None:
    """Facility and request ids must be unique too."""
    document = base_document()
    document[collection].append(copy.deepcopy(document[collection][0]))
    record = f"{noun} {document[collection][0]['id']!r}"
    assert (record, "id") in issues_of(document)


def test_duplicate_pathway_ids() -> None:
    """Two extra pathways with the same id are an error."""
    document = base_document()
    document["pathways"].append(copy.deepcopy(PATHWAY))
    assert issues_of(document) == [("pathway 'local_lung'", "id")]


def test_unknown_facility_of_slot() -> None:
    """A slot at an unknown facility is reported on 'facility_id', naming the facility."""
    document = base_document()
    document["slots"][0]["facility_id"] = "F9"
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert str(info.value) == "slot 'S1', field 'facility_id': unknown facility 'F9'"


@pytest.mark.parametrize("field", ["allowed_facilities", "preferred_facilities"])
def test_unknown_allowed_or_preferred_facility(field: str) -> None:
    """A patient's allowed or preferred facility must exist in the problem."""
    document = base_document()
    document["requests"][0]["patient"][field] = ["F1", "F7"]
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert (info.value.record, info.value.field) == ("request 'R1'", f"patient.{field}")
    assert "'F7'" in info.value.reason


def test_existing_booking_of_unknown_slot() -> None:
    """An existing booking must name a slot of the problem."""
    document = base_document()
    document["requests"][0]["existing_bookings"] = {"consult": "S9"}
    assert issues_of(document) == [("request 'R1'", "existing_bookings.consult")]


def test_travel_matrix_of_unknown_facility() -> None:
    """A travel-matrix row or entry for an unknown facility is an error."""
    document = base_document()
    document["travel"]["matrix"] = {"F1": {"F8": 10}, "F9": {}}
    assert issues_of(document) == [("travel", "matrix.F1.F8"), ("travel", "matrix.F9")]


def test_builtin_pathway_ids_left_to_caller() -> None:
    """A pathway_id not among the file's pathways is accepted (the catalogue may hold it)."""
    document = base_document()
    document["requests"][1]["pathway_id"] = "zno_lung"
    assert load_problem(document).request("R2").pathway_id == "zno_lung"


def test_all_reference_issues_collected() -> None:
    """Every broken reference is listed, in document order, the first in the message."""
    document = base_document()
    document["slots"][1]["id"] = "S1"
    document["slots"][0]["facility_id"] = "F9"
    document["requests"][0]["patient"]["allowed_facilities"] = ["F8"]
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    assert [(i.record, i.field) for i in info.value.issues] == [
        ("slot 'S1'", "id"),
        ("slot 'S1'", "facility_id"),
        ("request 'R1'", "patient.allowed_facilities"),
    ]
    assert str(info.value).endswith("(and 2 more issues)")


def test_messages_never_echo_patient_data() -> None:
    """Errors about a request never contain its diagnoses, district or dates."""
    document = base_document()
    request = document["requests"][0]
    request["referral"] = "not a date C34.1"
    request["patient"]["district"] = 17
    request["patient"]["surname"] = "Ivanov"
    with pytest.raises(InvalidProblemError) as info:
        load_problem(document)
    text = str(info.value) + " ".join(str(i) for i in info.value.issues)
    assert "C34" not in text
    assert "Ivanov" not in text
    assert ("request 'R1'", "patient.surname") in [(i.record, i.field) for i in info.value.issues]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format_version": 1, "format_version": 1}', "twice"),
        ("", "empty"),
        ("null", "expected a JSON object"),
    ],
)
def test_bad_json_text(source: str, reason: str) -> None:
    """Malformed text, a non-object and duplicate keys are InvalidInputError, not crashes."""
    with pytest.raises(InvalidInputError, match=reason):
        load_problem(source)


def test_wrong_format_version() -> None:
    """Only format_version 1 is read."""
    document = base_document()
    document["format_version"] = 2
    assert issues_of(document) == [("problem", "format_version")]


def test_round_trip_dump_load() -> None:
    """load(dump(p)) == p, and dumping is stable byte for byte."""
    document = base_document()
    document["timezone"] = "Europe/Moscow"
    document["slots"][0]["start"] = "2026-05-12T10:00:00"
    problem = load_problem(document)
    text = dump_problem(problem)
    again = load_problem(text)
    assert again == problem
    assert dump_problem(again) == text
    assert json.loads(text)["slots"][0]["start"] == "2026-05-12T10:00:00+03:00"
    assert json.loads(text)["requests"][0]["patient"]["allowed_facilities"] == ["F1", "F2"]


def test_json_schema() -> None:
    """The published schema is a JSON-serialisable dict with the document's top-level fields."""
    schema = problem_json_schema()
    assert isinstance(schema, dict)
    assert set(schema["properties"]) == {
        "format_version",
        "timezone",
        "facilities",
        "slots",
        "requests",
        "pathways",
        "travel",
    }
    assert set(schema["required"]) == {"format_version", "facilities", "slots", "requests"}
    assert schema["$schema"].startswith("https://json-schema.org/")
    json.dumps(schema)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def load_or_error(source: Any) -> Problem | InvalidInputError:
    """The loaded problem, or the InvalidInputError loading raised (anything else propagates)."""
    try:
        return load_problem(source)
    except InvalidInputError as error:
        return error


@given(st.dictionaries(st.text(max_size=15), JSON_VALUES, max_size=6) | JSON_VALUES)
@settings(max_examples=100, deadline=None)
def test_random_json_raises_only_invalid_input(value: Any) -> None:
    """Arbitrary JSON values, as objects or as text, give a Problem or InvalidInputError."""
    sources = [json.dumps(value)] + ([value] if isinstance(value, dict) else [])
    for source in sources:
        outcome = load_or_error(source)
        if isinstance(outcome, InvalidInputError):
            assert outcome.record
            assert str(outcome).startswith(outcome.record)


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
def test_mutated_document_raises_only_invalid_input(data: st.DataObject) -> None:
    """A valid document with one part replaced or removed loads or raises InvalidInputError."""
    document = base_document()
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON_VALUES)
    outcome = load_or_error(document)
    if isinstance(outcome, InvalidProblemError):
        assert outcome.issues
        assert all(isinstance(i, InvalidInputError) and i.record for i in outcome.issues)
    else:
        assert isinstance(outcome, Problem)
        assert load_problem(dump_problem(outcome)) == outcome


def test_schema_allows_the_service_string_form() -> None:
    """The JSON Schema admits a service as an object or as the "system:code" string."""
    service = problem_json_schema()["$defs"]["ServiceRef"]
    forms = service["anyOf"]
    assert any(form.get("type") == "string" for form in forms)
    assert any("properties" in form for form in forms)
