"""The ``routing batch`` command: read a cohort and slot sources, plan, write the plan and report.

Usage::

    routing batch SOURCE... --output-dir DIR [--seed N] [--time-limit S] [--workers N]
                  [--iterations N] [--work-limit N] [--staged-iterations N] [--allow-moving]
                  [--json] [-q | -v]
    routing batch --example --output-dir DIR

A SOURCE is a problem file (JSON, :mod:`routing.problem` format) or a directory of them (every
``*.json`` in it, by name); slot files from the adapters are problem files without requests.
All sources are merged: facilities, slots, requests and pathways by id (the first record of an
id wins; a different record with the same id is rejected). Records are read one by one: a
malformed record is rejected with its record, field and reason, and the rest are planned.

Writes ``plan.json`` (:func:`~routing.batch.report.plan_document`), ``report.json`` and
``summary.txt`` to ``--output-dir``, all three or none: each is written to a temporary file in
that directory, and they are renamed only when all three are complete
(:func:`routing.outputs.atomic.write_files`). The directory is checked before any input is read: an
existing file there is bad input; a missing directory is created. Nothing is written when the
input is unusable (exit 2).

Standard output gets the summary, or with ``--json`` one JSON document
(:class:`~routing.outputs.documents.BatchDocument`; its schema: ``routing schema --of batch``).
Progress goes to standard error: a progress bar on a terminal, else one plain line per phase
(never a carriage return); ``--quiet`` silences it.

Exit status, the first that applies:

- 2: bad input: an unreadable file or directory, text that is not JSON, a bad option, or no
  request at all;
- 1: some request is not planned (rejected, invalid, infeasible, or left out for capacity);
- 3: every request is planned but the time limit stopped the search before a proof;
- 0: every request is planned (proven optimal, or the search ended by itself).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from nosology.pathway import Pathway
from routing.batch.engine import plan_batch
from routing.batch.objective import DEADLINE_MEASURES
from routing.batch.report import build_report, plan_document
from routing.calendar import calendar_for
from routing.domain import Facility, RouteRequest, Slot, TravelModel, record_name
from routing.domain.common import NAIVE_TIMEZONE_KEY, resolve_timezone
from routing.domain.issues import issues_from_validation_error
from routing.exceptions import InvalidInputError
from routing.outputs.atomic import check_output_dir, write_files
from routing.outputs.documents import BatchDocument
from routing.outputs.terminal import (
    BatchProgressDisplay,
    add_verbosity_arguments,
    emit,
    verbosity,
)
from routing.problem import parse_json_document
from routing.slot_index import SlotIndex

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_NOT_ALL_PLANNED",
    "EXIT_OK",
    "EXIT_TIME_LIMIT",
    "OUTPUT_FILES",
    "CohortSources",
    "add_batch_arguments",
    "read_sources",
    "run_batch",
]

logger = logging.getLogger(__name__)

DEFAULT_TIME_LIMIT = 60.0
"""Seconds for a batch when ``--time-limit`` is not given."""
EXAMPLE_TIME_LIMIT = 10.0
"""Seconds for ``--example`` when ``--time-limit`` is not given."""
EXAMPLE_ITERATIONS = 100
"""Search iterations for ``--example`` when ``--iterations`` is not given: the iteration limit,
not the clock, ends the example's search, so its plan is the same on every machine."""

EXIT_OK = 0
EXIT_NOT_ALL_PLANNED = 1
EXIT_BAD_INPUT = 2
EXIT_TIME_LIMIT = 3

OUTPUT_FILES = ("plan.json", "report.json", "summary.txt")
"""The files a batch writes in its output directory."""


class _BadInputError(Exception):
    """Input the command cannot use at all."""


@dataclass
class CohortSources:
    """Everything read from the sources, and the records rejected on the way."""

    facilities: dict[str, Facility] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    requests: dict[str, RouteRequest] = field(default_factory=dict)
    pathways: dict[str, Pathway] = field(default_factory=dict)
    travel: TravelModel | None = None
    timezone: str | None = None
    rejected: list[str] = field(default_factory=list)
    failed: dict[str, set[str]] = field(default_factory=dict)
    """Collection → the ids of its records that were rejected (for the references to them)."""


