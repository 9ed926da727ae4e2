"""The ``routing`` command: pathways, diagnosis-code resolution, route planning and the schema.

Commands::

    routing --version
    routing pathways list [--json] [--catalogue PATH ...]
    routing pathways show ID [--json]
    routing pathways resolve CODE... [--json]
    routing plan PROBLEM.json [--output FILE] [--json] [--time-limit S]
    routing plan --example
    routing batch SOURCE... [-o DIR] [--json] ...     (see routing.commands.batch)
    routing slots import SOURCE... --start T --end T [-o FILE] [--json]
    routing schema [--of NAME]
    routing timeline PROBLEM.json [--request ID] [--lang ru|en] [--revision N] -o DIR
    routing propose PROBLEM.json [--request ID] [--lang ru|en] -o DIR
    routing event FILE | --type TYPE --id ID --at T [--route R --stage S ...] [--db URL] [--json]
    routing state [--db URL] [--json]
    routing serve [--db URL] [--problem FILE] [--host H] [--port N] [--token-file FILE]
                  [--manager-token-file FILE]
    routing book PROBLEM.json --request ID [--db URL] [--backend memory] [--json]
    routing whatif SOURCE... --budget N | --candidates FILE | --withdraw K   (see its module)
    routing country [--referrals N] [--regions CODES] [--workers N | --scheduler URL] -o DIR
    routing notify [--db URL] [--smtp H:P --smtp-from A --contacts F] [--webhook URL ...] [--json]

``-v``/``-vv``/``-q`` are accepted before and after the command. With ``--json`` a command prints
exactly one JSON document on standard output (its schema: ``routing schema --of NAME``); progress,
logs and errors go to standard error. Every file is written atomically, and output paths are
checked before any work (:mod:`routing.outputs.atomic`).

Exit status (:data:`EXIT_STATUS_TEXT`): 0 success; 1 some request not planned, or some records of
the problem file were left out (each is reported), or, for ``slots import``, some record or source
not read; 2 bad input (an invalid code, an unreadable problem or pathway file, a problem file with
no valid request left, an unknown pathway id, a bad option or output path); 3 (``batch`` only)
every request planned, but the time limit stopped the search before a proof; 4 (``event``,
``book``) a conflict with another writer. Only this module and
the batch command print; errors go to standard error, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nosology.catalogue import Catalogue
from nosology.codes import split_codes
from nosology.exceptions import InvalidCodeError, NosologyError
from nosology.pathway import Deadline, Pathway, TemporalConstraint
from nosology.registry import MKB10_REGISTRY_OID, MKB10_VERSION
from nosology.resolve import Resolution, pathway_for, resolve_code
from routing._version import __version__
from routing.calendar import WorkingCalendar
from routing.commands.batch import add_batch_arguments, run_batch
from routing.domain import Facility, RouteRequest
from routing.exceptions import InvalidInputError, InvalidProblemError
from routing.outputs.atomic import check_output_dir, check_output_file, write_files, write_text
from routing.outputs.documents import (
    InvalidCode,
    PathwayListing,
    PathwaySummary,
    PlanDocument,
    RegistryRef,
    ResolvedCode,
    ResolveDocument,
    ShownPathway,
)
from routing.outputs.schemas import SCHEMA_NAMES, schema_of
from routing.outputs.terminal import (
    Block,
    TableBlock,
    add_verbosity_arguments,
    emit,
    verbosity,
)
from routing.problem import Problem
from routing.reading import read_problem
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.solve.plan import SolveOptions, plan_route, resolve_pathway

if TYPE_CHECKING:
    from routing.lifecycle.service import Service

__all__ = ["EXIT_STATUS_TEXT", "build_parser", "main", "version_text"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_NO_ROUTE = 1
EXIT_BAD_INPUT = 2
EXIT_SOURCE_ISSUES = 1
"""``slots import``: the good records were imported, some records or sources were not."""

EXIT_STATUS_TEXT = """\
exit status:
  0  success: every request planned (batch: and the search ended by itself or proved optimal)
  1  some requests not planned, or some input records left out (each reported; slots import:
     some records or sources not read)
  2  bad input: an invalid code, problem, pathway file, option or output path; nothing written
  3  batch only: every request planned, but the time limit cut the search before a proof
  4  event and book: a conflict (another writer changed a slot or route first); nothing
     appended: re-read the state and re-plan

