"""The ``routing report`` command: plan a cohort as ``routing batch`` does; write the report.

Usage::

    routing report SOURCE... -o DIR [--seed N] [--time-limit S] [--workers N] [--iterations N]
                   [--work-limit N] [--patient ID] [--facility ID --day DATE] [--json] [-q | -v]
    routing report --example -o DIR
    routing report --db URL [SOURCE...] -o DIR [--patient ID] [--facility ID --day DATE]

The sources are read by :func:`routing.commands.batch.read_cohort` and planned by
:func:`routing.batch.plan_batch`, exactly as ``routing batch`` does (``--work-limit N``: the
same files for the same input, seed and workers on any machine). Writes to ``DIR``, all or
none (:func:`routing.outputs.atomic.write_files`): ``report.html`` (one self-contained page),
``figures.json`` (:class:`~routing.manager.figures.ManagerFigures`), and the tables
``patients.csv``, ``stages.csv`` and ``facility_days.csv``, and the same three tables as Parquet
when ``pyarrow`` is installed (the ``report`` extra).

With ``--db URL`` the report is over the route journal at that SQLAlchemy URL instead
(:func:`routing.manager.journal.journal_report`): the live routes as they now stand, and the
trend per day of its events; nothing is planned. The sources are optional then: their requests
give the routes' referrals, regions and home districts (a route without its request is measured
from the time it was proposed). A SQLite file that does not exist is bad input (a report never
creates a journal); a journal with no event gives an empty, correct report.

A cohort without a request gives an empty, correct report (every chart says it has no data).
Exit status: 2 for bad input (an unreadable source, a bad option, ``--patient``, ``--facility``
or ``--day`` naming nothing in the batch; nothing is written), else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from routing.batch.engine import plan_batch
from routing.commands.batch import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    _BadInputError,
    add_cohort_arguments,
    add_work_limit_argument,
    cohort_limits,
    read_cohort,
    work_limit_of,
)
from routing.exceptions import InvalidInputError, LifecycleError
from routing.manager.charts import build_charts
from routing.manager.figures import ManagerFigures, build_figures
from routing.manager.html import render_html
from routing.manager.tables import (
    FacilityDayRow,
    PatientRow,
    StageRow,
    Tables,
    build_tables,
    csv_text,
    parquet_available,
    parquet_bytes,
)
from routing.outputs.atomic import check_output_dir, write_files
from routing.outputs.terminal import add_verbosity_arguments, emit, verbosity

if TYPE_CHECKING:
    from nosology.pathway import Pathway
    from routing.domain import RouteRequest
    from routing.lifecycle.events import Event

__all__ = [
    "PARQUET_FILES",
    "REPORT_FILES",
    "add_report_arguments",
    "journal_events",
    "run_report",
]

REPORT_FILES = ("report.html", "figures.json", "patients.csv", "stages.csv", "facility_days.csv")
"""The files ``routing report`` writes in its output directory (and, with ``pyarrow``,
:data:`PARQUET_FILES`)."""

PARQUET_FILES = ("patients.parquet", "stages.parquet", "facility_days.parquet")
"""The same tables as Parquet, written when ``pyarrow`` is installed (the ``report`` extra)."""


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def _write_all(out: Path, texts: dict[str, str], binary: dict[str, bytes]) -> None:
    """Write the text and binary files in ``out``, all or none.

    The binary files go to temporary files first; the text files are written by
    :func:`~routing.outputs.atomic.write_files`; only then are the binary files renamed into place.
    """
    out.mkdir(parents=True, exist_ok=True)
    temporaries: dict[Path, Path] = {}
    try:
        for name, data in binary.items():
            with tempfile.NamedTemporaryFile(dir=out, prefix=f".{name}.", delete=False) as handle:
                temporaries[out / name] = Path(handle.name)
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        write_files({out / name: text for name, text in texts.items()})
        for target, temporary in temporaries.items():
            os.replace(temporary, target)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``report`` command's arguments to ``parser``."""
    add_cohort_arguments(parser)
    add_work_limit_argument(parser)
    parser.add_argument(
        "--output-dir",
        "-o",
        default="manager-report",
        metavar="DIR",
        help=f"where to write {', '.join(REPORT_FILES)}, all or none (default %(default)s)",
    )
    parser.add_argument(
        "--patient",
        metavar="ID",
        help="request or patient id of the route Gantt (default: the most delayed)",
    )
    parser.add_argument(
        "--facility", metavar="ID", help="facility of the day Gantt (default: the busiest)"
    )
    parser.add_argument("--day", type=_day, metavar="DATE", help="local day of the day Gantt")
    parser.add_argument(
        "--db",
        metavar="URL",
        help="report over the route journal at this SQLAlchemy URL (live routes and trends) "
        "instead of planning; SOURCEs then only give the requests",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the figures as JSON instead of a summary"
    )
    add_verbosity_arguments(parser)


