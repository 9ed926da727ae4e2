"""``routing country``: generate a synthetic country-day and plan it, region by region, on Dask.

Usage::

    routing country [--referrals N] [--regions CODE,CODE...] [--seed S] [--contention C]
                    [--workers N | --scheduler tcp://HOST:PORT | --in-process]
                    [--work-per-patient K] [--single-round] -o DIR [--json]

Generates the country (:func:`routing.country.generate_country`: 85 regions by population
share, the federal centres), shares out the federal capacity, plans every region
(:func:`routing.country.plan_country`) on a Dask ``LocalCluster`` of ``--workers`` processes
(default 2), on the cluster of ``--scheduler``, or in this process (``--in-process``), and writes
``country.json``: the totals (referrals, unplanned, deadlines missed against first come, first
served and the matching bound, mean days, federal places given and used, and what the second
round offered again; ``--single-round`` leaves that round out) and one line per region. The same
options give the same file whatever the runner and the number of workers (timings aside, which
go to the terminal only).

Exit status: 0 when written, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from routing.exceptions import InvalidInputError
from routing.outputs.atomic import write_files
from routing.outputs.terminal import TableBlock, emit

__all__ = ["add_country_arguments", "run_country"]

EXIT_OK, EXIT_BAD_INPUT = 0, 2
_NOT_IN_FILE = frozenset({"seconds", "federal_used_slots"})
"""Outcome fields left out of country.json: timings differ between runs, slot ids are bulk."""


def add_country_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``routing country`` on ``parser``."""
    parser.add_argument("--referrals", type=int, default=100_000, help="referrals of the day")
    parser.add_argument(
        "--regions", help="comma-separated region codes (default: all 85 federal subjects)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--contention", type=float, default=0.6, help="each region's contention (default 0.6)"
    )
    parser.add_argument(
        "--work-per-patient",
        type=int,
        default=4,
        metavar="K",
        help="single-route searches per referral each region's plan may spend (default 4)",
    )
    parser.add_argument(
        "--single-round",
        action="store_true",
        help="do not offer the federal places the first plans left unused to regions short of them",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=2, help="Dask LocalCluster worker processes (default 2)"
    )
    where.add_argument("--scheduler", metavar="URL", help="attach to this Dask scheduler")
    where.add_argument("--in-process", action="store_true", help="plan here, without Dask")
    parser.add_argument("--output-dir", "-o", default="country-output", metavar="DIR")


def run_country(args: argparse.Namespace) -> int:
    """Run ``routing country`` with parsed ``args``; the exit status (module docstring)."""
    try:
        return _run(args)
    except InvalidInputError as exc:
        sys.stderr.write(f"routing country: error: {exc}\n")
        return EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    from routing.country import CountryParameters, generate_country, plan_country
    from routing.country.population import POPULATION_THOUSANDS

    regions = (
        tuple(sorted(POPULATION_THOUSANDS))
        if not args.regions
        else tuple(r.strip() for r in args.regions.split(",") if r.strip())
    )
    if args.work_per_patient < 1:
        raise InvalidInputError("routing country", "--work-per-patient", "must be at least 1")
    if not args.contention > 0:
        raise InvalidInputError("routing country", "--contention", "must be positive")
    params = CountryParameters(
        referrals=args.referrals, regions=regions, seed=args.seed, contention=args.contention
    )
    out = Path(args.output_dir)
    if (out / "country.json").exists():
        raise InvalidInputError("routing country", "--output-dir", "country.json exists there")
    started = time.perf_counter()
    country = generate_country(params)
    generated = time.perf_counter() - started
    if args.in_process:
        result = plan_country(
            country,
            seed=args.seed,
            work_per_patient=args.work_per_patient,
            second_round=not args.single_round,
        )
    else:
        from routing.country.distributed import dask_runner

        with dask_runner(workers=args.workers, scheduler=args.scheduler) as runner:
            result = plan_country(
                country,
                seed=args.seed,
                work_per_patient=args.work_per_patient,
                runner=runner,
                second_round=not args.single_round,
            )
    planned = time.perf_counter() - started - generated
    document: dict[str, Any] = {
        "parameters": {
            "referrals": params.referrals,
            "regions": list(params.regions),
            "seed": params.seed,
            "contention": params.contention,
            "work_per_patient": args.work_per_patient,
            "second_round": not args.single_round,
        },
        "plans_sha256": result.key(),
        "totals": result.totals(),
        "regions": [
            {k: v for k, v in asdict(o).items() if k not in _NOT_IN_FILE} for o in result.outcomes
        ],
    }
    text = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    write_files({out / "country.json": text})
    if args.json:
        sys.stdout.write(json.dumps(document["totals"], sort_keys=True) + "\n")
    else:
        totals = result.totals()
        rows = tuple((k, f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in totals.items())
        rows += (("generate seconds", f"{generated:.1f}"), ("plan seconds", f"{planned:.1f}"))
        emit([TableBlock(("country", "value"), rows)])
    return EXIT_OK
