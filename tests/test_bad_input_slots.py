"""Bad records in slot files of every format: each is named, and the good records are kept.

CSV slots and facilities files, the city portal's appointments, FHIR Bundles and problem-format
slot files: a bad record is an issue naming it (by id or line) and its field; the good records in
the same input are still read. A file that cannot be read at all raises one error naming it.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bad_input_helpers import good_document
from routing.adapters.csv_source import read_facilities_csv, read_slots_csv
from routing.adapters.fhir import FhirOptions, parse_bundle
from routing.adapters.gorzdrav import appointments_to_slots, parse_appointments
from routing.adapters.importer import ProblemFileSource
from routing.adapters.source import SourceIssue
from routing.exceptions import InvalidInputError, NaiveDatetimeError

SLOT_HEADER = "slot_id,facility_id,service,start,end,capacity,resource,mode\n"
FIRST = "S1,F1,nmu:A06.09.005,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00,1,doc7,\n"
LAST = "S9,F1,nmu:A06.09.005,2026-05-12T11:00+03:00,2026-05-12T11:30+03:00,,,\n"
GOOD = ("S2", "F1", "nmu:A", "2026-05-12T10:00+03:00", "2026-05-12T10:30+03:00", "1", "", "")
COLUMNS = ("slot_id", "facility_id", "service", "start", "end", "capacity", "resource", "mode")

# (column, bad cell, the field the issue names)
SLOT_CELLS: list[tuple[str, str, str]] = [
    ("slot_id", "S 2", "slot_id"),
    ("slot_id", "S\x002", "slot_id"),
    ("slot_id", "S\x1b2", "slot_id"),
    ("slot_id", "S1", "slot_id"),
    ("slot_id", "", "slot_id"),
    ("facility_id", "F\x001", "facility_id"),
    ("facility_id", "", "facility_id"),
    ("service", "A06", "service"),
    ("service", "nmu:", "service"),
    ("service", "nmu:A\x00", "service"),
    ("service", "NMU:A", "service"),
    ("start", "2026-05-12", "start"),
    ("start", "garbage", "start"),
    ("start", "", "start"),
    ("start", "2026-02-30T10:00+03:00", "start"),
    ("end", "2026-05-12T09:00+03:00", "end"),
    ("end", "2026-05-12T10:00+03:00", "end"),
    ("capacity", "0", "capacity"),
    ("capacity", "-1", "capacity"),
    ("capacity", "true", "capacity"),
    ("capacity", "1e40", "capacity"),
    ("capacity", "1" + "0" * 30, "capacity"),
    ("capacity", "10001", "capacity"),
    ("capacity", "1.5", "capacity"),
    ("capacity", "NaN", "capacity"),
    ("capacity", "inf", "capacity"),
    ("resource", "doc\x007", "resource"),
    ("mode", "walk_in", "mode"),
    ("mode", "REMOTE", "mode"),
]


def _row(column: str, value: str) -> str:
    cells = dict(zip(COLUMNS, GOOD, strict=True))
    cells[column] = value
    return ",".join(cells[c] for c in COLUMNS) + "\n"


def _slot_ids(text: str, **options: Any) -> tuple[list[str], list[tuple[str, str]]]:
    slots, issues = read_slots_csv(io.StringIO(text), **options)
    return [s.id for s in slots], [(i.record, i.field) for i in issues]


@pytest.mark.parametrize(("column", "value", "field"), SLOT_CELLS)
def test_csv_bad_slot_cell_is_an_issue_on_its_line(column: str, value: str, field: str) -> None:
    """A bad cell is an issue naming line 3 and its column; the rows around it load."""
    ids, issues = _slot_ids(SLOT_HEADER + FIRST + _row(column, value) + LAST)
    assert issues == [("csv line 3", field)]
    assert ids == ["S1", "S9"]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("S2,F1,nmu:A\n", ""),
        ("S2,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,,,extra\n", ""),
        ("S2\n", ""),
    ],
)
def test_csv_row_of_the_wrong_width_is_an_issue(row: str, field: str) -> None:
    """A row with too few or too many fields is an issue on its line; the others load."""
    ids, issues = _slot_ids(SLOT_HEADER + FIRST + row + LAST)
    assert issues == [("csv line 3", field)]
    assert ids == ["S1", "S9"]


# (case id, the bad line, the ids still read of S3..S5 that follow it)
QUOTES: list[tuple[str, str]] = [
    ("unclosed", 'S2,F1,"nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,,\n'),
    ("stray-after-quoted", 'S2,F1,"nmu":A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,,\n'),
    ("unclosed-last-cell", 'S2,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,,"\n'),
    ("unclosed-first-cell", '"S2,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,,\n'),
    ("closed-lines-later", 'S2,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,"a,\n'),
    ("stray-inside", 'S2,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,a"b,\n'),
    ("stray-pair-inside", 'S2,F1,nm"u":A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,,\n'),
]
LATER = "".join(
    f"S{n},F1,nmu:A,2026-05-1{n}T10:00+03:00,2026-05-1{n}T10:30+03:00,1,,\n" for n in (3, 4, 5)
)


@pytest.mark.parametrize("bad", [b for _, b in QUOTES], ids=[c for c, _ in QUOTES])
def test_csv_unbalanced_quote_names_its_line_and_loses_no_later_row(bad: str) -> None:
    """An unbalanced or stray quote is an issue on its line; every later row is still read."""
    tail = LATER + 'S6,F1,nmu:A,2026-05-16T10:00+03:00,2026-05-16T10:30+03:00,1,"b",\n'
    if "closed-lines-later" in bad or bad.endswith(',"a,\n'):
        tail = LATER + 'S6,F1,nmu:A,2026-05-16T10:00+03:00,2026-05-16T10:30+03:00,1,b",\n'
    ids, issues = _slot_ids(SLOT_HEADER + FIRST + bad + tail)
    assert ("csv line 3", "") in issues
    assert {"S1", "S3", "S4", "S5"} <= set(ids)
    assert "S2" not in ids
    reasons = read_slots_csv(io.StringIO(SLOT_HEADER + FIRST + bad + tail))[1]
    assert "quote" in next(i.reason for i in reasons if i.record == "csv line 3")


def test_csv_doubled_quotes_inside_a_quoted_field_are_allowed() -> None:
    """A quoted field with doubled quotes is read as one quote each, with no issue."""
    row = 'S2,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,"room ""A""",\n'
    slots, issues = read_slots_csv(io.StringIO(SLOT_HEADER + FIRST + row + LAST))
    assert issues == []
    assert [s.resource for s in slots] == ["doc7", 'room "A"', None]


