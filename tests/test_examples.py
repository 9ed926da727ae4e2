"""The runnable examples and the shipped example problem."""

from __future__ import annotations

import importlib.util
import json
import runpy
import sys
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from nosology.resolve import resolve_code
from routing.calendar import default_calendar
from routing.examples import BATCH_EXAMPLE, EXAMPLES, example_text, load_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
PORTAL = ROOT.parent / "shared" / "data" / "gorzdrav" / "DistrictResponse_example.json"


@pytest.fixture
def generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """examples/make_lung_example.py imported as a module (registered only for the test)."""
    spec = importlib.util.spec_from_file_location(
        "make_lung_example", EXAMPLES_DIR / "make_lung_example.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_plan_one_patient_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/plan_one_patient.py runs as a script and prints a complete route."""
    runpy.run_path(str(EXAMPLES_DIR / "plan_one_patient.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "C34.1 -> pathway zno_lung" in out
    assert "request R-0001" in out
    assert "OPTIMAL" in out or "FEASIBLE" in out
    assert "treatment" in out


def test_example_loads_and_is_lung_cancer() -> None:
    """The shipped example loads and every request's diagnosis resolves to the lung pathway."""
    assert EXAMPLES == ("lung_spb", "contended_spb")
    problem = load_example()
    assert json.loads(example_text())["format_version"] == 1
    assert len(problem.requests) >= 1
    for request in problem.requests:
        assert request.referral.utcoffset() == timedelta(hours=3)
        assert [resolve_code(c).pathway_id for c in request.diagnoses] == ["zno_lung"]


def test_example_facilities_are_real_or_marked_synthetic() -> None:
    """Portal facilities keep their real ids; every other one is marked synthetic by id and name."""
    portal = (
        {r["id"]: r for r in json.loads(PORTAL.read_text("utf-8"))["result"]}
        if PORTAL.is_file()
        else None
    )
    levels = set()
    for facility in load_example().facilities:
        levels.add(facility.level)
        if facility.id.startswith("gorzdrav-"):
            if portal is not None:
                record = portal[int(facility.id.removeprefix("gorzdrav-"))]
                assert facility.name == record["lpuFullName"].strip()
                assert facility.location is not None
                assert facility.location.lat == float(record["latitude"])
        else:
            assert facility.id.startswith("synthetic-")
            assert "synthetic" in facility.name
    assert levels == {1, 2, 3}


def test_example_slots_fall_on_working_days() -> None:
    """Every slot lies on a working day within four weeks of 2 March 2026, inside 08:00-20:00."""
    calendar = default_calendar()
    for slot in load_example().slots:
        local = slot.start.astimezone(calendar.zone)
        assert calendar.is_working_day(local.date())
        assert date(2026, 3, 2) <= local.date() < date(2026, 3, 30)
        assert local.hour >= 8
        assert slot.end.astimezone(calendar.zone) <= local.replace(hour=20, minute=0)


def test_example_unknown_name() -> None:
    """An unknown example name is a ValueError listing the known ones."""
    with pytest.raises(ValueError, match="lung_spb"):
        example_text("nope")


@pytest.mark.skipif(not PORTAL.is_file(), reason="the recorded portal data is not available")
def test_generator_reproduces_committed_file(generator: ModuleType, tmp_path: Path) -> None:
    """The seeded generator writes the committed example byte for byte."""
    output = tmp_path / "lung_spb.json"
    assert generator.main(["--output", str(output)]) == 0
    assert output.read_text("utf-8") == example_text()
    assert generator.main(["--output", str(output), "--check"]) == 0


@pytest.fixture
def batch_generator(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """examples/make_batch_example.py imported as a module (registered only for the test)."""
    spec = importlib.util.spec_from_file_location(
        "make_batch_example", EXAMPLES_DIR / "make_batch_example.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_batch_generator_reproduces_committed_file(
    batch_generator: ModuleType, tmp_path: Path
) -> None:
    """The seeded batch example generator writes the committed file byte for byte."""
    output = tmp_path / "contended_spb.json"
    assert batch_generator.main(["--output", str(output)]) == 0
    assert output.read_text("utf-8") == example_text(BATCH_EXAMPLE)
    assert batch_generator.main(["--output", str(output), "--check"]) == 0
    assert batch_generator.PARAMETERS.seed == 2


def test_batch_example_is_a_contended_cohort() -> None:
    """The batch example is a few dozen patients on pathways with deadlines, in the package."""
    problem = load_example(BATCH_EXAMPLE)
    assert 30 <= len(problem.requests) <= 60
    assert len({r.patient.id for r in problem.requests}) == len(problem.requests)
    assert BATCH_EXAMPLE in EXAMPLES
