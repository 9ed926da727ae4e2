"""``plan_route``: the fastest complete route for one patient.

The request's pathway is resolved (explicit, by id, or from the diagnoses through
:mod:`nosology`), checked for contradictory lags, compiled against a :class:`SlotIndex`, and
searched exactly (:mod:`routing.solve.search`). The result says how good the route is and why.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from nosology.catalogue import Catalogue
from nosology.exceptions import InconsistentPathwayError, NosologyError
from nosology.pathway import Pathway
from nosology.resolve import pathway_for
from nosology.temporal import compile_pathway
from routing.domain import RouteRequest
from routing.exceptions import CalendarRangeError
from routing.live import LiveSlots
from routing.result import Booking, Objective, RouteResult, SolveStatus
from routing.slot_index import SlotIndex
from routing.solve.bnb.state import index_slot_days
from routing.solve.compiled import CompiledRequest, compile_request
from routing.solve.explain import deadline_outcomes, waits_and_chain
from routing.solve.indexcache import memoised_in
from routing.solve.links import prepare_pathway_links
from routing.solve.modes import mode_variants, search_in_modes
from routing.solve.projection import projection_warnings
from routing.solve.search import SearchLimits, SearchOutcome
from routing.solve.stagebase import prepare_stage_bases

__all__ = [
    "SolveOptions",
    "invalid_result",
    "pathway_problem",
    "plan_route",
    "prepare_index",
    "resolve_pathway",
    "route_result",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SolveOptions:
    """Limits of one solve.

    Attributes
    ----------
    time_limit
        Wall-clock seconds the exact search may take; past it the best route found is returned
        as FEASIBLE (or TIME_LIMIT without one).
    node_limit
        Search nodes, a deterministic limit (the same input stops at the same node).
    """

    time_limit: float = 2.0
    node_limit: int = 200_000

    def __post_init__(self) -> None:
        if not self.time_limit > 0:
            raise ValueError("time_limit must be positive seconds")
        if self.node_limit < 1:
            raise ValueError("node_limit must be at least 1")


class _InvalidRequestError(Exception):
    def __init__(self, reason: str, pathway_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pathway_id = pathway_id


def resolve_pathway(
    request: RouteRequest,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
) -> Pathway:
    """The pathway a request asks for: inline, by id (``pathways`` first), or from its diagnoses.

    Raises
    ------
    nosology.NosologyError
        Invalid codes, no applicable pathway, an unknown id or a merge conflict.
    """
    if request.pathway is not None:
        return request.pathway
    if request.pathway_id is not None:
        if pathways and request.pathway_id in pathways:
            return pathways[request.pathway_id]
        return (catalogue or Catalogue.builtin()).get(request.pathway_id)
    return pathway_for(request.diagnoses, catalogue)


PROBLEMS_CACHED = 256
"""Pathways whose :func:`pathway_problem` is kept (the least recently used dropped first)."""
_problems: OrderedDict[Hashable, object] = OrderedDict()


def pathway_problem(pathway: Pathway) -> str | None:
    """Why ``pathway`` cannot be planned (its lags contradict each other), or ``None``.

    Durations are not taken as exact: real slots set them. Cached per pathway object (by
    identity: hashing a pathway costs more than the look-up saves).
    """

    def check() -> tuple[Pathway, str | None]:
        try:
            compile_pathway(pathway, exact_durations=False).check_consistency()
        except InconsistentPathwayError as exc:
            return pathway, str(exc)
        return pathway, None

    _, problem = memoised_in(
        _problems, id(pathway), PROBLEMS_CACHED, check, lambda v: v[0] is pathway
    )
    return problem


_REQUEST_REGION: str = RouteRequest.model_fields["region"].default
"""The region of a request that names none."""


def prepare_index(
    index: SlotIndex | LiveSlots,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
) -> int:
    """Build ahead of the first requests what :func:`plan_route` keeps on ``index`` per pathway.

    For each pathway of ``catalogue`` (the built-in one by default) and of ``pathways``, in each
    combination of modes of its *either* stages, the stages' candidate slots before any
    request's own rules (sorted, counted by rule, grouped by facility), the pathway's
    consistency check, and its links (the lags, and those the same-day rules imply for 1 to 3
    visits a day, under the hard deadlines in force today in the index's regions); and the
    days on which the index has slots (the search's bound on the days visits need).
    :func:`plan_route` builds these on first use anyway; a service that keeps an index for
    many requests calls this once after building it, so that the first requests of each
    pathway are as fast as the rest. Pathways merged from several diagnoses
    share the stages of the pathways they merge. Prepare what the requests will be planned
    over: a live state (:class:`~routing.live.LiveSlots`) or a plain index (a request with
    kept bookings reads, like one over a live state, the slots without merging twins).

    Returns
    -------
    int
        The stages prepared.

    Raises
    ------
    TypeError
        ``index`` is neither a :class:`SlotIndex` nor a live state, or a value of ``pathways``
        is not a :class:`~nosology.pathway.Pathway` (named by its key).
    """
    live = isinstance(index, LiveSlots)
    index_ = index.index if isinstance(index, LiveSlots) else index
    if not isinstance(index_, SlotIndex):
        raise TypeError(f"index: expected a SlotIndex or LiveSlots, not {type(index).__name__}")
    extra = dict(pathways or {})
    for key, value in extra.items():
        if not isinstance(value, Pathway):
            raise TypeError(f"pathways[{key!r}]: expected a Pathway, not {type(value).__name__}")
    chosen = Catalogue.builtin() if catalogue is None else catalogue
    # The links depend on the referral only through the hard deadlines in force: those of
    # today (within the calendar's span) in the index's regions.
    calendar = index_.calendar
    today = calendar.local_date(datetime.now(calendar.zone))
    today = min(max(today, calendar.first_date), calendar.last_date)
    regions = sorted({f.region for f in index_.facilities if f.region is not None})
    prepared = 0
    for pathway in [*chosen, *extra.values()]:
        if pathway_problem(pathway) is not None:
            continue  # never planned
        for variant in mode_variants(pathway, index_):
            # Over a live state some places are taken: the bases keep every slot.
            prepared += prepare_stage_bases(index_, variant, per_slot=live)
            for region in regions or [_REQUEST_REGION]:
                prepare_pathway_links(index_, variant, today, region)
    index_slot_days(index_)
    return prepared


def plan_route(
    request: RouteRequest,
    index: SlotIndex | LiveSlots,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    options: SolveOptions | None = None,
    blocked: npt.NDArray[np.bool_] | None = None,
) -> RouteResult:
    """Plan the fastest complete route for ``request`` over the free slots of ``index``.

    Parameters
    ----------
    request
        The patient, diagnoses or pathway, referral moment and constraints.
    index
        The free slots and facilities (build once with :meth:`SlotIndex.build`, reuse), or a
        live state (:class:`~routing.live.LiveSlots`): its slots without a free place are
        blocked.
    catalogue
        Where pathways come from (the built-in catalogue by default).
    pathways
        Extra pathways by id, looked up before the catalogue (e.g. a problem file's own).
    options
        Time and node limits.
    blocked
        Slot positions of ``index`` that are taken (``True``) and may not be booked; batch
        planning passes the slots whose capacity other patients have used up. Over a live
        state, these are blocked as well as the full ones.

    Returns
    -------
    RouteResult
        OPTIMAL only when the search proved it; FEASIBLE with the best bound when a limit cut it
        short; INFEASIBLE with reasons; INVALID when the request cannot be planned as given.
        Requests are never rejected by exceptions for reasons of their content: a referral or
        reference date outside the calendar's span (the sensible range of dates) makes the
        result INVALID, its reason naming the field. A result that relies on a projected
        calendar year says so in its ``warnings``.
    """
    opts = options or SolveOptions()
    started = time.perf_counter()
    if isinstance(index, LiveSlots):
        full = index.blocked()
        blocked = full if blocked is None else full | blocked
        index = index.index
    limits = SearchLimits(time_limit=opts.time_limit, node_limit=opts.node_limit)
    index_: SlotIndex = index
    try:
        pathway = _pathway_or_invalid(request, catalogue, pathways)
        try:
            cr, outcome = search_in_modes(
                lambda p: compile_request(
                    request, p, index_, blocked, merge_twins=True, narrow_by_lags=True
                ),
                pathway,
                index_,
                limits,
            )
        except CalendarRangeError as exc:
            raise _InvalidRequestError(str(exc), pathway.id) from None
        if outcome is None:
            raise _InvalidRequestError("; ".join(cr.problems), pathway.id)
    except _InvalidRequestError as exc:
        logger.info("request %s is invalid", request.id)
        return invalid_result(
            request, exc.reason, exc.pathway_id, runtime=time.perf_counter() - started
        )
    result = route_result(cr, outcome, started)
    logger.debug(
        "request %s: %s in %.4f s, %d nodes",
        request.id,
        result.status.value,
        result.runtime_seconds,
        outcome.nodes,
    )
    return result


def invalid_result(
    request: RouteRequest, reason: str, pathway_id: str | None = None, *, runtime: float = 0.0
) -> RouteResult:
    """The INVALID result of a request that cannot be planned as given, saying why."""
    return RouteResult(
        request_id=request.id,
        patient_id=request.patient.id,
        pathway_id=pathway_id,
        status=SolveStatus.INVALID,
        referral=request.referral,
        reasons=(reason,),
        runtime_seconds=runtime,
    )


def _pathway_or_invalid(
    request: RouteRequest, catalogue: Catalogue | None, pathways: Mapping[str, Pathway] | None
) -> Pathway:
    try:
        pathway = resolve_pathway(request, catalogue, pathways)
    except NosologyError as exc:
        raise _InvalidRequestError(_describe(request, exc)) from None
    problem = pathway_problem(pathway)
    if problem is not None:
        raise _InvalidRequestError(problem, pathway.id)
    return pathway


def _describe(request: RouteRequest, exc: NosologyError) -> str:
    """A reason that names no diagnosis (diagnoses are personal data)."""
    from nosology.codes import parse_code
    from nosology.exceptions import InvalidCodeError, UnknownPathwayError

    if isinstance(exc, InvalidCodeError):
        for n, raw in enumerate(request.diagnoses, start=1):
            try:
                parse_code(raw)
            except InvalidCodeError:
                return f"diagnosis #{n} is not a valid МКБ-10 code"
        return "a diagnosis is not a valid МКБ-10 code"
    if isinstance(exc, UnknownPathwayError):
        if request.pathway_id is not None:
            return f"unknown pathway {request.pathway_id!r}"
        return "no care pathway applies to the diagnoses given"
    return f"the pathways of the diagnoses cannot be combined: {type(exc).__name__}"


def route_result(cr: CompiledRequest, outcome: SearchOutcome, started: float) -> RouteResult:
    """The :class:`RouteResult` of a finished search of ``cr`` (``started``: its perf_counter)."""
    request = cr.request
    if outcome.choice is None:
        if outcome.proven:
            return RouteResult(
                request_id=request.id,
                patient_id=request.patient.id,
                pathway_id=cr.pathway.id,
                referral=request.referral,
                status=SolveStatus.INFEASIBLE,
                reasons=_infeasible_reasons(cr, outcome),
                warnings=projection_warnings(cr.index.calendar, request, {}),
                runtime_seconds=time.perf_counter() - started,
            )
        return RouteResult(
            request_id=request.id,
            patient_id=request.patient.id,
            pathway_id=cr.pathway.id,
            referral=request.referral,
            status=SolveStatus.TIME_LIMIT,
            bound=_objective(outcome.root_bound),
            reasons=(f"stopped at the {outcome.limit_hit} before any route was found",),
            warnings=projection_warnings(cr.index.calendar, request, {}),
            runtime_seconds=time.perf_counter() - started,
        )
    assert outcome.key is not None
    index = cr.index
    bookings = []
    times: dict[str, tuple[datetime, datetime]] = {}
    for st, c in zip(cr.stages, outcome.choice, strict=True):
        slot = index.slots[st.slot[c]]
        times[st.stage_id] = (slot.start, slot.end)
        bookings.append(
            Booking(
                stage_id=st.stage_id,
                slot_id=slot.id,
                facility_id=slot.facility_id,
                service=slot.service,
                start=slot.start,
                end=slot.end,
                mode=slot.mode,
            )
        )
    waits, chain, wait_map, chain_of = waits_and_chain(cr, outcome.choice)
    referral_date = index.calendar.local_date(request.referral)
    deadlines = tuple(
        d for d in cr.pathway.deadlines if d.applies_on(referral_date, request.region)
    )
    objective = _objective(outcome.key)
    status = SolveStatus.OPTIMAL if outcome.proven else SolveStatus.FEASIBLE
    reasons: tuple[str, ...] = ()
    if outcome.completion_only:
        reasons = (
            "the earliest completion is proven; visit days, travel and preferred facilities "
            "were not optimised",
        )
    elif not outcome.proven:
        reasons = (f"search stopped at the {outcome.limit_hit}; the route is not proven best",)
    return RouteResult(
        request_id=request.id,
        patient_id=request.patient.id,
        pathway_id=cr.pathway.id,
        referral=request.referral,
        status=status,
        bookings=tuple(sorted(bookings, key=lambda b: (b.start, b.stage_id))),
        objective=objective,
        bound=objective if outcome.proven else _objective(outcome.root_bound),
        deadlines=deadline_outcomes(
            deadlines, index.calendar, request.referral, times, wait_map, chain_of
        ),
        waits=waits,
        critical_chain=chain,
        reasons=reasons,
        warnings=projection_warnings(index.calendar, request, times, deadlines),
        runtime_seconds=time.perf_counter() - started,
    )


def _objective(key: tuple[int, int, int, int] | None) -> Objective | None:
    if key is None:
        return None
    return Objective(
        completion_minutes=key[0], visit_days=key[1], travel_minutes=key[2], non_preferred=key[3]
    )


def _infeasible_reasons(cr: CompiledRequest, outcome: SearchOutcome) -> tuple[str, ...]:
    if outcome.failure is None:
        return (
            "every combination of free slots that meets the lags breaks a same-day rule "
            "(visits a day, travel between facilities, also across midnight, overlapping "
            "visits or a stage that must have its own day)",
        )
    stage_index, rule = outcome.failure
    st = cr.stages[stage_index]
    stage = cr.pathway.stage(st.stage_id)
    services = ", ".join(str(s) for s in stage.services)
    if not st.start:
        removed = "; ".join(f"{n} {why}" for why, n in sorted(st.excluded_by.items()))
        detail = f" (slots of its services excluded: {removed})" if removed else ""
        return (
            f"no free slot for stage {st.stage_id!r} ({services}) within the horizon of "
            f"{cr.request.horizon_days} days{detail}",
        )
    if rule:
        return (
            f"stage {st.stage_id!r}: no free slot meets {rule} together with the other lags of "
            "the pathway",
        )
    return (f"stage {st.stage_id!r}: no free slot meets the lags of the pathway",)