def test_csv_quoted_newline_in_a_good_row_is_still_allowed() -> None:
    """A quoted field may span lines when the row is well formed (a resource with a newline)."""
    row = 'S2,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,"room\n7",\n'
    ids, issues = _slot_ids(SLOT_HEADER + FIRST + row + LAST)
    assert issues == []
    assert ids == ["S1", "S2", "S9"]


def test_csv_naive_times_are_one_error_for_the_file() -> None:
    """Many naive rows give one NaiveDatetimeError, naming the fix; nothing is returned."""
    naive = "".join(
        f"S{n},F1,nmu:A,2026-05-12T1{n}:00,2026-05-12T1{n}:30,1,,\n" for n in range(2, 8)
    )
    with pytest.raises(NaiveDatetimeError) as info:
        read_slots_csv(io.StringIO(SLOT_HEADER + FIRST + naive))
    message = str(info.value)
    assert "--timezone Europe/Moscow" in message
    assert "+03:00" in message
    assert message.count("line") == 1
    ids, _ = _slot_ids(SLOT_HEADER + FIRST + naive, timezone="Europe/Moscow")
    assert len(ids) == 7


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"\xff\xfeslot_id", "offset"),
        (b"slot_id;facility_id\n", "missing column"),
        (b"slot_id,facility_id,service,start,end,colour\n", "unknown column"),
        (b"slot_id,slot_id,facility_id,service,start,end\n", "repeated column"),
        (b'"slot_id,facility_id,service,start,end\n', "header"),
    ],
    ids=["empty", "not-utf8", "one-column", "unknown", "repeated", "quoted-header"],
)
def test_csv_unusable_file_raises_naming_it(content: bytes, fragment: str, tmp_path: Path) -> None:
    """A slots file that cannot be used at all raises one InvalidInputError naming the file."""
    path = tmp_path / "slots.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError) as info:
        read_slots_csv(path)
    assert fragment in str(info.value)
    assert info.value.record == "slots.csv"


