"""Drive the HTTP service with concurrent clients: plans and bookings, throughput and latency.

Usage::

    python benchmarks/bench_service.py [--clients N] [--per-client N] [--problem FILE]

A service (:func:`routing.service.create_app`) is started on a free loopback port, over a
fresh SQLite journal in a temporary directory and a problem file (the shipped ``lung_spb``
example by default), under uvicorn in a thread of this process. ``--clients`` threads, each
with its own ``httpx.Client``, then each run ``--per-client`` rounds of: plan a request (the
problem's requests in turn, each under a fresh id) and, when a route was found, book it. Every
call is timed with ``time.perf_counter``; printed are the wall time, the throughput (calls per
second) and p50/p99 latency per kind, and the count of each HTTP status (bookings that lose a
race for a place answer 409). Only loopback is used; the counts bound the run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routing.examples import example_text
from routing.problem import load_problem
from routing.service import ServiceSettings, create_app
from routing.service.server import serving

__all__ = ["ServiceFigures", "main", "measure"]

TOKEN = "bench-clinician"


@dataclass(slots=True)
class ServiceFigures:
    """What one run measured: latencies in seconds per kind, status counts, the wall time."""

    clients: int
    wall: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    @property
    def calls(self) -> int:
        """Every call made."""
        return sum(self.statuses.values())

    @property
    def throughput(self) -> float:
        """Calls per second over the wall time."""
        return self.calls / self.wall if self.wall > 0 else 0.0


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(clients: int, per_client: int, problem_text: str) -> ServiceFigures:
    """Run ``clients`` concurrent clients of ``per_client`` plan-and-book rounds each."""
    templates = [r.model_dump(mode="json") for r in load_problem(problem_text).requests]
    figures = ServiceFigures(clients)
    lock = threading.Lock()
    with tempfile.TemporaryDirectory() as tmp:
        problem = Path(tmp) / "problem.json"
        problem.write_text(problem_text, encoding="utf-8")
        settings = ServiceSettings(
            db_url=f"sqlite:///{Path(tmp) / 'journal.db'}",
            problems=(problem,),
            clinician_tokens=frozenset({SecretStr(TOKEN)}),
        )
        with serving(create_app(settings)) as base:
            barrier = threading.Barrier(clients + 1)

            def record(kind: str, started: float, reply: httpx.Response) -> None:
                elapsed = time.perf_counter() - started
                with lock:
                    figures.latencies.setdefault(kind, []).append(elapsed)
                    figures.statuses[kind, reply.status_code] += 1

            def client(number: int) -> None:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                with httpx.Client(base_url=base, headers=headers, timeout=300) as http:
                    barrier.wait()
                    for round_ in range(per_client):
                        request: dict[str, Any] = dict(templates[round_ % len(templates)])
                        request["id"] = f"B-{number}-{round_}"
                        started = time.perf_counter()
                        reply = http.post("/routes/plan", json=request)
                        record("plan", started, reply)
                        if reply.status_code == 200 and reply.json()["bookings"]:
                            started = time.perf_counter()
                            booked = http.post(f"/routes/{request['id']}/book")
                            record("book", started, booked)

            threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
            for thread in threads:
                thread.start()
            barrier.wait()
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            figures.wall = time.perf_counter() - began
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--per-client", type=int, default=10, help="plan-and-book rounds each")
    parser.add_argument("--problem", type=Path, help="a problem file (default: lung_spb)")
    args = parser.parse_args(argv)
    text = args.problem.read_text(encoding="utf-8") if args.problem else example_text()
    figures = measure(args.clients, args.per_client, text)
    print(
        f"{figures.clients} clients, {figures.calls} calls in {figures.wall:.2f} s: "
        f"{figures.throughput:.1f} calls/s"
    )
    for kind, values in sorted(figures.latencies.items()):
        p50, p99 = _quantile(values, 0.50) * 1000, _quantile(values, 0.99) * 1000
        print(f"  {kind:5} {len(values):5d} calls  p50 {p50:8.1f} ms  p99 {p99:8.1f} ms")
    for (kind, status), count in sorted(figures.statuses.items()):
        print(f"  {kind:5} HTTP {status}: {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