With --json a command prints exactly one JSON document on standard output; its JSON Schema is
printed by 'routing schema --of NAME'. Progress, logs and errors go to standard error."""

_PROG = "routing"


class _BadInputError(Exception):
    """Bad input found by a command: the message goes to standard error, the exit status is 2."""


def version_text() -> str:
    """The package version and the МКБ-10 registry it ships."""
    return (
        f"{_PROG} {__version__} (patient-routing)\n"
        f"МКБ-10 registry {MKB10_REGISTRY_OID} version {MKB10_VERSION}"
    )


# ---------------------------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------------------------


def _out(text: str = "") -> None:
    print(text)


def _err(text: str) -> None:
    print(f"{_PROG}: error: {text}", file=sys.stderr)


def _dump(data: Any) -> None:
    _out(json.dumps(data, ensure_ascii=False, indent=2))


def _say(text: str, args: argparse.Namespace) -> None:
    """A note for the user on standard error (not with -q)."""
    if verbosity(args) >= 0:
        print(f"{_PROG}: {text}", file=sys.stderr)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _duration(minutes: int) -> str:
    """``45 min``, ``3 h 20 min``, ``2 d 4 h``."""
    if minutes < 60:
        return f"{minutes} min"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    return f"{hours} h {mins} min" if mins else f"{hours} h"


def _unit(unit: str, amount: int | None = None) -> str:
    word = unit.replace("_", " ")
    if amount is not None and abs(amount) == 1 and word.endswith("s"):
        word = word[:-1]
    return word


# ---------------------------------------------------------------------------------------------
# pathways
# ---------------------------------------------------------------------------------------------


def _catalogue(paths: Sequence[str] | None) -> Catalogue:
    if not paths:
        return Catalogue.builtin()
    return Catalogue.from_paths(paths)


def _cmd_pathways_list(args: argparse.Namespace) -> int:
    catalogue = _catalogue(args.catalogue)
    if args.json:
        listing = PathwayListing(
            tuple(
                PathwaySummary(
                    id=p.id,
                    version=p.version,
                    title=p.title,
                    codes=p.applicability.codes,
                    priority=p.applicability.priority,
                    stages=len(p.stages),
                    origin=catalogue.origin(p.id),
                )
                for p in catalogue
            )
        )
        _dump(listing.model_dump(mode="json"))
        return EXIT_OK
    rows = [
        (
            p.id,
            _shorten(p.title.ru, 40),
            _shorten(p.title.en, 44),
            ", ".join(p.applicability.codes),
            str(len(p.stages)),
            catalogue.origin(p.id),
        )
        for p in catalogue
    ]
    headers = ("id", "title (ru)", "title (en)", "codes", "stages", "origin")
    emit([TableBlock(headers, tuple(rows), indent="")])
    return EXIT_OK


def _constraint_text(c: TemporalConstraint) -> str:
    bounds = []
    if c.min is not None:
        bounds.append(f"≥ {c.min}")
    if c.max is not None:
        bounds.append(f"≤ {c.max}")
    return f"{c.from_event} → {c.to_event}: {' and '.join(bounds)} {_unit(c.unit)}"


def _deadline_lines(d: Deadline) -> list[str]:
    kind = "hard" if d.hard else "soft"
    validity = []
    if d.valid_from:
        validity.append(f"from {d.valid_from}")
    if d.valid_to:
        validity.append(f"to {d.valid_to}")
    scope = d.region + (f", {' '.join(validity)}" if validity else "")
    lines = [
        f"  {d.id}: {d.from_event} → {d.to_event} ≤ {d.limit} {_unit(d.unit)} ({kind}; {scope})",
        f"      {d.title.ru} / {d.title.en}",
        f"      source: {d.source}" + (" [assumption]" if d.assumption else ""),
    ]
    if d.note:
        lines.append(f"      note: {d.note}")
    return lines


def _pathway_lines(pathway: Pathway, origin: str) -> list[Block]:
    p = pathway
    lines: list[Block] = [
        f"{p.id} (version {p.version}): {p.title.ru} / {p.title.en}",
        f"origin: {origin}",
        f"codes: {', '.join(p.applicability.codes)} (priority {p.applicability.priority})",
        "",
        "stages",
    ]
    rows = [
        (
            s.id,
            ", ".join(str(x) for x in s.services),
            f"{s.duration_minutes} min",
            s.mode.value + ("" if s.shares_day else ", own day"),
            "any" if s.facility_level is None else str(s.facility_level),
            ", ".join(s.after) or "-",
        )
        for s in p.stages
    ]
    lines.append(TableBlock(("id", "services", "duration", "mode", "level", "after"), tuple(rows)))
    lines += ["", "constraints (hard)"]
    for c in p.constraints:
        mark = " [assumption]" if c.assumption else ""
        lines.append(f"  {_constraint_text(c)}")
        lines.append(f"      source: {c.source}{mark}")
        if c.note:
            lines.append(f"      note: {c.note}")
    if not p.constraints:
        lines.append("  none besides the stage order")
    lines += ["", "windows (calendar days from a reference date, inclusive)"]
    for w in p.windows:
        mark = " [assumption]" if w.assumption else ""
        lines.append(f"  {w.event}: {w.reference} + {w.min_days} .. {w.max_days} days")
        lines.append(f"      source: {w.source}{mark}")
    if not p.windows:
        lines.append("  none")
    lines += ["", "deadlines (regulatory waiting-time limits)"]
    for d in p.deadlines:
        lines += _deadline_lines(d)
    if not p.deadlines:
        lines.append("  none")
    if p.sources:
        lines += ["", "sources", *(f"  - {s}" for s in p.sources)]
    if p.notes.strip():
        lines += ["", "notes", *(f"  {n}" for n in p.notes.strip().splitlines())]
    return lines


def _cmd_pathways_show(args: argparse.Namespace) -> int:
    catalogue = _catalogue(args.catalogue)
    pathway = catalogue.get(args.id)
    origin = catalogue.origin(pathway.id)
    if args.json:
        shown = ShownPathway.model_validate({**dict(pathway), "origin": origin})
        _dump(shown.model_dump(mode="json"))
    else:
        emit(_pathway_lines(pathway, origin))
    return EXIT_OK


def _resolution_lines(raw: str, r: Resolution, catalogue: Catalogue) -> list[str]:
    code = r.code
    names = " / ".join(n for n in (code.name_ru, code.name_en) if n) or "-"
    if r.pathway_id is None:
        pathway = "none"
    else:
        title = catalogue.get(r.pathway_id).title
        pathway = f"{r.pathway_id} ({title.ru} / {title.en})"
    marker = {"dagger": " †", "asterisk": " *"}.get(code.marker or "", "")
    rows = [
        ("code:", f"{code.code}{marker} ({code.kind.value}{'' if code.actual else ', retired'})"),
        ("name:", names),
        ("warnings:", "; ".join(code.warnings) or "-"),
        ("alternatives:", ", ".join(code.alternatives) or "-"),
        ("pathway:", pathway),
        ("explanation:", r.explanation),
    ]
    return [f"{raw}", *(f"  {label:<14}{value}" for label, value in rows)]


def _cmd_pathways_resolve(args: argparse.Namespace) -> int:
    catalogue = _catalogue(args.catalogue)
    entries: list[ResolvedCode | InvalidCode] = []
    lines: list[str] = []
    valid: list[str] = []
    failed = 0
    for argument in args.codes:
        parts = split_codes(argument) or [argument]
        for raw in parts:
            try:
                resolution = resolve_code(raw, catalogue)
            except InvalidCodeError as exc:
                failed += 1
                _err(str(exc))
                entries.append(InvalidCode(input=raw, error=exc.reason))
                continue
            valid.append(raw)
            entries.append(ResolvedCode(input=raw, **dict(resolution)))
            lines += [*_resolution_lines(raw, resolution, catalogue), ""]
    combined = _combined(valid, catalogue) if len(valid) > 1 else None
    if args.json:
        document = ResolveDocument(codes=tuple(entries), combined_pathway=combined)
        _dump(document.model_dump(mode="json"))
    else:
        if combined is not None:
            lines.append(f"all valid codes together: {combined}")
        _out("\n".join(lines).rstrip())
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _combined(codes: list[str], catalogue: Catalogue) -> str | None:
    """The id of the one pathway the codes lead to together, or a note why there is none."""
    try:
        return pathway_for(codes, catalogue).id
    except NosologyError as exc:
        return f"none ({exc})"


# ---------------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[Problem, str, int]:
    """The problem, its label and the number of records left out (each reported on stderr).

    The good records are kept (:func:`~routing.problem.read_problem`); when no request is left
    of a file that had issues, nothing can be planned: :class:`_BadInputError`.
    """
    if args.example:
        from routing.examples import load_example

        return load_example(), "built-in example lung_spb", 0
    if args.problem is None:
        raise _BadInputError("give a problem file, or --example")
    path = Path(args.problem)
    try:
        reading = read_problem(path)
    except OSError as exc:
        raise _BadInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except InvalidInputError as exc:
        if exc.record not in (path.name, "problem"):
            raise _BadInputError(f"{path}: {exc}") from None
        field = f"field {exc.field!r}: " if exc.field else ""
        raise _BadInputError(f"{path}: {field}{exc.reason}") from None
    if reading.issues:
        left_out = sum(reading.rejected.values())
        _err(
            f"{path}: {len(reading.issues)} issue(s), {left_out} record(s) left out; "
            "the other records are used:"
        )
        for issue in reading.issues:
            print(f"  {issue}", file=sys.stderr)
        if not reading.problem.requests:
            raise _BadInputError(f"{path}: no valid request left to plan")
    return reading.problem, str(path), len(reading.issues)


def _when(moment: datetime, calendar: WorkingCalendar) -> str:
    return f"{moment.astimezone(calendar.zone):%Y-%m-%d %a %H:%M}"


def _result_lines(result: RouteResult, index: SlotIndex, titles: Mapping[str, str]) -> list[Block]:
    cal = index.calendar
    facilities: dict[str, Facility] = {f.id: f for f in index.facilities}
    head = f"request {result.request_id} · patient {result.patient_id}"
    if result.pathway_id:
        head += f" · pathway {result.pathway_id}"
        if result.pathway_id in titles:
            head += f" ({titles[result.pathway_id]})"
    lines: list[Block] = [
        head,
        f"  status {result.status.value}, referral {_when(result.referral, cal)}",
    ]
    if result.objective is not None and result.completion is not None:
        o = result.objective
        lines.append(
            f"  completion {_when(result.completion, cal)}, "
            f"{_duration(o.completion_minutes)} after the referral; {o.visit_days} visit days, "
            f"{o.travel_minutes} min travel, {o.non_preferred} visits outside preferred facilities"
        )
    if result.bookings:
        waits = {w.stage_id: w for w in result.waits}
        rows = []
        for b in result.bookings:
            facility = facilities.get(b.facility_id)
            name = f"{b.facility_id} {facility.name}" if facility else b.facility_id
            wait = waits.get(b.stage_id)
            rows.append(
                (
                    b.stage_id,
                    _when(b.start, cal),
                    f"{b.end.astimezone(cal.zone):%H:%M}",
                    b.mode.value,
                    _shorten(name, 48),
                    "-" if wait is None else _duration(wait.wait_minutes),
                    "*" if wait is not None and wait.critical else "",
                )
            )
        headers = ("stage", "start", "end", "mode", "facility", "wait", "critical")
        lines += ["", TableBlock(headers, tuple(rows), indent="    ")]
    if result.deadlines:
        lines += ["", "    deadlines"]
        for d in result.deadlines:
            mark = "met" if d.met else "MISSED"
            hard = ", hard" if d.hard else ""
            cause = f"; caused by {d.caused_by}" if not d.met and d.caused_by else ""
            lines.append(
                f"    {mark:<6}  {d.deadline_id}: {d.actual} of ≤ {d.limit} "
                f"{_unit(d.unit, d.limit)}, slack {d.slack}{hard}{cause}"
            )
            lines.append(f"            {d.title} — {_shorten(d.source, 90)}")
    lines += [f"  reason: {r}" for r in result.reasons]
    lines += [f"  warning: {w}" for w in result.warnings]
    return lines


def _cmd_plan(args: argparse.Namespace) -> int:
    output = None if args.output is None else check_output_file(args.output)
    problem, label, rejected = _load(args)
    catalogue = _catalogue(args.catalogue) if args.catalogue else None
    index = SlotIndex.for_problem(problem)
    options = SolveOptions(time_limit=args.time_limit)
    pathways = {p.id: p for p in problem.pathways}
    results: list[RouteResult] = []
    failed: list[str] = [issue.record for issue in index.issues]
    for issue in index.issues:
        _err(str(issue))
    for request in problem.requests:
        try:
            result = plan_route(
                request, index, catalogue=catalogue, pathways=pathways, options=options
            )
        except InvalidInputError as exc:
            failed.append(request.id)
            # The reason only: the record of a calendar error is the date asked about, which may
            # be the referral (personal data).
            _err(f"request {request.id!r} not planned: {exc.reason}")
            continue
        results.append(result)
    document = _results_document(results)
    if output is not None and failed:
        _err(f"{output} not written: {len(failed)} record(s) are invalid")
    elif output is not None:
        _write_results(output, document, args)
    if args.json:
        _dump(document.model_dump(mode="json"))
    else:
        _print_plan(label, problem, index, catalogue, results)
    if failed:
        return EXIT_BAD_INPUT
    if rejected:
        return EXIT_NO_ROUTE
    return EXIT_OK if all(r.has_route for r in results) else EXIT_NO_ROUTE


def _print_plan(
    label: str,
    problem: Problem,
    index: SlotIndex,
    catalogue: Catalogue | None,
    results: list[RouteResult],
) -> None:
    _out(
        f"{label}: {len(problem.requests)} requests, {len(problem.facilities)} facilities, "
        f"{len(problem.slots)} free slots (times in {index.calendar.zone.key})"
    )
    _out("each request is planned on its own over all free slots (no capacity shared)")
    titles = {p.id: p.title.en for p in catalogue or Catalogue.builtin()}
    titles.update({p.id: p.title.en for p in problem.pathways})
    for result in results:
        emit(["", *_result_lines(result, index, titles)])
    routed = sum(r.has_route for r in results)
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status.value] = statuses.get(r.status.value, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    _out()
    _out(f"{routed} of {len(problem.requests)} requests routed ({counts or 'none planned'})")


def _results_document(results: list[RouteResult]) -> PlanDocument:
    return PlanDocument(
        generator=f"{_PROG} {__version__}",
        mkb10_registry=RegistryRef(oid=MKB10_REGISTRY_OID, version=MKB10_VERSION),
        results=tuple(results),
    )


def _write_results(path: Path, document: PlanDocument, args: argparse.Namespace) -> None:
    text = json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    try:
        created = write_text(path, text)
    except OSError as exc:
        raise _BadInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    for directory in created:
        _say(f"created directory {directory}", args)
    logger.info("wrote %d results to %s", len(document.results), path)


def _view_inputs(
    args: argparse.Namespace,
) -> tuple[Problem, SlotIndex, RouteRequest, Catalogue | None, dict[str, Pathway]]:
    """The problem, its index, the request asked for (the first without --request), the
    catalogue and the problem's own pathways, for ``timeline`` and ``propose``."""
    if args.example and args.problem is not None:
        raise _BadInputError("give a problem file or --example, not both")
    problem, _, _ = _load(args)
    if args.request is None:
        request = problem.requests[0]
    else:
        try:
            request = problem.request(args.request)
        except KeyError:
            raise _BadInputError(f"the problem has no request {args.request!r}") from None
    index = SlotIndex.for_problem(problem)
    catalogue = _catalogue(args.catalogue) if args.catalogue else None
    return problem, index, request, catalogue, {p.id: p for p in problem.pathways}


