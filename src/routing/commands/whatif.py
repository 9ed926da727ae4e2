"""The ``routing whatif`` command: where added slots cut misses most, which slots can go.

Usage::

    routing whatif SOURCE... --budget N [--horizon-days D] [--service KEY ...]
                   [--facility ID ...] [--first-day DATE] [--json] [-q | -v]
    routing whatif SOURCE... --candidates FILE [--budget N] [--json]
    routing whatif SOURCE... --withdraw K [--horizon-days D] [--json]
    routing whatif --example --budget 3

The cohort is read as ``routing batch`` reads it (:func:`routing.commands.batch.read_cohort`).

* ``--budget N``: :func:`~routing.batch.whatif.propose_additions` chooses ``N`` copies of
  existing slots within the first ``D`` working days (``--horizon-days``, default 10) from the
  earliest referral (or ``--first-day``), of the ``--service`` keys and at the ``--facility``
  ids given (default: any);
* ``--candidates FILE``: the additions are chosen among the file's candidates instead (a JSON
  array, or an object with a ``candidates`` array, of ``{"facility_id", "service", "day",
  "start"?}``), at most ``--budget`` of them when given;
* ``--withdraw K``: the reverse, :func:`~routing.batch.whatif.rank_withdrawals` ranks the ``K``
  free slots of the window whose withdrawal harms the first-deadline bound least.

Then every answer is verified by re-planning (:func:`~routing.batch.whatif.verify`,
:func:`~routing.batch.whatif.verify_withdrawals`) unless ``--no-verify``: patients missing a
deadline, deadlines missed and mean days to completion before and after, beside the same number
of slots added at random and to the services with the longest queues. The re-plans stop at
``--iterations`` (default :data:`DEFAULT_ITERATIONS`; the example's own with ``--example``), so
the same input prints the same figures; ``--time-limit`` is a safety net (a re-plan it stops is
flagged).

Standard output gets tables (``rich`` on a terminal), or with ``--json`` one
:class:`~routing.outputs.whatif_document.WhatIfDocument`. Nothing is written to files.

Exit status: 2 for bad input (a budget, horizon or withdrawal count below 1, a candidate naming
an unknown facility or service or a day with no slot to copy, an unreadable candidates file, an
empty cohort, an unreadable source): the message names the option or the record and field, with
no traceback; 1 when some records of the sources were left out (each reported), else 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date, time
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from nosology.pathway import FrozenModel
from routing._version import __version__
from routing.batch.whatif import (
    CandidateSlot,
    CapacityBudget,
    CapacityProposal,
    PlanFigures,
    ReplanOptions,
    WhatIfComparison,
    WithdrawalCheck,
    WithdrawalProposal,
    propose_additions,
    rank_withdrawals,
    verify,
    verify_withdrawals,
)
from routing.commands.batch import (
    EXIT_BAD_INPUT,
    EXIT_NOT_ALL_PLANNED,
    EXIT_OK,
    _BadInputError,
    add_cohort_arguments,
    cohort_limits,
    read_cohort,
)
from routing.domain.issues import issues_from_validation_error
from routing.exceptions import InvalidInputError
from routing.outputs.terminal import Block, TableBlock, add_verbosity_arguments, emit
from routing.outputs.whatif_document import WhatIfDocument, proposed_additions
from routing.problem import parse_json_document

__all__ = [
    "DEFAULT_ITERATIONS",
    "add_whatif_arguments",
    "read_candidates",
    "run_whatif",
]

logger = logging.getLogger(__name__)

DEFAULT_ITERATIONS = ReplanOptions().max_iterations
"""Search iterations of each verifying re-plan when ``--iterations`` is not given."""

DEFAULT_HORIZON_DAYS = 10
"""Working days of the window when ``--horizon-days`` is not given."""


class _CandidateRecord(FrozenModel):
    """One candidate addition as the candidates file gives it."""

    facility_id: str
    service: str
    day: date
    start: time | None = None

    @field_validator("facility_id", "service")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("start")
    @classmethod
    def _local(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("a local time of day (HH:MM), without a zone")
        return value


def read_candidates(path: Path) -> list[CandidateSlot]:
    """The candidate additions of a JSON file, in the file's order.

    The file holds an array of objects, or an object whose ``candidates`` is one; each object
    has ``facility_id``, ``service`` (``"system:code"``), ``day`` (``YYYY-MM-DD``) and optionally
    ``start`` (local ``HH:MM``: which of the facility's slots that day to copy).

    Raises
    ------
    InvalidInputError
        The file cannot be read or is not JSON, holds no candidate, or a candidate has a missing
        or malformed field (named by the file, ``candidates[n]`` and the field).
    """
    label = str(path)
    try:
        raw: Any = parse_json_document(path.read_bytes(), label=label)
    except OSError as exc:
        raise InvalidInputError(label, "", f"cannot read: {exc.strerror or exc}") from None
    if isinstance(raw, dict):
        if "candidates" not in raw:
            raise InvalidInputError(label, "candidates", "expected an array of candidates")
        raw = raw["candidates"]
    if not isinstance(raw, list):
        raise InvalidInputError(label, "candidates", "expected an array of candidates")
    if not raw:
        raise InvalidInputError(label, "candidates", "give at least one candidate slot")
    candidates: list[CandidateSlot] = []
    for n, item in enumerate(raw):
        try:
            record = _CandidateRecord.model_validate(item)
        except ValidationError as exc:
            root = f"{label}: candidates[{n}]"
            issue = issues_from_validation_error(exc, item, {}, root=root).issues[0]
            raise InvalidInputError(issue.record, issue.field, issue.reason) from None
        candidates.append(
            CandidateSlot(
                facility_id=record.facility_id,
                service=record.service,
                day=record.day,
                start=record.start,
            )
        )
    return candidates


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def add_whatif_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``whatif`` command's arguments to ``parser``."""
    add_cohort_arguments(
        parser,
        time_limit_help="seconds each re-plan may take at most, a safety net: the iteration "
        f"limit ends them (default {ReplanOptions().time_limit:g}; a re-plan it stops is flagged)",
    )
    parser.add_argument(
        "--budget",
        type=int,
        metavar="N",
        help="slots to add (copies of existing slots in the window); with --candidates: "
        "at most N of them",
    )
    parser.add_argument(
        "--horizon-days",
        type=int,
        default=DEFAULT_HORIZON_DAYS,
        metavar="D",
        help="the window: D working days from the earliest referral or --first-day "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--candidates",
        metavar="FILE",
        help="JSON list of candidate additions {facility_id, service, day, start?} to rank",
    )
    parser.add_argument(
        "--withdraw",
        type=int,
        metavar="K",
        help="reverse mode: the K free slots of the window that can go with the least harm",
    )
    parser.add_argument(
        "--service",
        action="append",
        metavar="KEY",
        help="only slots of this service key (system:code); repeat for more (default: any)",
    )
    parser.add_argument(
        "--facility",
        action="append",
        metavar="ID",
        help="only slots at this facility; repeat for more (default: any)",
    )
    parser.add_argument(
        "--first-day",
        type=_day,
        metavar="DATE",
        help="the window's first day (default: the earliest referral)",
    )
    parser.add_argument(
        "--baseline-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the random baseline (default: --seed)",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="propose only: do not re-plan to verify (much faster on large cohorts)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of the tables"
    )
    add_verbosity_arguments(parser)


def run_whatif(args: argparse.Namespace) -> int:
    """Run ``routing whatif`` with parsed ``args``; the exit status (see the module docstring)."""
    try:
        return _run(args)
    except (_BadInputError, InvalidInputError) as exc:
        sys.stderr.write(f"routing whatif: error: {exc}\n")
        return EXIT_BAD_INPUT


def _check_options(args: argparse.Namespace) -> None:
    """Bad options, before any input is read: each message names its option."""
    if args.withdraw is not None and (args.budget is not None or args.candidates is not None):
        raise _BadInputError("--withdraw ranks slots to remove: not with --budget or --candidates")
    if args.withdraw is None and args.budget is None and args.candidates is None:
        raise _BadInputError("give --budget N, --candidates FILE or --withdraw K")
    for option, value in (
        ("--budget", args.budget),
        ("--withdraw", args.withdraw),
        ("--horizon-days", args.horizon_days),
    ):
        if value is not None and value < 1:
            raise _BadInputError(f"{option}: must be a whole number ≥ 1")
    if args.candidates is not None and (args.service or args.facility or args.first_day):
        raise _BadInputError(
            "--service, --facility and --first-day shape a budget's window: "
            "not with --candidates (each candidate names its facility, service and day)"
        )


def _budget(args: argparse.Namespace, slots: int) -> CapacityBudget:
    """The budget of ``slots`` slots in the options' window; a filter naming nothing the index
    has is reported with its option."""
    return CapacityBudget(
        slots=slots,
        working_days=args.horizon_days,
        services=tuple(args.service) if args.service else None,
        facilities=tuple(args.facility) if args.facility else None,
        first_day=args.first_day,
    )


_OPTION_OF_FIELD = {"services": "--service", "facilities": "--facility", "first_day": "--first-day"}


def _option_error(exc: InvalidInputError) -> _BadInputError:
    """A budget error as the option that caused it (``services.1`` → the second ``--service``)."""
    head, _, position = exc.field.partition(".")
    option = _OPTION_OF_FIELD.get(head)
    if exc.record != "capacity budget" or option is None:
        return _BadInputError(str(exc))
    which = f" (number {int(position) + 1} of those given)" if position.isdigit() else ""
    return _BadInputError(f"{option}{which}: {exc.reason}")


def _run(args: argparse.Namespace) -> int:
    _check_options(args)
    time_limit, iterations = cohort_limits(args)
    if args.time_limit is None:  # the iteration limit, not the clock, ends each re-plan
        time_limit = ReplanOptions().time_limit
    candidates = read_candidates(Path(args.candidates)) if args.candidates is not None else None
    sources, index = read_cohort(args, "whatif", allow_empty=True)
    for text in sources.rejected:
        sys.stderr.write(f"routing whatif: rejected: {text}\n")
    requests = list(sources.requests.values())
    if not requests:
        raise InvalidInputError(
            "cohort", "requests", "no request to plan: nothing to propose or verify"
        )
    inputs = (requests, index)
    options = ReplanOptions(
        seed=args.seed,
        max_iterations=DEFAULT_ITERATIONS if iterations is None else iterations,
        time_limit=time_limit,
        workers=args.workers,
        deadline_measure=args.deadline_measure,
        search_processes=args.search_processes,
    )
    status = EXIT_NOT_ALL_PLANNED if sources.rejected else EXIT_OK
    generator = f"routing {__version__}"
    if args.withdraw is not None:
        try:
            withdrawals = rank_withdrawals(
                inputs, _budget(args, args.withdraw), pathways=sources.pathways
            )
        except InvalidInputError as exc:
            raise _option_error(exc) from None
        check = (
            None
            if args.no_verify or not withdrawals.withdrawals
            else verify_withdrawals(withdrawals, inputs, options=options, pathways=sources.pathways)
        )
        document = WhatIfDocument(
            generator=generator,
            exit_status=status,
            mode="withdraw",
            requests=len(requests),
            rejected=tuple(sources.rejected),
            withdrawals=withdrawals,
            withdrawal_check=check,
        )
        blocks = _withdrawal_blocks(withdrawals, check, index.calendar.zone, options)
    else:
        try:
            if candidates is not None:
                proposal = propose_additions(
                    inputs, candidates, pathways=sources.pathways, at_most=args.budget
                )
            else:
                proposal = propose_additions(
                    inputs, _budget(args, args.budget), pathways=sources.pathways
                )
        except InvalidInputError as exc:
            if candidates is not None and exc.record.startswith("candidates"):
                raise InvalidInputError(
                    f"{args.candidates}: {exc.record}", exc.field, exc.reason
                ) from None
            raise _option_error(exc) from None
        comparison = (
            None
            if args.no_verify or not proposal.additions
            else verify(
                proposal,
                inputs,
                options=options,
                baseline_seed=args.seed if args.baseline_seed is None else args.baseline_seed,
                pathways=sources.pathways,
            )
        )
        document = WhatIfDocument(
            generator=generator,
            exit_status=status,
            mode="add",
            requests=len(requests),
            rejected=tuple(sources.rejected),
            proposal=proposed_additions(proposal),
            comparison=comparison,
            ratio_to_random=comparison.ratio_to_random if comparison is not None else None,
        )
        blocks = _addition_blocks(proposal, comparison, index.calendar.zone, options)
    if args.json:
        sys.stdout.write(
            json.dumps(document.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
        )
    else:
        emit(blocks)
    return status


# ---------------------------------------------------------------------------------------------
# What is printed
# ---------------------------------------------------------------------------------------------


def _window(days: Sequence[date]) -> str:
    if not days:
        return "no working day (no referral and no slot)"
    span = f"{days[0].isoformat()} … {days[-1].isoformat()}" if len(days) > 1 else str(days[0])
    return f"{span} ({len(days)} working day{'s' if len(days) != 1 else ''})"


def _days(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else (f"−{-n}" if n < 0 else "0")


def _plans_table(rows: Sequence[PlanFigures], before: PlanFigures) -> TableBlock:
    return TableBlock(
        headers=(
            "plan",
            "slots",
            "planned",
            "patients missing",
            "deadlines missed",
            "mean days",
            "bound",
            "change in missing",
        ),
        rows=tuple(
            (
                f.label,
                str(f.slots_changed),
                f"{f.planned}/{f.planned + f.unplanned}",
                str(f.patients_missing),
                str(f.deadlines_missed),
                _days(f.mean_days),
                str(f.bound),
                "—" if f is before else _signed(f.patients_missing - before.patients_missing),
            )
            for f in rows
        ),
    )


def _stopped(rows: Sequence[PlanFigures]) -> list[Block]:
    cut = [f.label for f in rows if f.stop_reason == "time limit"]
    if not cut:
        return []
    return [
        f"warning: the time limit stopped the re-plan(s) {', '.join(cut)} before "
        "the iteration limit: these figures may differ from run to run (raise --time-limit)"
    ]


def _verification_head(options: ReplanOptions) -> str:
    return (
        f"Verified by re-planning the whole cohort (plan_batch, seed {options.seed}, "
        f"{options.max_iterations} iterations):"
    )


def _addition_blocks(
    proposal: CapacityProposal,
    comparison: WhatIfComparison | None,
    zone: Any,
    options: ReplanOptions,
) -> list[Block]:
    blocks: list[Block] = [
        f"Window: {_window(proposal.days)}; {proposal.patients_with_deadline} patients "
        "with a first deadline",
        f"Proposed additions: {len(proposal.additions)} of {proposal.requested} slots; "
        f"first-deadline bound {proposal.bound_before} → {proposal.bound_after} patients "
        "(who miss it in every plan)",
    ]
    if proposal.additions:
        blocks.append(
            TableBlock(
                headers=("#", "service", "facility", "day", "start", "bound", "copy of"),
                rows=tuple(
                    (
                        str(n),
                        a.service,
                        a.facility_id,
                        a.day.isoformat(),
                        f"{a.slot.start.astimezone(zone):%H:%M}",
                        f"{a.bound_before} → {a.bound_after}",
                        a.copy_of,
                    )
                    for n, a in enumerate(proposal.additions, start=1)
                ),
            )
        )
    if proposal.note:
        blocks.append(f"  {proposal.note}")
    if comparison is None:
        if proposal.additions:
            blocks.append("Not verified (--no-verify).")
        return blocks
    rows = (comparison.before, comparison.proposed, comparison.random, comparison.longest_queue)
    blocks += [_verification_head(options), _plans_table(rows, comparison.before)]
    ratio = comparison.ratio_to_random
    proposed = comparison.reduction(comparison.proposed)
    if ratio is not None:
        blocks.append(
            f"The proposed slots cut patients missing a deadline by {proposed}, "
            f"{ratio:.1f} times the random slots' {comparison.reduction(comparison.random)}."
        )
    else:
        blocks.append(
            f"The proposed slots cut patients missing a deadline by {proposed}; "
            "the random slots by none."
        )
    return blocks + _stopped(rows)


def _withdrawal_blocks(
    withdrawals: WithdrawalProposal,
    check: WithdrawalCheck | None,
    zone: Any,
    options: ReplanOptions,
) -> list[Block]:
    blocks: list[Block] = [
        f"Window: {_window(withdrawals.days)}; {withdrawals.patients_with_deadline} patients "
        "with a first deadline",
        f"Slots that can be withdrawn with the least harm: {len(withdrawals.withdrawals)} of "
        f"{withdrawals.requested}; first-deadline bound {withdrawals.bound_before} → "
        f"{withdrawals.bound_after}",
    ]
    if withdrawals.withdrawals:
        blocks.append(
            TableBlock(
                headers=("#", "service", "facility", "start", "bound", "service load", "slot"),
                rows=tuple(
                    (
                        str(n),
                        w.service,
                        w.facility_id,
                        f"{w.start.astimezone(zone):%Y-%m-%d %H:%M}",
                        f"{w.bound_before} → {w.bound_after}",
                        f"{w.load:.2f}",
                        w.slot_id,
                    )
                    for n, w in enumerate(withdrawals.withdrawals, start=1)
                ),
            )
        )
    if withdrawals.note:
        blocks.append(f"  {withdrawals.note}")
    if check is None:
        if withdrawals.withdrawals:
            blocks.append("Not verified (--no-verify).")
        return blocks
    rows = (check.before, check.after)
    blocks += [_verification_head(options), _plans_table(rows, check.before)]
    return blocks + _stopped(rows)
