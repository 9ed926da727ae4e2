"""The CSV adapter: columns, header checks, row-level issues with line numbers, time zones."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.pathway import ServiceRef, VisitMode
from routing.adapters.csv_source import CsvSource, read_facilities_csv, read_slots_csv
from routing.adapters.source import SlotSource
from routing.exceptions import InvalidInputError, NaiveDatetimeError

SLOTS_HEADER = "slot_id,facility_id,service,start,end,capacity,resource,mode\n"
FACILITIES = (
    "facility_id,name,level,lat,lon,district,services\n"
    "F1,Polyclinic 1,1,59.93,30.31,Central,nmu:A06.09.005;fer:27\n"
    "F2,Oncology centre,2,,,,\n"
)
GOOD_ROW = "S1,F1,nmu:A06.09.005,2026-05-12T09:00:00+03:00,2026-05-12T09:30:00+03:00,1,doc7,\n"


def slots(text: str, **options: object) -> tuple[list[object], list[tuple[str, str]]]:
    """Read slots CSV text; the slots and (record, field) of each issue."""
    found, issues = read_slots_csv(io.StringIO(SLOTS_HEADER + text), **options)  # type: ignore[arg-type]
    return found, [(i.record, i.field) for i in issues]


def test_good_row_maps_every_column() -> None:
    """A well-formed row gives a slot with every documented column mapped."""
    (slot,), issues = read_slots_csv(io.StringIO(SLOTS_HEADER + GOOD_ROW))
    assert issues == []
    assert slot.id == "S1"
    assert slot.facility_id == "F1"
    assert slot.service == ServiceRef(system="nmu", code="A06.09.005")
    assert slot.start == datetime(2026, 5, 12, 6, 0, tzinfo=UTC)
    assert slot.duration == timedelta(minutes=30)
    assert (slot.capacity, slot.resource, slot.mode) == (1, "doc7", VisitMode.IN_PERSON)


def test_optional_columns_may_be_absent() -> None:
    """Only the required columns present: capacity 1, no resource, in person."""
    text = (
        "slot_id,facility_id,service,start,end\nS1,F1,fer:27,2026-05-12T09:00Z,2026-05-12T10:00Z\n"
    )
    (slot,), issues = read_slots_csv(io.StringIO(text))
    assert issues == []
    assert (slot.capacity, slot.resource, slot.mode) == (1, None, VisitMode.IN_PERSON)


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("slot_id,facility_id,service,start\n", "missing column(s) end"),
        ("slot_id,facility_id,service,start,end,room\n", "unknown column(s) 'room'"),
        ("slot_id,facility_id,service,start,end,end\n", "repeated column(s) 'end'"),
        ("", "empty"),
    ],
)
def test_header_errors_name_the_columns(header: str, named: str) -> None:
    """A header with missing, unknown or repeated columns (or none) raises naming them."""
    with pytest.raises(InvalidInputError, match="header") as caught:
        read_slots_csv(io.StringIO(header))
    assert named in caught.value.reason


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("S2,F1,A06,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00,,,", "service"),
        ("S2,F1,nmu:A,2026-05-12,2026-05-12T09:30+03:00,,,", "start"),
        ("S2,F1,nmu:A,2026-05-12T09:00+03:00,2026-05-12T09:00+03:00,,,", "end"),
        ("S2,F1,nmu:A,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00,0,,", "capacity"),
        ("S2,F1,nmu:A,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00,x,,", "capacity"),
        ("S2,F1,nmu:A,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00,1,,walk-in", "mode"),
        ("S2,F1,nmu:A,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00,1,,either", "mode"),
        ("S 2,F1,nmu:A,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00,1,,", "slot_id"),
        ("S1,F1,nmu:A,2026-05-12T10:00+03:00,2026-05-12T10:30+03:00,1,,", "slot_id"),
        ("S2,F1,nmu:A", ""),
    ],
)
def test_bad_row_is_an_issue_with_its_line(row: str, field: str) -> None:
    """A bad row is an issue naming line 3 and the column; the good row still loads."""
    found, issues = slots(GOOD_ROW + row + "\n")
    assert len(found) == 1
    assert issues == [("csv line 3", field)]


def test_line_numbers_count_blank_and_multiline_rows() -> None:
    """Line numbers are physical lines: blank lines and quoted newlines are counted."""
    text = GOOD_ROW + "\n" + 'S2,F1,nmu:A,"2026-05-12\nT09:00",x,,,\n' + "S3,F1,nmu:A,bad,bad,,,\n"
    _, issues = slots(text)
    assert issues == [("csv line 4", "start"), ("csv line 6", "start")]


def test_naive_datetimes_without_zone_are_one_error_for_the_file() -> None:
    """Without a timezone, naive datetimes raise once for the file, naming how to fix it."""
    text = "S2,F1,nmu:A,2026-05-12T09:00,2026-05-12T09:30,,,\n" * 3
    with pytest.raises(NaiveDatetimeError, match="--timezone Europe/Moscow") as info:
        slots(GOOD_ROW + text)
    assert info.value.record == "csv"
    assert "line 3" in info.value.reason


def test_naive_datetimes_read_in_the_configured_zone() -> None:
    """With a timezone, a datetime without offset is local time there."""
    text = "S1,F1,nmu:A,2026-05-12T09:00,2026-05-12T09:30,,,\n"
    (slot,), issues = slots(text, timezone="Europe/Moscow")
    assert issues == []
    assert slot.start == datetime(2026, 5, 12, 6, 0, tzinfo=UTC)  # type: ignore[attr-defined]
    with pytest.raises(InvalidInputError, match="timezone"):
        slots(text, timezone="Nowhere/City")


def test_facilities_file() -> None:
    """Facilities load with location, district and ';'-separated services; bad rows are issues."""
    text = FACILITIES + "F3,Bad level,4,,,,\nF4,Half location,1,59.9,,,\nF1,Twice,1,,,,\n"
    found, issues = read_facilities_csv(io.StringIO(text))
    assert [f.id for f in found] == ["F1", "F2"]
    first = found[0]
    assert first.location is not None
    assert first.location.lon == pytest.approx(30.31)
    assert first.district == "Central"
    assert [str(s) for s in first.services] == ["nmu:A06.09.005", "fer:27"]
    assert [(i.record, i.field) for i in issues] == [
        ("csv line 4", "level"),
        ("csv line 5", "lon"),
        ("csv line 6", "facility_id"),
    ]


def write_pair(tmp_path: Path, rows: str) -> CsvSource:
    """A CsvSource over a slots file with ``rows`` and the standard facilities file."""
    (tmp_path / "slots.csv").write_text(SLOTS_HEADER + rows, encoding="utf-8")
    (tmp_path / "facilities.csv").write_text(FACILITIES, encoding="utf-8")
    return CsvSource(tmp_path / "slots.csv", tmp_path / "facilities.csv")


def test_source_filters_window_and_services_and_checks_facilities(tmp_path: Path) -> None:
    """fetch keeps slots in the window and of the services; unknown facilities are issues."""
    rows = (
        GOOD_ROW
        + "S2,F2,fer:27,2026-05-13T09:00+03:00,2026-05-13T09:30+03:00,2,,remote\n"
        + "S3,F9,fer:27,2026-05-13T09:00+03:00,2026-05-13T09:30+03:00,,,\n"
        + "S4,F2,fer:27,2026-07-13T09:00+03:00,2026-07-13T09:30+03:00,,,\n"
    )
    source = write_pair(tmp_path, rows)
    assert isinstance(source, SlotSource)
    assert source.name == "csv:slots.csv"
    start = datetime(2026, 5, 1, tzinfo=UTC)
    batch = source.fetch(start, start + timedelta(days=30))
    assert [s.id for s in batch.slots] == ["S1", "S2"]
    assert [(i.record, i.field) for i in batch.issues] == [("slot 'S3'", "facility_id")]
    assert len(batch.facilities) == 2
    only = source.fetch(start, start + timedelta(days=30), [ServiceRef(system="fer", code="27")])
    assert [(s.id, s.capacity, s.mode) for s in only.slots] == [("S2", 2, VisitMode.REMOTE)]


def test_not_utf8_file_raises(tmp_path: Path) -> None:
    """A file that is not UTF-8 raises an InvalidInputError naming the file."""
    path = tmp_path / "slots.csv"
    path.write_bytes(SLOTS_HEADER.encode() + "S1,F1,nmu:Ä\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match=r"slots\.csv"):
        read_slots_csv(path)


def test_bom_and_semicolon_delimiter() -> None:
    """A UTF-8 BOM before the header and another delimiter are accepted."""
    text = "\ufeff" + SLOTS_HEADER.replace(",", ";") + GOOD_ROW.replace(",", ";")
    found, issues = read_slots_csv(io.StringIO(text), delimiter=";")
    assert (len(found), issues) == (1, [])


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=300)
    | st.lists(
        st.lists(st.text(max_size=30) | st.sampled_from(["nmu:A", "2026-05-12T09:00Z", "1"])),
        max_size=5,
    ).map(lambda rows: SLOTS_HEADER + "\n".join(",".join(r) for r in rows))
)
def test_arbitrary_text_raises_only_library_errors(text: str) -> None:
    """Arbitrary text gives slots and issues or an InvalidInputError, nothing else."""
    try:
        found, issues = read_slots_csv(io.StringIO(text))
    except InvalidInputError:
        return
    assert all(s.end > s.start for s in found)
    assert all(i.record.startswith("csv line ") for i in issues)
