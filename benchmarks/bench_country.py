"""Country-day benchmark: a synthetic country planned by region on Dask, by worker count.

Generates the country (``--referrals`` across the 85 federal subjects, by population share, and
the federal centres), then plans it on a Dask ``LocalCluster`` of each ``--workers`` count in
turn, and prints, per count: wall time of the planning, the speed-up against the first count,
peak resident memory of the busiest worker, and whether the plans are byte for byte those of
the first count; then the country's totals: deadlines missed by the plan, by first come, first
served and by the matching bound (patients who miss their first deadline in any plan), mean
days, federal places given and used.

Usage::

    python benchmarks/bench_country.py --referrals 100000 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Sequence
from typing import Any

from routing.country import CountryParameters, generate_country, plan_country
from routing.country.distributed import dask_runner

__all__ = ["main"]


def _peak_rss_mib() -> float:
    """This process's peak resident memory (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; the figures as a dict (also printed)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--referrals", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contention", type=float, default=0.6)
    parser.add_argument("--work-per-patient", type=int, default=4)
    parser.add_argument(
        "--no-second-round", action="store_true", help="do not offer unused federal places again"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    country = generate_country(
        CountryParameters(referrals=args.referrals, seed=args.seed, contention=args.contention)
    )
    generated = time.perf_counter() - started
    print(
        f"country: {country.referrals} referrals in {len(country.sizes)} regions (largest "
        f"{max(country.sizes.values())}), {len(country.federal.slots)} federal slots; sized in "
        f"{generated:.1f} s (each region is generated on the worker that plans it)"
    )
    runs: list[dict[str, Any]] = []
    first_key = None
    for workers in args.workers:
        with dask_runner(workers=workers) as runner:
            t0 = time.perf_counter()
            result = plan_country(
                country,
                seed=args.seed,
                work_per_patient=args.work_per_patient,
                runner=runner,
                second_round=not args.no_second_round,
            )
            wall = time.perf_counter() - t0
            peaks = runner.client.run(_peak_rss_mib)
        key = result.key()
        first_key = first_key or key
        run = {
            "workers": workers,
            "wall_seconds": wall,
            "speed_up": runs[0]["wall_seconds"] / wall if runs else 1.0,
            "peak_worker_mib": max(peaks.values()),
            "peak_driver_mib": _peak_rss_mib(),
            "region_seconds": sum(o.seconds for o in result.outcomes),
            "same_plans_as_first": key == first_key,
            "totals": result.totals(),
        }
        runs.append(run)
        t = run["totals"]
        print(
            f"{workers} worker(s): {wall:.1f} s, speed-up {run['speed_up']:.2f}, peak worker "
            f"{run['peak_worker_mib']:.0f} MiB (driver {run['peak_driver_mib']:.0f} MiB), same "
            f"plans: {run['same_plans_as_first']}"
        )
    t = runs[0]["totals"]
    print(
        f"totals: {t['patients']} patients, unplanned {t['unplanned']} (FCFS "
        f"{t['fcfs_unplanned']}); deadlines missed {t['missed']} of {t['deadlines']} (FCFS "
        f"{t['fcfs_missed']}); at least {t['country_must_miss']} patients miss their first "
        f"deadline in any country plan routing every routable patient ({t['must_miss']} under "
        f"this share-out of the federal places); mean days {t['mean_days']:.2f} (FCFS "
        f"{t['fcfs_mean_days']:.2f}); federal places {t['federal_places']}, used "
        f"{t['federal_used']}; second round: "
        f"{t['federal_reoffered']} offered again to {t['replanned_regions']} regions, "
        f"{t['improved_regions']} improved"
    )
    figures = {"referrals": country.referrals, "generate_seconds": generated, "runs": runs}
    print(json.dumps(figures, indent=2, sort_keys=True, default=str))
    return figures


if __name__ == "__main__":
    main()