_MODELS: dict[str, tuple[str, type[BaseModel]]] = {
    "facilities": ("facility", Facility),
    "pathways": ("pathway", Pathway),
    "slots": ("slot", Slot),
    "requests": ("request", RouteRequest),
}


def _files(sources: list[str]) -> Iterator[Path]:
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise _BadInputError(f"{path}: no *.json file in the directory")
            yield from found
        elif path.is_file():
            yield path
        else:
            raise _BadInputError(f"{path}: no such file or directory")


def _document(path: Path) -> Mapping[str, Any]:
    try:
        raw = parse_json_document(path.read_bytes(), label=str(path))
    except OSError as exc:
        raise _BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except InvalidInputError as exc:
        raise _BadInputError(str(exc)) from None
    if not isinstance(raw, dict):
        raise _BadInputError(f"{path}: expected a JSON object with the problem's fields")
    return raw


def _reject(sources: CohortSources, key: str, item: Any, text: str) -> None:
    sources.rejected.append(text)
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        sources.failed.setdefault(key, set()).add(item["id"])


def _missing(sources: CohortSources, key: str, record_id: str) -> str:
    noun = _MODELS[key][0]
    if record_id in sources.failed.get(key, set()):
        return f"{noun} {record_id!r} was rejected"
    return f"unknown {noun} {record_id!r}"


def _add(sources: CohortSources, label: str, raw: Mapping[str, Any]) -> None:
    zone = raw.get("timezone")
    context: dict[str, Any] | None = None
    if isinstance(zone, str):
        try:
            context = {NAIVE_TIMEZONE_KEY: resolve_timezone(zone)}
            sources.timezone = sources.timezone or zone
        except ValueError:
            sources.rejected.append(f"{label}: timezone: not a known IANA time zone")
    if "travel" in raw and sources.travel is None:
        try:
            sources.travel = TravelModel.model_validate(raw["travel"])
        except ValidationError as exc:
            for issue in issues_from_validation_error(exc, raw["travel"], {}, root="travel").issues:
                sources.rejected.append(f"{label}: {issue}")
    for key, (noun, model) in _MODELS.items():
        items = raw.get(key, [])
        if not isinstance(items, list):
            sources.rejected.append(f"{label}: {key}: expected a list")
            continue
        target: dict[str, Any] = getattr(sources, key)
        for n, item in enumerate(items):
            name = record_name(noun, item.get("id")) if isinstance(item, dict) else f"{key}[{n}]"
            if name == noun:
                name = f"{key}[{n}]"
            try:
                record = model.model_validate(item, context=context)
            except ValidationError as exc:
                for issue in issues_from_validation_error(exc, item, {}, root=name).issues:
                    _reject(sources, key, item, f"{label}: {issue}")
                continue
            except InvalidInputError as exc:
                _reject(sources, key, item, f"{label}: {exc}")
                continue
            record_id = getattr(record, "id")  # noqa: B009 - every model here has an id
            if record_id in target:
                if target[record_id] != record:
                    sources.rejected.append(f"{label}: {name}: the id is used by another record")
                continue
            target[record_id] = record


def read_sources(paths: list[str]) -> CohortSources:
    """Read and merge problem files and directories of them, record by record.

    Raises
    ------
    _BadInputError
        A path that does not exist or cannot be read, or text that is not a JSON object.
    """
    sources = CohortSources()
    for path in _files(paths):
        _add(sources, str(path), _document(path))
    for slot_id, slot in list(sources.slots.items()):
        if slot.facility_id not in sources.facilities:
            reason = _missing(sources, "facilities", slot.facility_id)
            issue = InvalidInputError(record_name("slot", slot_id), "facility_id", reason)
            sources.rejected.append(str(issue))
            sources.failed.setdefault("slots", set()).add(slot_id)
            del sources.slots[slot_id]
    for request_id, request in list(sources.requests.items()):
        broken = _broken_reference(sources, request)
        if broken is not None:
            issue = InvalidInputError(record_name("request", request_id), *broken)
            sources.rejected.append(str(issue))
            del sources.requests[request_id]
    return sources