FACILITY_HEADER = "facility_id,name,level,lat,lon,district,services\n"
FACILITY_GOOD = {
    "facility_id": "F2",
    "name": "Two",
    "level": "2",
    "lat": "59.9",
    "lon": "30.3",
    "district": "Central",
    "services": "fer:27",
}

# (column, bad cell, the field the issue names)
FACILITY_CELLS: list[tuple[str, str, str]] = [
    ("facility_id", "F\x002", "facility_id"),
    ("facility_id", "F 2", "facility_id"),
    ("facility_id", "F1", "facility_id"),
    ("name", "", "name"),
    ("name", "Two\x00", "name"),
    ("level", "true", "level"),
    ("level", "4", "level"),
    ("level", "1e40", "level"),
    ("level", "2.0", "level"),
    ("lat", "NaN", "lat"),
    ("lat", "inf", "lat"),
    ("lat", "91", "lat"),
    ("lat", "", "lat"),
    ("district", "Cen\x07tral", "district"),
    ("services", "27", "services"),
    ("services", "fer:27;fer:27", "services"),
]


@pytest.mark.parametrize(("column", "value", "field"), FACILITY_CELLS)
def test_csv_bad_facility_cell_is_an_issue(column: str, value: str, field: str) -> None:
    """A bad facility cell is an issue naming line 3 and the column; the good rows load."""
    first = "F1,One,1,,,,fer:27\n"
    last = "F9,Nine,3,,,,\n"
    cells = dict(FACILITY_GOOD, **{column: value})
    row = ",".join(cells[c] for c in FACILITY_GOOD) + "\n"
    facilities, issues = read_facilities_csv(io.StringIO(FACILITY_HEADER + first + row + last))
    assert [(i.record, i.field) for i in issues] == [("csv line 3", field)]
    assert [f.id for f in facilities] == ["F1", "F9"]


def _appointment(aid: str, start: str, end: str) -> dict[str, Any]:
    return {"id": aid, "visitStart": start, "visitEnd": end, "room": "7"}


# (case id, the bad appointment, the field named)
PORTAL_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "id-nul",
        _appointment("12.05.2026;10:00;\x00", "2026-05-12T10:00:00", "2026-05-12T10:15:00"),
        "id",
    ),
    ("id-space", _appointment("12.05 2026", "2026-05-12T10:00:00", "2026-05-12T10:15:00"), "id"),
    ("start-garbage", _appointment("a2", "soon", "2026-05-12T10:15:00"), "visitStart"),
    ("start-bool", _appointment("a2", True, "2026-05-12T10:15:00"), "visitStart"),  # type: ignore[arg-type]
    ("end-missing", {"id": "a2", "visitStart": "2026-05-12T10:00:00"}, "visitEnd"),
]


@pytest.mark.parametrize(
    ("bad", "field"), [(b, f) for _, b, f in PORTAL_CASES], ids=[c for c, _, _ in PORTAL_CASES]
)
def test_portal_bad_appointment_is_rejected_and_the_rest_kept(
    bad: dict[str, Any], field: str
) -> None:
    """A bad appointment of the city portal is rejected by position and field; the others map."""
    good = _appointment("12.05.2026;09:00;d1", "2026-05-12T09:00:00", "2026-05-12T09:15:00")
    body = json.dumps({"success": True, "errorCode": 0, "result": [good, bad]})
    answer = parse_appointments(body)
    assert [r.id for r in answer.records] == ["12.05.2026;09:00;d1"]
    assert len(answer.rejected) == 1
    assert answer.rejected[0].field.split(".")[0] in (field, _snake(field))
    assert "\x00" not in str(answer.rejected[0])


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def test_portal_appointment_ending_before_it_starts_is_an_issue() -> None:
    """An appointment whose end is not after its start is an issue on the slot; others map."""
    good = _appointment("a1", "2026-05-12T09:00:00", "2026-05-12T09:15:00")
    bad = _appointment("a2", "2026-05-12T10:00:00", "2026-05-12T09:00:00")
    body = json.dumps({"success": True, "errorCode": 0, "result": [good, bad]})
    from nosology.pathway import ServiceRef

    slots, issues = appointments_to_slots(
        parse_appointments(body).records, "100", ServiceRef(system="fer", code="27")
    )
    assert len(slots) == 1
    assert [(i.record, i.field) for i in issues] == [("appointment 'a2'", "end")]


