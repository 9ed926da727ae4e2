"""The importer: picking adapters by input, combining, summaries and the slots file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from routing.adapters.csv_source import CsvSource
from routing.adapters.fhir import FhirBundleSource
from routing.adapters.fhir_rest import FhirRestSource
from routing.adapters.importer import (
    ProblemFileSource,
    import_sources,
    source_for,
    summarize,
)
from routing.adapters.source import SlotBatch
from routing.domain import Facility, Slot
from routing.exceptions import InvalidInputError, InvalidProblemError
from routing.outputs.slots_document import write_slots_file
from routing.problem import load_problem

START = datetime(2026, 5, 1, tzinfo=UTC)
END = START + timedelta(days=30)
SLOTS = (
    "slot_id,facility_id,service,start,end\n"
    "S1,F1,nmu:A06.09.005,2026-05-12T09:00+03:00,2026-05-12T09:30+03:00\n"
    "S2,F1,nmu:A06.09.005,2026-05-14T09:00+03:00,2026-05-14T09:30+03:00\n"
    "S3,F1,fer:27,2026-05-13T09:00+03:00,2026-05-13T09:30+03:00\n"
)
FACILITIES = "facility_id,name,level\nF1,Polyclinic 1,1\n"


def csv_dir(tmp_path: Path) -> Path:
    """A directory with slots.csv and facilities.csv."""
    (tmp_path / "slots.csv").write_text(SLOTS, encoding="utf-8")
    (tmp_path / "facilities.csv").write_text(FACILITIES, encoding="utf-8")
    return tmp_path


def fhir_file(tmp_path: Path) -> Path:
    """A FHIR R5 bundle file with one free slot at Location L1."""
    resources = [
        {
            "resourceType": "Slot",
            "id": "x1",
            "schedule": {"reference": "Schedule/s"},
            "status": "free",
            "start": "2026-05-15T10:00:00+03:00",
            "end": "2026-05-15T10:30:00+03:00",
            "serviceType": [{"concept": {"coding": [{"system": "fer", "code": "27"}]}}],
        },
        {"resourceType": "Schedule", "id": "s", "actor": [{"reference": "Location/L1"}]},
        {"resourceType": "Location", "id": "L1", "name": "Centre"},
    ]
    path = tmp_path / "bundle.json"
    document = {"resourceType": "Bundle", "type": "collection", "entry": []}
    document["entry"] = [{"resource": r} for r in resources]
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_source_for_picks_the_adapter(tmp_path: Path) -> None:
    """Each input form gives its adapter; slots/facilities are told apart by their header."""
    folder = csv_dir(tmp_path)
    assert isinstance(source_for("https://fhir.example.org/R5"), FhirRestSource)
    assert isinstance(source_for(str(folder)), CsvSource)
    pair = source_for(f"{folder / 'facilities.csv'},{folder / 'slots.csv'}")
    assert isinstance(pair, CsvSource)
    assert pair.slots.name == "slots.csv"
    assert isinstance(source_for(str(folder / "slots.csv")), CsvSource)
    assert isinstance(source_for(str(fhir_file(tmp_path))), FhirBundleSource)
    problem = tmp_path / "problem.json"
    problem.write_text('{"format_version": 1, "facilities": [], "slots": [], "requests": []}')
    assert isinstance(source_for(str(problem)), ProblemFileSource)


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.json", None), ("notes.txt", "x"), ("other.json", '{"a": 1}'), ("bad.json", "{")],
)
def test_source_for_rejects_unusable_inputs(tmp_path: Path, name: str, content: str | None) -> None:
    """A missing file, an unknown kind or JSON of no known shape raises naming the file."""
    if content is not None:
        (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        source_for(str(tmp_path / name))
    assert caught.value.record == name


def test_directory_without_facilities_raises(tmp_path: Path) -> None:
    """A directory lacking facilities.csv is rejected, naming the missing file."""
    (tmp_path / "slots.csv").write_text(SLOTS, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"facilities\.csv"):
        source_for(str(tmp_path))


def test_import_combines_csv_and_fhir_and_round_trips(tmp_path: Path) -> None:
    """CSV and FHIR inputs combine; the slots file loads back as the same records."""
    batch = import_sources([str(csv_dir(tmp_path)), str(fhir_file(tmp_path))], start=START, end=END)
    assert batch.issues == ()
    assert sorted(s.id for s in batch.slots) == ["S1", "S2", "S3", "fhir:x1"]
    assert {f.id for f in batch.facilities} == {"F1", "fhir:L1"}
    path = tmp_path / "out" / "slots.json"
    path.parent.mkdir()
    written = write_slots_file(batch, path)
    loaded = load_problem(path)
    assert loaded == written
    assert loaded.requests == ()
    assert set(loaded.slots) == set(batch.slots)
    first = path.read_bytes()
    write_slots_file(SlotBatch(facilities=batch.facilities[::-1], slots=batch.slots[::-1]), path)
    assert path.read_bytes() == first  # stable order: the same records give the same bytes


def test_import_reports_a_failing_source_and_keeps_the_rest(tmp_path: Path) -> None:
    """A source failing while read (bad header) is an issue; the other inputs still load."""
    bad = tmp_path / "bad.csv"
    bad.write_text("slot_id,when\n", encoding="utf-8")
    batch = import_sources([str(fhir_file(tmp_path)), str(bad)], start=START, end=END)
    assert [s.id for s in batch.slots] == ["fhir:x1"]
    assert [(i.source, i.field) for i in batch.issues] == [("csv:bad.csv", "header")]


def test_import_checks_arguments(tmp_path: Path) -> None:
    """No inputs, a naive window or an unknown zone raise."""
    with pytest.raises(InvalidInputError, match="paths_or_urls"):
        import_sources([], start=START, end=END)
    with pytest.raises(InvalidInputError, match="start"):
        import_sources([str(csv_dir(tmp_path))], start=START.replace(tzinfo=None), end=END)
    with pytest.raises(InvalidInputError, match="timezone"):
        import_sources([str(csv_dir(tmp_path))], start=START, end=END, timezone="Atlantis")


def test_summarize_counts_per_facility_and_service(tmp_path: Path) -> None:
    """One summary per facility and service, with counts and first and last dates."""
    batch = import_sources([str(csv_dir(tmp_path))], start=START, end=END)
    summary = [
        (s.facility_id, str(s.service), s.count, s.first_date, s.last_date)
        for s in summarize(batch)
    ]
    assert summary == [
        ("F1", "fer:27", 1, date(2026, 5, 13), date(2026, 5, 13)),
        ("F1", "nmu:A06.09.005", 2, date(2026, 5, 12), date(2026, 5, 14)),
    ]


def test_write_rejects_slots_without_their_facility(tmp_path: Path) -> None:
    """A slot whose facility is not in the batch cannot be written."""
    slot = Slot(id="a", facility_id="F9", service="nmu:A", start=START, end=END)
    batch = SlotBatch(facilities=(Facility(id="F1", name="One", level=1),), slots=(slot,))
    with pytest.raises(InvalidProblemError, match="F9"):
        write_slots_file(batch, tmp_path / "slots.json")
    assert not any(tmp_path.iterdir())