def _broken_reference(sources: CohortSources, request: RouteRequest) -> tuple[str, str] | None:
    """The first reference of a request to a missing or rejected record: ``(field, reason)``."""
    patient = request.patient
    unknown = sorted(set(patient.allowed_facilities or ()) - set(sources.facilities))
    if unknown:
        return "patient.allowed_facilities", _missing(sources, "facilities", unknown[0])
    for position, facility_id in enumerate(patient.preferred_facilities):
        if facility_id not in sources.facilities:
            field_name = f"patient.preferred_facilities.{position}"
            return field_name, _missing(sources, "facilities", facility_id)
    for stage_id, slot_id in request.existing_bookings.items():
        # An unknown slot is the cohort's to report (it says why the booking cannot be kept);
        # a slot that was rejected here is reported as such.
        if slot_id not in sources.slots and slot_id in sources.failed.get("slots", set()):
            return f"existing_bookings.{stage_id}", _missing(sources, "slots", slot_id)
    pathway_id = request.pathway_id
    if (
        request.pathway is None
        and pathway_id in sources.failed.get("pathways", set())
        and pathway_id not in sources.pathways
    ):
        return "pathway_id", _missing(sources, "pathways", pathway_id)
    return None


def add_cohort_arguments(
    parser: argparse.ArgumentParser, *, time_limit_help: str | None = None
) -> None:
    """Add what every command that plans a cohort takes: its sources and the planner's limits
    (``time_limit_help``: the ``--time-limit`` help of a command with its own default)."""
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="problem files or directories")
    parser.add_argument("--example", action="store_true", help="plan the built-in example cohort")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help=time_limit_help
        or f"seconds (default {DEFAULT_TIME_LIMIT:g}; {EXAMPLE_TIME_LIMIT:g} with --example)",
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="CP-SAT workers")
    parser.add_argument(
        "--search-processes",
        type=int,
        choices=(1, 2),
        default=1,
        help="processes the search runs in: 2 uses two cores, the same files for the same input, "
        "seed and limits (default %(default)s)",
    )
    parser.add_argument(
        "--iterations", type=int, default=None, metavar="N", help="search iterations at most"
    )
    parser.add_argument(
        "--deadline-measure",
        choices=DEADLINE_MEASURES,
        default="misses",
        help="how the plan counts a missed deadline: 'misses', each alike (a patient who misses "
        "anyway gives an early slot to one who needs it), or 'overrun', more for a bigger "
        "overrun, before any minute counts (default %(default)s)",
    )