_VIEWS_MISSING = "this command needs the views and ics extras: pip install 'patient-routing[all]'"


def _cmd_timeline(args: argparse.Namespace) -> int:
    try:
        from routing.views.html import patient_page
        from routing.views.ics import timeline_ics
        from routing.views.timeline import build_timeline
    except ImportError:
        raise _BadInputError(_VIEWS_MISSING) from None
    names = ("timeline.html", "route.ics", "timeline.json")
    directory = check_output_dir(args.output, names, "--output")
    _, index, request, catalogue, pathways = _view_inputs(args)
    options = SolveOptions(time_limit=args.time_limit)
    result = plan_route(request, index, catalogue=catalogue, pathways=pathways, options=options)
    if not result.has_route:
        _err(f"request {request.id!r}: {result.status.value}; no timeline written")
        for reason in result.reasons:
            _err(f"  {reason}")
        return EXIT_NO_ROUTE
    pathway = resolve_pathway(request, catalogue, pathways)
    timeline = build_timeline(result, index, pathway, language=args.lang)
    ics = timeline_ics(timeline, revision=args.revision).decode("utf-8")
    texts = {
        directory / "timeline.html": patient_page(timeline, ics.encode("utf-8")),
        directory / "route.ics": ics,
        directory / "timeline.json": json.dumps(
            timeline.model_dump(mode="json"), ensure_ascii=False, indent=2
        )
        + "\n",
    }
    write_files(texts)
    _say(f"wrote {', '.join(str(p) for p in texts)}", args)
    return EXIT_OK


