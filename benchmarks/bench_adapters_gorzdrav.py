"""Benchmark: reading the city portal's appointment answers and mapping them to slots.

Generates ``--count`` free appointments (default 100,000) in the portal's JSON format, shaped
like the recorded ``DoctorAppointmentsResponse_example.json`` (ids ``"dd.mm.yyyy;HH:MM;<doctor>"``,
naive local ``visitStart`` / ``visitEnd``, ``address``, ``number``, ``room``), spread over
``--doctors`` answers (one per doctor, as the portal serves them), seeded. Times parsing (bytes to
validated records) plus mapping to :class:`~routing.domain.Slot` (all kept), best of
``--repeat`` runs in wall-clock and in process CPU time, and the peak memory of one run
(tracemalloc, measured in a separate run). Prints the target (≥ 50,000 slots/s, wall-clock) and
whether it is met.

Run: ``python benchmarks/bench_adapters_gorzdrav.py --seed 1``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
import tracemalloc
from datetime import date, datetime, timedelta

from nosology.pathway import ServiceRef
from routing.adapters.gorzdrav import appointments_to_slots, parse_appointments
from routing.domain import Slot

__all__ = ["generate_answers", "main", "read_all"]

TARGET_SLOTS_PER_S = 50_000
ADDRESSES = ("пр. Союзный, дом 3", "ул. Дыбенко, д. 21, к. 2", "Товарищеский пр., д. 10, к. 2")
SLOT_MINUTES = (10, 12, 15, 20, 30)


def generate_answers(count: int, doctors: int, seed: int) -> list[tuple[str, str, bytes]]:
    """``(lpu id, doctor id, answer body)`` per doctor, ``count`` appointments in all, seeded.

    Each doctor works shifts of 08:00–11:50 or 12:00–15:50 on weekdays from Monday 2025-02-17;
    each slot of the shift grid is free with probability 0.6, until the doctor's share is reached.
    """
    rng = random.Random(seed)
    answers: list[tuple[str, str, bytes]] = []
    per_doctor = [count // doctors + (1 if i < count % doctors else 0) for i in range(doctors)]
    for index, wanted in enumerate(per_doctor):
        lpu_id = str(rng.choice((44, 45, 241, 244, 245, 247, 248, 1050)))
        doctor_id = f"п{rng.randint(100, 999)}.{index}"
        step = timedelta(minutes=rng.choice(SLOT_MINUTES))
        address, room = rng.choice(ADDRESSES), str(rng.randint(100, 599))
        records: list[dict[str, object]] = []
        day = date(2025, 2, 17)
        while len(records) < wanted:
            if day.weekday() < 5:
                shift = 8 if (day.toordinal() + index) % 2 else 12
                moment = datetime(day.year, day.month, day.day, shift)  # noqa: DTZ001 - portal's naive local
                finish = moment + timedelta(hours=3, minutes=50)
                while moment + step <= finish and len(records) < wanted:
                    if rng.random() < 0.6:
                        records.append(
                            {
                                "id": f"{moment:%d.%m.%Y;%H:%M};{doctor_id}",
                                "visitStart": moment.isoformat(),
                                "visitEnd": (moment + step).isoformat(),
                                "address": address,
                                "number": None,
                                "room": room,
                            }
                        )
                    moment += step
            day += timedelta(days=1)
        body = {
            "result": records,
            "success": True,
            "errorCode": 0,
            "message": None,
            "stackTrace": None,
        }
        answers.append((lpu_id, doctor_id, json.dumps(body, ensure_ascii=False).encode()))
    return answers


def read_all(answers: list[tuple[str, str, bytes]], service: ServiceRef) -> list[Slot]:
    """Parse every answer and map it to slots (all kept, as a batch keeps them)."""
    made: list[Slot] = []
    for lpu_id, doctor_id, body in answers:
        appointments = parse_appointments(body).records
        slots, issues = appointments_to_slots(appointments, lpu_id, service, doctor_id)
        if issues:
            raise RuntimeError(f"{len(issues)} generated appointments did not map")
        made.extend(slots)
    return made


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--doctors", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    answers = generate_answers(args.count, args.doctors, args.seed)
    size = sum(len(body) for _, _, body in answers)
    service = ServiceRef(system="fer", code="27")
    read_all(answers[:2], service)  # warm up (validator construction)

    times: list[float] = []
    cpu_times: list[float] = []
    made = 0
    for _ in range(args.repeat):
        gc.collect()
        started, cpu_started = time.perf_counter(), time.process_time()
        made = len(read_all(answers, service))
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    if made != args.count:
        raise RuntimeError(f"made {made} slots from {args.count} appointments")
    best = min(times)
    rate = made / best

    gc.collect()
    tracemalloc.start()
    read_all(answers, service)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(
        f"gorzdrav adapter: {made:,} appointments in {len(answers)} answers ({size / 1e6:.1f} MB)"
    )
    print(f"  parse + map, best of {args.repeat}: {best:.3f} s  ({rate:,.0f} slots/s)")
    print(f"  all runs (wall): {', '.join(f'{t:.3f}' for t in times)} s")
    cpu = min(cpu_times)
    print(f"  best CPU time of the process: {cpu:.3f} s  ({made / cpu:,.0f} slots/s)")
    print(f"  peak memory (tracemalloc, one run): {peak / 1e6:.1f} MB")
    verdict = {True: "met", False: "NOT met"}
    share = cpu_times[times.index(best)] / best
    print(
        f"  target >= {TARGET_SLOTS_PER_S:,} slots/s: {verdict[rate >= TARGET_SLOTS_PER_S]} "
        f"by wall-clock (this process had {share:.0%} of a CPU), "
        f"{verdict[made / cpu >= TARGET_SLOTS_PER_S]} by CPU time"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
