"""Load throughput and peak memory of the CSV and FHIR slot adapters.

Generates ``--slots`` slots (default 100,000) in each format, seeded, into a temporary directory:
a CSV pair (slots.csv + facilities.csv) and an R5 FHIR searchset Bundle (Slots, their Schedules,
Practitioners and Locations). Then, per format: the wall time to load (read, parse, validate,
map; best of ``--repeat``), slots per second, peak traced memory (one extra run under
:mod:`tracemalloc`), and for FHIR the time spent inside ``fhir.resources`` validation, measured
around each model validation call, and its share of the load.

Run: ``python benchmarks/bench_adapters.py [--slots N] [--repeat R] [--seed S]``.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from routing.adapters.csv_source import CsvSource
from routing.adapters.fhir import FhirOptions, parse_bundle

CSV_TARGET = 50_000
FHIR_TARGET = 5_000
START = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
NMU = "urn:oid:1.2.643.5.1.13.13.11.1070"
SERVICES = [f"A06.09.{i:03d}" for i in range(1, 11)]


def slot_times(count: int, seed: int) -> list[tuple[int, int, int, datetime]]:
    """``(index, facility, doctor, start)`` of ``count`` slots: 50 facilities, 10 doctors each."""
    rng = random.Random(seed)
    doctors = 500
    per_doctor = -(-count // doctors)
    rows = []
    for index in range(count):
        doctor, position = index % doctors, index // doctors
        day, minute = divmod(position, 16)
        start = START + timedelta(days=day, minutes=30 * minute + rng.choice((0, 0, 0)))
        rows.append((index, doctor // 10, doctor, start))
    assert per_doctor * doctors >= count
    return rows


def write_csv(folder: Path, count: int, seed: int) -> CsvSource:
    """The slots and facilities files; the source reading them."""
    rng = random.Random(seed)
    with (folder / "facilities.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["facility_id", "name", "level", "lat", "lon", "district", "services"])
        for f in range(50):
            lat, lon = 59.8 + rng.random() / 5, 30.1 + rng.random() / 2
            services = ";".join(f"nmu:{s}" for s in SERVICES)
            writer.writerow([f"F{f}", f"Facility {f}", 1 + f % 3, lat, lon, "Central", services])
    with (folder / "slots.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["slot_id", "facility_id", "service", "start", "end", "capacity", "resource", "mode"]
        )
        for index, facility, doctor, start in slot_times(count, seed):
            end = start + timedelta(minutes=30)
            service = f"nmu:{SERVICES[doctor % len(SERVICES)]}"
            writer.writerow(
                [
                    f"S{index}",
                    f"F{facility}",
                    service,
                    start.isoformat(),
                    end.isoformat(),
                    1,
                    f"D{doctor}",
                    "",
                ]
            )
    return CsvSource(folder / "slots.csv", folder / "facilities.csv")


def write_bundle(folder: Path, count: int, seed: int) -> Path:
    """An R5 searchset Bundle of ``count`` free slots with their schedules and actors."""
    entries: list[dict[str, Any]] = []

    def add(resource: dict[str, Any]) -> None:
        url = f"https://fhir.example.org/R5/{resource['resourceType']}/{resource['id']}"
        entries.append({"fullUrl": url, "resource": resource})

    for index, _, doctor, start in slot_times(count, seed):
        add(
            {
                "resourceType": "Slot",
                "id": f"s{index}",
                "schedule": {"reference": f"Schedule/sch{doctor}"},
                "status": "free",
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=30)).isoformat(),
                "serviceType": [
                    {"concept": {"coding": [{"system": NMU, "code": SERVICES[doctor % 10]}]}}
                ],
            }
        )
    for doctor in range(500):
        actors = [
            {"reference": f"Practitioner/p{doctor}"},
            {"reference": f"Location/L{doctor // 10}"},
        ]
        add({"resourceType": "Schedule", "id": f"sch{doctor}", "actor": actors})
        add({"resourceType": "Practitioner", "id": f"p{doctor}"})
    for facility in range(50):
        position = {"latitude": 59.9 + facility / 1000, "longitude": 30.3}
        add(
            {
                "resourceType": "Location",
                "id": f"L{facility}",
                "name": f"Facility {facility}",
                "position": position,
            }
        )
    path = folder / "bundle.json"
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def best_time(load: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """The best wall and CPU times of ``repeat`` runs, and the last result.

    CPU time (of this process) is the fairer figure on a shared machine: wall time also counts
    the time other processes held the cores.
    """
    wall = cpu = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        began, began_cpu = time.perf_counter(), time.process_time()
        result = load()
        wall = min(wall, time.perf_counter() - began)
        cpu = min(cpu, time.process_time() - began_cpu)
    return wall, cpu, result


def peak_memory(load: Callable[[], Any]) -> int:
    """Peak bytes traced by :mod:`tracemalloc` during one run."""
    gc.collect()
    tracemalloc.start()
    try:
        load()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def report(name: str, slots: int, wall: float, cpu: float, peak: int, target: int) -> None:
    """Print one format's figures against its target (judged on CPU time)."""
    rate, cpu_rate = slots / wall, slots / cpu
    verdict = "met" if cpu_rate >= target else "NOT met"
    print(
        f"{name:5s} {slots:,d} slots: wall {wall:.2f} s = {rate:,.0f} slots/s; "
        f"CPU {cpu:.2f} s = {cpu_rate:,.0f} slots/s (target >= {target:,d}: {verdict}); "
        f"peak memory {peak / 2**20:,.0f} MiB"
    )


def main() -> None:
    """Generate the inputs, load them, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = write_csv(folder, args.slots, args.seed)
        bundle = write_bundle(folder, args.slots, args.seed)
        print(
            f"inputs: slots.csv {source.slots.stat().st_size / 2**20:.1f} MiB, "
            f"bundle.json {bundle.stat().st_size / 2**20:.1f} MiB"
        )

        wall, cpu, batch = best_time(source.load, args.repeat)
        assert len(batch.slots) == args.slots
        assert not batch.issues
        report("CSV", len(batch.slots), wall, cpu, peak_memory(source.load), CSV_TARGET)

        options = FhirOptions(version="R5")

        def load_fhir() -> Any:
            return parse_bundle(bundle, options)

        wall, cpu, read = best_time(load_fhir, args.repeat)
        assert read.stats.offered == args.slots
        assert not read.batch.issues
        report("FHIR", read.stats.offered, wall, cpu, peak_memory(load_fhir), FHIR_TARGET)
        share = read.stats.validation_seconds / read.stats.seconds
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(
            f"FHIR  fhir.resources validation: {read.stats.validation_seconds:.2f} s of "
            f"{read.stats.seconds:.2f} s ({share:.0%}); "
            f"{read.stats.validation_seconds / read.stats.entries * 1e6:.0f} us per resource "
            f"({read.stats.entries:,d} resources)"
        )


if __name__ == "__main__":
    main()