def _cmd_propose(args: argparse.Namespace) -> int:
    try:
        from routing.views.html import doctor_page, doctor_view
        from routing.views.proposals import propose
    except ImportError:
        raise _BadInputError(_VIEWS_MISSING) from None
    names = ("proposal.html", "proposal.json")
    directory = check_output_dir(args.output, names, "--output")
    _, index, request, catalogue, pathways = _view_inputs(args)
    options = SolveOptions(time_limit=args.time_limit)
    proposal = propose(request, index, catalogue=catalogue, pathways=pathways, options=options)
    pathway = None
    if proposal.fastest.pathway_id is not None:
        pathway = resolve_pathway(request, catalogue, pathways)
    view = doctor_view(proposal, index, pathway, language=args.lang)
    texts = {
        directory / "proposal.html": doctor_page(view),
        directory / "proposal.json": json.dumps(
            view.model_dump(mode="json"), ensure_ascii=False, indent=2
        )
        + "\n",
    }
    write_files(texts)
    _say(f"wrote {', '.join(str(p) for p in texts)}", args)
    return EXIT_OK if proposal.fastest.has_route else EXIT_NO_ROUTE


def _add_view_command(
    commands: Any, name: str, help_text: str, parents: list[argparse.ArgumentParser]
) -> argparse.ArgumentParser:
    """The ``timeline`` or ``propose`` command's parser (their arguments are the same)."""
    command: argparse.ArgumentParser = commands.add_parser(
        name,
        parents=parents,
        help=help_text,
        epilog=EXIT_STATUS_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("problem", nargs="?", metavar="PROBLEM.json", help="the problem file")
    command.add_argument("--example", action="store_true", help="use the built-in example")
    command.add_argument(
        "--request", metavar="ID", help="the request (default: the problem's first)"
    )
    command.add_argument(
        "--lang",
        choices=("ru", "en"),
        default="ru",
        help="language of the pages (default %(default)s)",
    )
    command.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="DIR",
        help="directory to write into (atomically; created when missing)",
    )
    command.add_argument(
        "--time-limit",
        type=_positive_seconds,
        default=SolveOptions().time_limit,
        metavar="S",
        help="seconds of search per route (default %(default)s)",
    )
    return command