T0 = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)


def _fhir_slot(sid: str, minutes: int = 0, **extra: Any) -> dict[str, Any]:
    start = T0 + timedelta(minutes=minutes)
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": sid,
        "schedule": {"reference": "Schedule/sch1"},
        "status": "free",
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "serviceType": [
            {
                "concept": {
                    "coding": [
                        {"system": "urn:oid:1.2.643.5.1.13.13.11.1070", "code": "A06.09.005"}
                    ]
                }
            }
        ],
    }
    resource.update(extra)
    return resource


def _fhir_bundle(*slots: dict[str, Any]) -> dict[str, Any]:
    support = [
        {"resourceType": "Schedule", "id": "sch1", "actor": [{"reference": "Location/loc1"}]},
        {"resourceType": "Location", "id": "loc1", "name": "Polyclinic 1"},
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"fullUrl": f"http://x/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in (*slots, *support)
        ],
    }


# (case id, fields that spoil the second Slot, the field named)
FHIR_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("status-open", {"status": "open"}, "status"),
    ("start-naive", {"start": "2026-05-12T10:00:00"}, "start"),
    ("end-before-start", {"end": "2026-05-12T08:00:00+00:00"}, "end"),
    ("start-garbage", {"start": "soon"}, "start"),
    ("schedule-outside", {"schedule": {"reference": "Schedule/none"}}, "schedule"),
    ("status-number", {"status": 5}, "status"),
    ("end-bool", {"end": True}, "end"),
    ("service-type-string", {"serviceType": "x"}, "serviceType"),
]


@pytest.mark.parametrize(
    ("spoil", "field"), [(s, f) for _, s, f in FHIR_CASES], ids=[c for c, _, _ in FHIR_CASES]
)
def test_fhir_bad_slot_entry_is_an_issue_and_the_rest_kept(
    spoil: dict[str, Any], field: str
) -> None:
    """A bad Slot entry is an issue naming the entry and field; the good Slot is offered."""
    data = _fhir_bundle(_fhir_slot("s1"), _fhir_slot("s2", minutes=60, **spoil))
    read = parse_bundle(
        data, FhirOptions(), start=T0 - timedelta(days=1), end=T0 + timedelta(days=3)
    )
    assert [s.id for s in read.batch.slots] == ["fhir:s1"]
    named = [(i.record, i.field.split(".")[0]) for i in read.batch.issues]
    assert ("Bundle.entry[1] (Slot/s2)", field) in named


# (case id, kind, index, key, value, the record and field of the issue)
PROBLEM_SLOT_FILE: list[tuple[str, str, int, str, Any, tuple[str, str]]] = [
    ("capacity-bool", "slots", 2, "capacity", True, ("slot 'S3'", "capacity")),
    ("capacity-huge", "slots", 2, "capacity", 10**30, ("slot 'S3'", "capacity")),
    ("id-nul", "slots", 2, "id", "S\u00003", ("slots[2]", "id")),
    ("service-nul", "slots", 2, "service", "fer:\u0000", ("slot 'S3'", "service.code")),
    ("facility-level-bool", "facilities", 1, "level", True, ("facility 'F2'", "level")),
    ("start-naive", "slots", 2, "start", "2026-05-14T10:00", ("slot 'S3'", "start")),
]


@pytest.mark.parametrize(
    ("collection", "index", "key", "value", "named"),
    [c[1:] for c in PROBLEM_SLOT_FILE],
    ids=[c[0] for c in PROBLEM_SLOT_FILE],
)
def test_problem_slot_file_bad_record_is_an_issue_and_the_rest_imported(
    collection: str, index: int, key: str, value: Any, named: tuple[str, str], tmp_path: Path
) -> None:
    """A bad record of a problem-format slots file is an issue; the other slots are imported."""
    document = good_document()
    document[collection][index][key] = value
    path = tmp_path / "slots.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    batch = ProblemFileSource(path).fetch(
        datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    )
    assert named in [(i.record, i.field) for i in batch.issues]
    assert all(isinstance(i, SourceIssue) for i in batch.issues)
    assert {"S1", "S2"} <= {s.id for s in batch.slots}
    assert "S3" not in {s.id for s in batch.slots}
