"""``routing event`` and ``routing state`` against a journal file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lifecycle_world import START, published, route_proposed, world
from routing.cli import main

ONE_PLACE = next(s.id for s in world()[1] if s.capacity == 1)


def write_events(path: Path) -> Path:
    """The world published and one route proposed, as a JSON list of events."""
    events = [published(), route_proposed("R1", (ONE_PLACE,))]
    path.write_text(json.dumps([e.model_dump(mode="json") for e in events]), encoding="utf-8")
    return path


def test_event_file_then_one_event_then_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of events, then a booking from options: state --json shows route, hold, status."""
    db = f"sqlite:///{tmp_path / 'j.db'}"
    assert main(["event", str(write_events(tmp_path / "e.json")), "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "applied": ["publish", "R1:proposed"],
        "events": 2,
    }
    argv = ["event", "--type", "stage_booked", "--id", "b1", "--at", START.isoformat()]
    assert main([*argv, "--route", "R1", "--stage", "s0", "--db", db]) == 0
    capsys.readouterr()
    assert main(["state", "--db", db, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["routes"][0]["stages"][0]["status"] == "booked"
    assert document["holds"] == [
        {"slot_id": ONE_PLACE, "capacity": 1, "held": 0, "booked": 1, "withdrawn": False}
    ]
    assert document["waitlist"] == []
    assert main(["state", "--db", db]) == 0
    assert "R1" in capsys.readouterr().out


def test_bad_events_exit_2_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown route, an out-of-order no-show, a duplicate id: exit 2, the journal unchanged."""
    db = f"sqlite:///{tmp_path / 'j.db'}"
    assert main(["event", str(write_events(tmp_path / "e.json")), "--db", db]) == 0
    at = START.isoformat()
    bad = [
        ["--type", "stage_held", "--id", "x", "--at", at, "--route", "R9", "--stage", "s0"],
        ["--type", "stage_held", "--id", "publish", "--at", at, "--route", "R1", "--stage", "s0"],
        ["--type", "slot_withdrawn", "--id", "x", "--at", at, "--slot", "nope"],
        ["--type", "stage_held", "--id", "x", "--at", "2026-03-01T10:00", "--route", "R1"],
    ]
    for argv in bad:
        capsys.readouterr()
        assert main(["event", *argv, "--db", db]) == 2
        assert capsys.readouterr().err
    main(
        [
            "event",
            "--type",
            "stage_booked",
            "--id",
            "b",
            "--at",
            at,
            "--route",
            "R1",
            "--stage",
            "s0",
            "--db",
            db,
        ]
    )
    capsys.readouterr()
    assert (
        main(
            [
                "event",
                "--type",
                "no_show",
                "--id",
                "n",
                "--at",
                at,
                "--route",
                "R1",
                "--stage",
                "s0",
                "--db",
                db,
            ]
        )
        == 2
    )
    assert "before its visit" in capsys.readouterr().err
    assert main(["event", "--type", "no_show", "--id", "n", "--at", at, "--db", db]) == 2
    capsys.readouterr()
    main(["state", "--db", db, "--json"])
    routes = json.loads(capsys.readouterr().out)["routes"]
    assert routes[0]["revision"] == 1


def test_readme_lifecycle_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's lifecycle example runs as written and leaves a booked stage in its journal."""
    from test_readme import code_blocks, section

    (block,) = code_blocks(section("Route lifecycle and journal"), "python")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert main(["state", "--db", "sqlite:///journal.db", "--json"]) == 0
    routes = json.loads(capsys.readouterr().out)["routes"]
    assert routes[0]["stages"][0]["status"] == "booked"


def test_event_file_is_all_or_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file whose last event is refused appends none of its events (exit 2)."""
    db = f"sqlite:///{tmp_path / 'j.db'}"
    events = [published(), route_proposed("R1", (ONE_PLACE,)), route_proposed("R2", ("nope",))]
    path = tmp_path / "e.json"
    path.write_text(json.dumps([e.model_dump(mode="json") for e in events]), encoding="utf-8")
    assert main(["event", str(path), "--db", db]) == 2
    assert "'R2:proposed'" in capsys.readouterr().err
    assert main(["state", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"routes": [], "holds": [], "waitlist": []}


def test_delayed_result_from_options_puts_the_route_on_the_waitlist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--type result_delayed --expected``: a result now expected after the route's next visit
    puts the route on the waitlist (``result_late``); ``state --json`` shows the expected time."""
    slots = world()[1]
    ordered = sorted(slots, key=lambda s: s.start)
    first, second = ordered[0], next(s for s in ordered if s.start > ordered[0].end)
    db = f"sqlite:///{tmp_path / 'j.db'}"
    events = [published(), route_proposed("R1", (first.id, second.id))]
    path = tmp_path / "e.json"
    path.write_text(json.dumps([e.model_dump(mode="json") for e in events]), encoding="utf-8")
    assert main(["event", str(path), "--db", db]) == 0
    after = first.end.isoformat()
    expected = second.end.isoformat()
    common = ["--route", "R1", "--stage", "s0", "--db", db]
    for argv in (
        ["--type", "stage_booked", "--id", "b", "--at", START.isoformat()],
        ["--type", "stage_attended", "--id", "a", "--at", after],
        ["--type", "result_delayed", "--id", "d", "--at", after, "--expected", expected],
    ):
        assert main(["event", *argv, *common]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["state", "--db", db, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    stage = document["routes"][0]["stages"][0]
    assert stage["status"] == "attended"
    assert stage["result_expected"] is not None
    assert document["waitlist"] == [{"route_id": "R1", "reason": "result_late"}]