def add_work_limit_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-limit N`` (see :func:`work_limit_of`) to a command that plans a cohort."""
    parser.add_argument(
        "--work-limit",
        type=int,
        default=None,
        metavar="N",
        help="measure the run in single-route searches, at most N, instead of seconds: the same "
        "input, seed and workers then give the same files on any machine (--time-limit stays "
        "a safety net)",
    )


def work_limit_of(args: argparse.Namespace) -> int | None:
    """The ``--work-limit`` of ``args`` (``plan_batch(work_limit=...)``), or ``None``.

    Raises :class:`_BadInputError` for a limit below 1.
    """
    work_limit: int | None = args.work_limit
    if work_limit is not None and work_limit < 1:
        raise _BadInputError("--work-limit must be at least 1")
    return work_limit


def cohort_limits(args: argparse.Namespace) -> tuple[float, int | None]:
    """The time limit and iteration limit of ``args`` (the example's own when not given).

    Raises :class:`_BadInputError` for both or neither of sources and ``--example``, a time limit
    that is not positive, or fewer than one worker.
    """
    if args.example == bool(args.sources):
        raise _BadInputError("give problem files or directories, or --example (not both)")
    time_limit, iterations = args.time_limit, args.iterations
    if args.example:
        time_limit = EXAMPLE_TIME_LIMIT if time_limit is None else time_limit
        iterations = EXAMPLE_ITERATIONS if iterations is None else iterations
    elif time_limit is None:
        time_limit = DEFAULT_TIME_LIMIT
    if not time_limit > 0 or args.workers < 1:
        raise _BadInputError("--time-limit must be positive and --workers at least 1")
    return time_limit, iterations


def read_cohort(
    args: argparse.Namespace, command: str, *, allow_empty: bool = False
) -> tuple[CohortSources, SlotIndex]:
    """The cohort ``args`` name (its files, or the built-in example) and the index of its slots.

    Records the index leaves out are added to the sources' ``rejected``. With no request left
    (and not ``allow_empty``), the rejected records are listed on standard error and
    :class:`_BadInputError` is raised.
    """
    if args.example:
        from routing.examples import BATCH_EXAMPLE, example_text

        sources = CohortSources()
        _add(sources, f"example {BATCH_EXAMPLE}", json.loads(example_text(BATCH_EXAMPLE)))
    else:
        sources = read_sources(list(args.sources))
    if not sources.requests and not allow_empty:
        for text in sources.rejected:
            sys.stderr.write(f"routing {command}: rejected: {text}\n")
        raise _BadInputError("no request to plan")
    try:
        index = SlotIndex.build(
            sources.facilities.values(),
            sources.slots.values(),
            calendar=calendar_for(sources.timezone),
            travel=sources.travel,
        )
    except InvalidInputError as exc:
        raise _BadInputError(str(exc)) from None
    sources.rejected.extend(f"slot index: {issue}" for issue in index.issues)
    return sources, index


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``batch`` command's arguments to ``parser``."""
    add_cohort_arguments(parser)
    parser.add_argument(
        "--output-dir",
        "-o",
        default="batch-output",
        metavar="DIR",
        help="where to write plan.json, report.json and summary.txt, all three or none; "
        "created if missing (default %(default)s)",
    )
    parser.add_argument(
        "--allow-moving", action="store_true", help="let the plan move existing bookings"
    )
    add_work_limit_argument(parser)
    parser.add_argument(
        "--staged-iterations",
        type=int,
        default=0,
        metavar="N",
        help="bound the minutes of a cohort too large for the exact day-indexed LP by N "
        "iterations of a first-order method (a stronger bound in the summary, time taken from "
        "the search: about 18 s for 3000 at 1,000 patients; default 0, none)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document (the report and the files written) instead of the summary",
    )
    add_verbosity_arguments(parser)


def run_batch(args: argparse.Namespace) -> int:
    """Run ``routing batch`` with parsed ``args``; the exit status (see the module docstring)."""
    try:
        return _run(args)
    except _BadInputError as exc:
        sys.stderr.write(f"routing batch: error: {exc}\n")
        return EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    time_limit, iterations = cohort_limits(args)
    work_limit = work_limit_of(args)
    if args.staged_iterations < 0:
        raise _BadInputError("--staged-iterations must be at least 0")
    try:
        out = check_output_dir(args.output_dir, OUTPUT_FILES)
    except InvalidInputError as exc:
        raise _BadInputError(str(exc)) from None
    sources, index = read_cohort(args, "batch")
    bar = None if verbosity(args) < 0 else BatchProgressDisplay()
    try:
        result = plan_batch(
            (list(sources.requests.values()), index),
            seed=args.seed,
            time_limit=time_limit,
            workers=args.workers,
            progress=bar,
            allow_moving_existing=args.allow_moving,
            pathways=sources.pathways,
            max_iterations=iterations,
            work_limit=work_limit,
            staged_iterations=args.staged_iterations,
            deadline_measure=args.deadline_measure,
            search_processes=args.search_processes,
        )
    finally:
        if bar is not None:
            bar.close()
    report = build_report(result, index, rejected=sources.rejected)
    plan_text = json.dumps(plan_document(result), ensure_ascii=False, indent=2) + "\n"
    texts = dict(zip(OUTPUT_FILES, (plan_text, report.to_json(), report.summary()), strict=True))
    try:
        created = write_files({out / name: text for name, text in texts.items()})
    except OSError as exc:
        raise _BadInputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    if verbosity(args) >= 0:
        for directory in created:
            sys.stderr.write(f"routing batch: created directory {directory}\n")
    logger.info("wrote plan.json, report.json and summary.txt to %s", out)
    if sources.rejected or report.planned < report.requests:
        status = EXIT_NOT_ALL_PLANNED
    elif result.time_limit_hit:
        status = EXIT_TIME_LIMIT
    else:
        status = EXIT_OK
    if args.json:
        document = BatchDocument(
            generator=report.generator,
            exit_status=status,
            output_dir=str(out),
            files=OUTPUT_FILES,
            report=report,
        )
        text = json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=2)
        sys.stdout.write(text + "\n")
    else:
        lines = report.summary().rstrip("\n").splitlines()
        emit([*lines, f"{', '.join(OUTPUT_FILES)} written to {out}"])
    return status