def run_report(args: argparse.Namespace) -> int:
    """Run ``routing report`` with parsed ``args``; the exit status (see the module docstring)."""
    try:
        return _run(args)
    except (_BadInputError, InvalidInputError) as exc:
        sys.stderr.write(f"routing report: error: {exc}\n")
        return EXIT_BAD_INPUT
    except LifecycleError as exc:  # a journal another program wrote, refused on replay
        sys.stderr.write(f"routing report: error: --db: the journal cannot be replayed: {exc}\n")
        return EXIT_BAD_INPUT
    except ImportError as exc:  # matplotlib or jinja2 missing
        sys.stderr.write(
            f"routing report: error: {exc.name or 'a package'} is not installed; "
            "install the report extra: pip install 'patient-routing[report]'\n"
        )
        return EXIT_BAD_INPUT


def _planned(args: argparse.Namespace) -> tuple[ManagerFigures, Tables]:
    """The figures and tables of the cohort planned as ``routing batch`` plans it."""
    time_limit, iterations = cohort_limits(args)
    # An empty cohort gives an empty, correct report, not an error.
    sources, index = read_cohort(args, "report", allow_empty=True)
    requests = list(sources.requests.values())
    result = plan_batch(
        (requests, index),
        seed=args.seed,
        time_limit=time_limit,
        workers=args.workers,
        pathways=sources.pathways,
        max_iterations=iterations,
        work_limit=work_limit_of(args),
        deadline_measure=args.deadline_measure,
        search_processes=args.search_processes,
    )
    tables = build_tables(result, index, districts={r.id: r.patient.district for r in requests})
    figures = build_figures(
        result,
        tables,
        rejected=sources.rejected,
        patient=args.patient,
        facility=args.facility,
        day=args.day,
    )
    return figures, tables


def journal_events(url: str) -> list[Event]:
    """Every event of the journal at ``url``: a SQLite file must exist (nothing is created).

    Raises
    ------
    _BadInputError
        A URL that cannot be parsed or opened, or a SQLite file that does not exist; the
        message names ``--db`` and never the URL (it may hold a password).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from routing.lifecycle.journal import missing_journal, read_events

    missing = missing_journal(url)
    if missing is not None:
        raise _BadInputError(f"--db: {missing}")
    try:
        return read_events(url)
    except (SQLAlchemyError, ValueError) as exc:
        reason = type(exc).__name__ if isinstance(exc, SQLAlchemyError) else "bad URL"
        raise _BadInputError(f"--db: cannot open the journal ({reason})") from None


def _journal(args: argparse.Namespace) -> tuple[ManagerFigures, Tables]:
    """The figures and tables over the journal at ``--db`` (see the module docstring)."""
    from routing.manager.journal import journal_report

    if args.example and args.sources:
        raise _BadInputError("give problem files or directories, or --example (not both)")
    if args.time_limit is not None or args.iterations is not None or args.work_limit is not None:
        raise _BadInputError(
            "--time-limit, --iterations and --work-limit plan a cohort: not with --db"
        )
    requests: list[RouteRequest] = []
    pathways: dict[str, Pathway] = {}
    rejected: list[str] = []
    if args.sources or args.example:
        sources, _ = read_cohort(args, "report", allow_empty=True)
        requests, pathways, rejected = (
            list(sources.requests.values()),
            sources.pathways,
            sources.rejected,
        )
    events = journal_events(args.db)
    report = journal_report(
        events,
        requests=requests,
        pathways=pathways,
        patient=args.patient,
        facility=args.facility,
        day=args.day,
    )
    figures = report.figures
    if rejected:
        figures = figures.model_copy(update={"rejected": (*rejected, *figures.rejected)})
    return figures, report.tables


def _run(args: argparse.Namespace) -> int:
    if args.db is None:  # bad options before the output directory is checked
        cohort_limits(args)
        work_limit_of(args)
    out = check_output_dir(args.output_dir, REPORT_FILES + PARQUET_FILES, option="--output-dir")
    figures, tables = _journal(args) if args.db is not None else _planned(args)
    charts = build_charts(figures)
    texts = {
        "report.html": render_html(figures, charts),
        "figures.json": figures.to_json(),
        "patients.csv": csv_text(tables.patients, PatientRow),
        "stages.csv": csv_text(tables.stages, StageRow),
        "facility_days.csv": csv_text(tables.facility_days, FacilityDayRow),
    }
    tables_out = (
        ("patients", tables.patients, PatientRow),
        ("stages", tables.stages, StageRow),
        ("facility_days", tables.facility_days, FacilityDayRow),
    )
    binary = (
        {f"{name}.parquet": parquet_bytes(rows, kind) for name, rows, kind in tables_out}
        if parquet_available()
        else {}
    )
    try:
        _write_all(out, texts, binary)
    except OSError as exc:
        raise _BadInputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    if args.json:
        sys.stdout.write(json.dumps(json.loads(figures.to_json()), ensure_ascii=False) + "\n")
    elif verbosity(args) >= 0:
        t = figures.total
        lines = [
            f"patients: {figures.requests}, planned {figures.planned}, "
            f"met {t.met}, at risk {t.at_risk}, missed {t.missed}, unplanned {t.unplanned}",
            f"{', '.join([*REPORT_FILES, *binary])} written to {out}",
        ]
        j = figures.journal
        if j is not None:
            lines.insert(
                0,
                f"journal: {j.events} events, {j.routes} routes ({j.cancelled} cancelled, "
                f"{j.waiting} waiting for a slot, {j.completed} completed), "
                f"trend over {len(figures.trend)} days",
            )
        emit(lines)
    return EXIT_OK
