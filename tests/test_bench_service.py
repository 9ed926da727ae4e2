"""Smoke test of the service benchmark: every call is counted and bookings never overbook."""

from __future__ import annotations

import pytest
from benchmarks.bench_service import main, measure

from routing.examples import example_text


def test_service_benchmark_counts_every_call() -> None:
    """Two clients of two rounds: four plans answered 200; each booking 200 or 409."""
    figures = measure(2, 2, example_text())
    assert figures.statuses["plan", 200] == 4
    books = [status for (kind, status) in figures.statuses if kind == "book"]
    assert set(books) <= {200, 409}
    assert sum(figures.statuses["book", s] for s in (200, 409)) == len(figures.latencies["book"])
    assert figures.statuses["book", 200] >= 1
    assert figures.calls == 4 + len(figures.latencies["book"])
    assert figures.throughput > 0


def test_service_benchmark_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """The command line prints the throughput line and the p50/p99 per kind."""
    assert main(["--clients", "1", "--per-client", "1"]) == 0
    out = capsys.readouterr().out
    assert "calls/s" in out
    assert "plan" in out
    assert "p99" in out