def _cmd_schema(args: argparse.Namespace) -> int:
    _dump(schema_of(args.of))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# The parser and main
# ---------------------------------------------------------------------------------------------


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("the time limit must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``routing`` command."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Care-pathway routing by nosology: the fastest complete route of care.",
        epilog=EXIT_STATUS_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the versions and exit")
    add_verbosity_arguments(parser, subcommand=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    loud = argparse.ArgumentParser(add_help=False)
    add_verbosity_arguments(loud)
    catalogue = argparse.ArgumentParser(add_help=False)
    catalogue.add_argument(
        "--catalogue",
        nargs="+",
        metavar="PATH",
        help="pathway files or directories of *.toml, added to the built-in ones",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument(
        "--json", action="store_true", help="print one JSON document instead of text"
    )

    pathways = commands.add_parser(
        "pathways", parents=[loud], help="list, show and resolve care pathways"
    )
    pathway_commands = pathways.add_subparsers(dest="pathways_command", metavar="SUBCOMMAND")
    listing = pathway_commands.add_parser(
        "list", parents=[as_json, catalogue, loud], help="the pathways of the catalogue"
    )
    listing.set_defaults(handler=_cmd_pathways_list)
    show = pathway_commands.add_parser(
        "show", parents=[as_json, catalogue, loud], help="one pathway's stages, rules and deadlines"
    )
    show.add_argument("id", help="the pathway id, e.g. zno_lung")
    show.set_defaults(handler=_cmd_pathways_show)
    resolve = pathway_commands.add_parser(
        "resolve", parents=[as_json, catalogue, loud], help="diagnosis codes to their pathways"
    )
    resolve.add_argument("codes", nargs="+", metavar="CODE", help="МКБ-10 codes, e.g. С34.1")
    resolve.set_defaults(handler=_cmd_pathways_resolve)

    plan = commands.add_parser(
        "plan",
        parents=[as_json, catalogue, loud],
        help="plan the route of every request of a problem",
        epilog=EXIT_STATUS_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("problem", nargs="?", metavar="PROBLEM.json", help="the problem file")
    plan.add_argument("--example", action="store_true", help="plan the built-in example problem")
    plan.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write all results as JSON here (atomically; missing directories are created)",
    )
    plan.add_argument(
        "--time-limit",
        type=_positive_seconds,
        default=SolveOptions().time_limit,
        metavar="S",
        help="seconds of search per request (default %(default)s)",
    )
    plan.set_defaults(handler=_cmd_plan)

    timeline = _add_view_command(
        commands,
        "timeline",
        "the patient's timeline of one request: timeline.html, route.ics, timeline.json",
        [catalogue, loud],
    )
    timeline.add_argument(
        "--revision",
        type=int,
        default=0,
        metavar="N",
        help="the route's revision, the calendar events' SEQUENCE (default %(default)s)",
    )
    timeline.set_defaults(handler=_cmd_timeline)
    proposal = _add_view_command(
        commands,
        "propose",
        "the doctor's proposal for one request: the fastest route and alternatives "
        "(proposal.html, proposal.json)",
        [catalogue, loud],
    )
    proposal.set_defaults(handler=_cmd_propose)

    schema = commands.add_parser(
        "schema",
        parents=[loud],
        help="print the JSON Schema of the problem file, or of a command's JSON output",
    )
    schema.add_argument(
        "--of",
        choices=SCHEMA_NAMES,
        default="problem",
        metavar="NAME",
        help=f"which document: {', '.join(SCHEMA_NAMES)} (default %(default)s)",
    )
    schema.set_defaults(handler=_cmd_schema)

    batch = commands.add_parser(
        "batch",
        help="plan a whole cohort over shared slots (plan, report, summary)",
        epilog=EXIT_STATUS_TEXT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_batch_arguments(batch)
    batch.set_defaults(handler=run_batch)

    report = commands.add_parser(
        "report",
        help="plan a cohort and write the manager's report (HTML, JSON, CSV tables)",
    )
    from routing.commands.report import add_report_arguments, run_report

    add_report_arguments(report)
    report.set_defaults(handler=run_report)

    whatif = commands.add_parser(
        "whatif",
        help="where added slots cut deadline misses most (or which can go), checked by re-planning",
    )
    from routing.commands.whatif import add_whatif_arguments, run_whatif

    add_whatif_arguments(whatif)
    whatif.set_defaults(handler=run_whatif)

    slots = commands.add_parser("slots", parents=[loud], help="import free slots from adapters")
    slot_commands = slots.add_subparsers(dest="slots_command", metavar="SUBCOMMAND")
    importing = slot_commands.add_parser(
        "import",
        parents=[as_json, loud],
        help="read slot sources (problem/FHIR JSON, CSV pairs, FHIR URLs) into one slots file; "
        "exit 1 when some records or sources could not be read (each is reported)",
    )
    importing.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="files, directories or http(s) URLs"
    )
    importing.add_argument("--start", required=True, type=_aware, help="window start (ISO 8601)")
    importing.add_argument("--end", required=True, type=_aware, help="window end (ISO 8601)")
    importing.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the slots file here (atomically; missing directories are created)",
    )
    importing.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA zone for datetimes without an offset (e.g. Europe/Moscow); else rejected",
    )
    importing.set_defaults(handler=_cmd_slots_import)

    _add_lifecycle_commands(commands, [as_json, loud])
    return parser


# -- routing event / routing state (the route lifecycle's journal) ------------------------------
EXIT_CONFLICT = 4
"""``routing event``: another writer changed a slot or route first; re-read and re-plan."""


def _add_lifecycle_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    from routing.lifecycle.events import EVENT_TYPES

    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        metavar="URL",
        help="the journal's SQLAlchemy URL (default: sqlite:///routing-journal.db in the "
        "working directory; PostgreSQL: postgresql+psycopg://...)",
    )
    event = commands.add_parser(
        "event",
        parents=[*parents, db],
        help="append lifecycle events to the journal: a JSON file (one event or a list, all "
        "or none), or one event from options; exit 2 if refused, 4 on a conflict",
    )
    event.add_argument("file", nargs="?", metavar="FILE", help="a JSON file of events")
    event.add_argument("--type", dest="event_type", choices=EVENT_TYPES, metavar="TYPE")
    event.add_argument("--id", dest="event_id", metavar="ID", help="the event's unique id")
    event.add_argument("--at", type=_aware, help="when it happened (ISO 8601 with offset)")
    event.add_argument("--route", metavar="ID", help="the route")
    event.add_argument("--stage", metavar="ID", help="the stage")
    event.add_argument("--slot", metavar="ID", help="the slot (slot_withdrawn)")
    event.add_argument("--pathway", metavar="ID", help="the new pathway (pathway_changed)")
    event.add_argument(
        "--expected", type=_aware, help="when a delayed result is now expected (result_delayed)"
    )
    event.set_defaults(handler=_cmd_event)
    state = commands.add_parser(
        "state", parents=[*parents, db], help="show the journal's routes, holds and waitlist"
    )
    state.set_defaults(handler=_cmd_state)
    serve = commands.add_parser(
        "serve",
        parents=[*parents, db],
        help="run the HTTP service (FastAPI under uvicorn; needs the service extra)",
    )
    serve.add_argument(
        "--problem",
        action="append",
        default=[],
        metavar="FILE",
        help="a problem file whose facilities and slots are published at start (repeatable)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on")
    serve.add_argument(
        "--token-file",
        metavar="FILE",
        help="clinician bearer tokens, one a line (also ROUTING_SERVICE_TOKENS); patient links "
        "are signed with ROUTING_SERVICE_LINK_SECRET (random per start when unset)",
    )
    serve.add_argument(
        "--manager-token-file",
        metavar="FILE",
        help="manager bearer tokens (GET /report only), one a line "
        "(also ROUTING_SERVICE_MANAGER_TOKENS)",
    )
    serve.set_defaults(handler=_cmd_serve)
    book = commands.add_parser(
        "book",
        parents=[*parents, db],
        help="plan one request of a problem over the journal's live slots (publishing the "
        "problem's slots there first), book it through the booking saga and journal every step; "
        "exit 1 if not booked, 2 on bad input or a request booked already, 4 on a conflict",
        description="Books through the journal's own places (--backend memory), a FHIR server "
        "(--backend fhir --fhir-url URL) or the city portal (--backend portal --patient-file "
        "FILE, the patient's identity, kept in memory only); the journal records every step.",
    )
    book.add_argument("problem", nargs="?", metavar="PROBLEM", help="a problem JSON file")
    book.add_argument("--example", action="store_true", help="use the built-in example problem")
    book.add_argument("--request", required=True, metavar="ID", help="the request to book")
    from routing.commands.booking_backends import add_backend_arguments

    add_backend_arguments(book)
    book.add_argument(
        "--at", type=_aware, help="the time of the events (ISO 8601 with offset; default: now)"
    )
    book.add_argument(
        "--max-attempts",
        type=int,
        default=3,
        metavar="N",
        help="routes tried at most: the plan and its re-plans after a failed call (default 3)",
    )
    book.set_defaults(handler=_cmd_book)
    notify = commands.add_parser(
        "notify",
        parents=[*parents, db],
        help="tell patients what changed: notices from the journal into the outbox, then "
        "delivered by e-mail (SMTP) and/or a signed webhook; exit 1 if some wait for a retry",
    )
    from routing.commands.notify import add_notify_arguments, run_notify

    add_notify_arguments(notify)
    notify.set_defaults(handler=run_notify)
    country = commands.add_parser(
        "country",
        parents=[*parents],
        help="generate a synthetic country-day (85 regions, federal centres) and plan it by "
        "region on Dask",
    )
    from routing.commands.country import add_country_arguments, run_country

    add_country_arguments(country)
    country.set_defaults(handler=run_country)


