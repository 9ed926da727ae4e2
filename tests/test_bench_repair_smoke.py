"""Smoke test of the repair benchmark (benchmarks/bench_repair.py) on a tiny cohort."""

from __future__ import annotations

from benchmarks.bench_repair import main


def test_bench_repair_runs_and_compares_three_rules() -> None:
    """A tiny run replays the same stream under the three offer rules and reports each."""
    report = main(["--patients", "20", "--events", "12", "--seed", "1"])
    runs = {r["rule"]: r for r in report["runs"]}
    assert set(runs) == {"gain", "first_in_queue", "leave_empty"}
    assert report["routes_booked"] > 0
    for run in runs.values():
        assert run["events_applied"] + run["events_skipped"] == report["events"]
        assert run["repair_ms_p50"] <= run["repair_ms_p99"]
        assert 0 <= run["deadline_misses"] <= run["deadlines"]
        assert run["unplanned_routes"] <= run["open_routes"] <= report["routes_booked"]
    assert runs["gain"]["affected_routes"] > 0
