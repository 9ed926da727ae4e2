"""The runnable examples and the shipped example problem."""

from __future__ import annotations

import importlib.util
import json
import os
import runpy
import shutil
import subprocess
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
PORTAL = ROOT / "tests" / "data" / "gorzdrav" / "DistrictResponse_example.json"


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
    portal = {r["id"]: r for r in json.loads(PORTAL.read_text("utf-8"))["result"]}
    levels = set()
    for facility in load_example().facilities:
        levels.add(facility.level)
        if facility.id.startswith("gorzdrav-"):
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


def test_generator_reproduces_committed_file(generator: ModuleType, tmp_path: Path) -> None:
    """The seeded generator writes the committed example byte for byte."""
    output = tmp_path / "lung_spb.json"
    assert generator.main(["--output", str(output)]) == 0
    assert output.read_text("utf-8") == example_text()
    assert generator.main(["--output", str(output), "--check"]) == 0


def test_generator_without_the_portal_response_fails_cleanly(
    generator: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing portal response is exit 2 with one line naming the file, no traceback."""
    missing = tmp_path / "absent.json"
    assert generator.main(["--data", str(missing), "--output", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "absent.json" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def _fresh_clone(target: Path) -> Path:
    """The repository's tracked files (as a fresh clone has them) copied under ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode("utf-8")
    clone = target / "clone"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(),
    reason="a git checkout lists the files a fresh clone has",
)
@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES_DIR.glob("*.py")))
def test_every_example_runs_in_a_fresh_clone(script: str, tmp_path: Path) -> None:
    """Each examples/*.py exits 0 from a copy of the repository, run from another directory."""
    clone = _fresh_clone(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    before = (clone / "src" / "routing" / "examples" / "lung_spb.json").read_bytes()
    done = subprocess.run(
        [sys.executable, str(clone / "examples" / script)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # The generator rewrote the clone's example file: byte for byte the committed one.
    assert (clone / "src" / "routing" / "examples" / "lung_spb.json").read_bytes() == before
    assert list(elsewhere.iterdir()) == []


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