def _open_service(url: str | None) -> Service:
    """The journal's service at ``--db`` (a URL that cannot be opened is bad input)."""
    from sqlalchemy.exc import SQLAlchemyError

    from routing.lifecycle.service import Service

    try:
        return Service.open(url)
    except (SQLAlchemyError, ValueError) as exc:
        reason = type(exc).__name__ if isinstance(exc, SQLAlchemyError) else "bad URL"
        raise _BadInputError(f"--db: cannot open the journal ({reason})") from None


def _event_records(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """The events to append as (record name, plain data), from the file or the options."""
    if args.file is not None:
        if args.event_type is not None:
            raise _BadInputError("give an event file or --type, not both")
        try:
            data = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _BadInputError(f"cannot read {args.file}: {exc}") from None
        items = data if isinstance(data, list) else [data]
        return [(f"{args.file}[{i}]", item) for i, item in enumerate(items)]
    if args.event_type is None:
        raise _BadInputError("give an event file or --type with the event's fields")
    fields = {
        "type": args.event_type,
        "event_id": args.event_id,
        "at": None if args.at is None else args.at.isoformat(),
        "route_id": args.route,
        "stage_id": args.stage,
        "slot_id": args.slot,
        "pathway_id": args.pathway,
        "expected": None if args.expected is None else args.expected.isoformat(),
    }
    return [("event", {k: v for k, v in fields.items() if v is not None})]


def _cmd_event(args: argparse.Namespace) -> int:
    from routing.exceptions import ConflictError
    from routing.lifecycle.events import parse_event
    from routing.outputs.lifecycle_documents import EventDocument

    events = []
    for record, item in _event_records(args):
        if not isinstance(item, dict):
            raise _BadInputError(f"{record}: an event is a JSON object")
        events.append(parse_event(item, record=record))
    with _open_service(args.db) as service:
        try:
            service.journal.append_all(events)
        except ConflictError as exc:
            _err(f"conflict: {exc}; nothing appended (re-read the state and re-plan)")
            return EXIT_CONFLICT
        total = len(service.journal)
    if args.json:
        document = EventDocument(applied=tuple(e.event_id for e in events), events=total)
        _dump(document.model_dump(mode="json"))
    else:
        _out(f"applied {len(events)} event(s); the journal holds {total}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from routing.service import ServiceSettings, create_app
        from routing.service.server import serve
    except ImportError:
        raise _BadInputError(
            "this command needs the service extra: pip install 'patient-routing[service]'"
        ) from None
    token_file = None if args.token_file is None else Path(args.token_file)
    managers = None if args.manager_token_file is None else Path(args.manager_token_file)
    try:
        settings = ServiceSettings.from_sources(
            db_url=args.db,
            problems=tuple(Path(p) for p in args.problem),
            token_file=token_file,
            manager_token_file=managers,
        )
    except OSError as exc:
        name = exc.filename or args.token_file
        raise _BadInputError(f"cannot read {name}: {exc.strerror}") from None
    serve(create_app(settings), host=args.host, port=args.port)
    return EXIT_OK


def _cmd_state(args: argparse.Namespace) -> int:
    from routing.outputs.lifecycle_documents import state_document

    with _open_service(args.db) as service:
        state = service.state()
    document = state_document(state)
    if args.json:
        _dump(document.model_dump(mode="json"))
        return EXIT_OK
    stage_rows = tuple(
        (
            r.route_id,
            s.stage_id,
            s.status.value,
            s.slot_id or "-",
            "-" if s.start is None else s.start.isoformat(),
        )
        for r in sorted(state.routes.values(), key=lambda r: r.route_id)
        for s in r.stages
    )
    hold_rows = tuple(
        (h.slot_id, str(h.capacity), str(h.held), str(h.booked)) for h in document.holds
    )
    wait_rows = tuple((w.route_id, w.reason.value) for w in document.waitlist)
    _out(
        f"{len(document.routes)} route(s), {len(hold_rows)} slot(s) held or booked, "
        f"{len(wait_rows)} waiting"
    )
    emit(
        [
            TableBlock(("route", "stage", "status", "slot", "start"), stage_rows),
            TableBlock(("slot", "capacity", "held", "booked"), hold_rows),
            TableBlock(("waiting route", "reason"), wait_rows),
        ]
    )
    return EXIT_OK


def _cmd_book(args: argparse.Namespace) -> int:
    from functools import partial

    from routing.booking.saga import live_replanner
    from routing.commands.booking_backends import open_backend
    from routing.exceptions import ConflictError
    from routing.lifecycle.booking import book
    from routing.outputs.lifecycle_documents import book_document

    if args.example and args.problem is not None:
        raise _BadInputError("give a problem file or --example, not both")
    if args.max_attempts < 1:
        raise _BadInputError("--max-attempts: must be at least 1")
    problem, _label, _rejected = _load(args)
    request = next((r for r in problem.requests if r.id == args.request), None)
    if request is None:
        raise _BadInputError(f"--request: no request {args.request!r} in the problem")
    at = args.at or datetime.now(UTC)
    pathways = {p.id: p for p in problem.pathways}
    with _open_service(args.db) as service:
        if args.request in service.state().routes:
            raise _BadInputError(
                f"--request: request {args.request!r} has a route in the journal already "
                "(see 'routing state'); nothing booked"
            )
        try:
            _publish_new(service, problem, at)
            live = service.state().live
            assert live is not None
            result = plan_route(request, live, pathways=pathways)
            chosen = open_backend(args, service, request.patient.id)
            replan = live_replanner(request, chosen.live, partial(plan_route, pathways=pathways))
            try:
                record = book(
                    service,
                    result,
                    chosen.backend,
                    at=at,
                    replan=replan,
                    max_attempts=args.max_attempts,
                )
            finally:
                chosen.close()
        except ConflictError as exc:
            _err(f"conflict: {exc}; nothing appended (re-read the state and re-plan)")
            return EXIT_CONFLICT
        total = len(service.journal)
    document = book_document(record, request_id=request.id, journal_events=total)
    if args.json:
        _dump(document.model_dump(mode="json"))
    else:
        _out(
            f"request {request.id}: {record.outcome.status.value} after "
            f"{record.outcome.attempts} attempt(s), {len(record.outcome.steps)} call(s); "
            f"{len(record.events)} event(s) appended, the journal holds {total}"
        )
        rows = tuple((b.stage_id, b.slot_id, b.start.isoformat()) for b in document.bookings)
        emit([TableBlock(("stage", "slot", "start"), rows)] if rows else [])
        if record.outcome.orphans:
            _err(
                f"{len(record.outcome.orphans)} hold(s) or booking(s) left unresolved: "
                + ", ".join(o.slot_id for o in record.outcome.orphans)
            )
    return EXIT_OK if record.booked else EXIT_NO_ROUTE


def _publish_new(service: Service, problem: Problem, at: datetime) -> None:
    """Publish the problem's slots the journal does not hold yet (one event, id by content)."""
    import hashlib

    state = service.state()
    known = set() if state.live is None else {s.id for s in state.live.snapshot().slots}
    slots = [s for s in problem.slots if s.id not in known]
    if not slots:
        return
    used = {s.facility_id for s in slots}
    facilities = [f for f in problem.facilities if f.id in used]
    digest = hashlib.sha256("\n".join(sorted(s.id for s in slots)).encode()).hexdigest()
    service.publish(facilities, slots, event_id=f"slots:{digest[:16]}", at=at)


def _aware(text: str) -> datetime:
    """An ISO 8601 moment with its offset (argparse type)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. +03:00)")
    return moment


def _cmd_slots_import(args: argparse.Namespace) -> int:
    # Imported here: the FHIR adapters need the optional ``fhir`` extra.
    from routing.adapters.importer import import_sources, summarize
    from routing.outputs.slots_document import SlotImportDocument, write_slots_file

    output = None if args.output is None else check_output_file(args.output)
    batch = import_sources(args.sources, start=args.start, end=args.end, timezone=args.timezone)
    summaries = summarize(batch)
    if output is not None:
        missing = [p for p in (output.parent, *output.parent.parents) if not p.exists()]
        try:
            write_slots_file(batch, output)
        except OSError as exc:
            raise _BadInputError(f"cannot write {output}: {exc.strerror or exc}") from None
        for directory in reversed(missing):
            _say(f"created directory {directory}", args)
    if args.json:
        document = SlotImportDocument(
            facilities=len(batch.facilities),
            slots=len(batch.slots),
            services=tuple(summaries),
            issues=batch.issues,
            output=args.output,
        )
        _dump(document.model_dump(mode="json"))
    else:
        _out(f"{len(batch.slots)} free slots at {len(batch.facilities)} facilities")
        rows = [
            (
                s.facility_id,
                str(s.service),
                str(s.count),
                s.first_date.isoformat(),
                s.last_date.isoformat(),
            )
            for s in summaries
        ]
        emit([TableBlock(("facility", "service", "slots", "first", "last"), tuple(rows))])
        for issue in batch.issues:
            _err(f"{issue.source}: {issue.record}, field {issue.field!r}: {issue.reason}")
        if args.output:
            _out(f"written to {args.output}")
    # Records or whole sources that could not be read are reported; the exit status says so.
    return EXIT_SOURCE_ISSUES if batch.issues else EXIT_OK


def _configure_logging(verbosity: int) -> None:
    """-1 (``-q``): errors only; 0: warnings; 1 (``-v``): info; 2 or more (``-vv``): debug."""
    levels = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}
    level = levels.get(verbosity, logging.DEBUG)
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s"
    )
    if verbosity != 0:
        logging.getLogger().setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``routing`` command.

    Parameters
    ----------
    argv
        The arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit status: 0 success, 1 a request without a route, 2 bad input.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already reported by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    _configure_logging(verbosity(args))
    if args.version:
        _out(version_text())
        return EXIT_OK
    handler = getattr(args, "handler", None)
    if handler is None:
        sub = f"{args.command} " if args.command in ("pathways", "slots") else ""
        _err(f"choose a {'subcommand' if sub else 'command'}; see '{_PROG} {sub}--help'")
        return EXIT_BAD_INPUT
    if handler is _cmd_plan and args.example and args.problem is not None:
        _err("give a problem file or --example, not both")
        return EXIT_BAD_INPUT
    try:
        status: int = handler(args)
    except InvalidProblemError as exc:
        _err(f"the problem has {len(exc.issues)} issue(s):")
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (_BadInputError, InvalidInputError, NosologyError) as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except RecursionError:
        _err("the input is nested too deeply to read")
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (e.g. `routing plan --example | head`): stop quietly, and keep
        # the interpreter from complaining again when it flushes standard output at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return status
