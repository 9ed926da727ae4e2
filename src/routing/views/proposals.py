"""The doctor's proposal: the fastest route and alternatives that differ in a way that matters.

:func:`propose` plans the fastest route (:func:`~routing.solve.plan.plan_route`, whose
lexicographic objective puts completion first) and then re-plans under constraints that trade
completion for something else the patient may value more:

``fewer_visit_days``
    In-person visits only on the fastest route's own visit days but one (or after its last
    one): the route that comes to the clinic on fewer days, finishing as early as it then can.
    Each of the fastest route's visit days is tried; the fewest days, then the earliest
    completion, wins.
``closer``
    In-person visits only at the facilities nearest to the patient's home that can give each
    stage (the nearest one, two or three per stage), or anywhere but one of the fastest
    route's facilities: the least travel among these routes. Remote stages stay anywhere.
``preferred``
    In-person visits only at the patient's preferred facilities, besides those needed for
    stages no preferred facility gives.

An alternative is kept only when it improves on the fastest route in what it is for (fewer
visit days, at least :data:`MIN_TRAVEL_SAVING` minutes less travel, fewer visits outside the
preferred facilities) and books a set of
slots no earlier option books: an alternative identical to the fastest is dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from nosology.catalogue import Catalogue
from nosology.pathway import FrozenModel, Pathway, VisitMode
from routing.domain import RouteRequest
from routing.result import Objective, RouteResult
from routing.slot_index import SlotIndex
from routing.solve.plan import SolveOptions, plan_route, resolve_pathway

__all__ = ["MIN_TRAVEL_SAVING", "OptionKind", "Proposal", "RouteOption", "propose"]

MIN_TRAVEL_SAVING = 15
"""The least saving of travel minutes that makes a closer route worth proposing."""


class OptionKind(StrEnum):
    """What a proposed route is best at."""

    FASTEST = "fastest"
    FEWER_VISIT_DAYS = "fewer_visit_days"
    CLOSER = "closer"
    PREFERRED = "preferred"


class RouteOption(FrozenModel):
    """One proposed route and how it compares with the fastest.

    Attributes
    ----------
    kind
        What it is best at.
    result
        The planned route (bookings, objective, deadlines).
    completion_days_later, visit_days_fewer, travel_minutes_less, non_preferred_fewer
        The differences from the fastest route (0 for the fastest itself); positive means
        later / fewer / less.
    """

    kind: OptionKind
    result: RouteResult
    completion_days_later: float
    visit_days_fewer: int
    travel_minutes_less: int
    non_preferred_fewer: int


class Proposal(FrozenModel):
    """The fastest route of a request and up to three alternatives.

    ``pathway_id`` is for the doctor; the patient's views never show it.
    """

    request_id: str
    patient_id: str
    pathway_id: str | None
    fastest: RouteResult
    options: tuple[RouteOption, ...]
    """The fastest route first, then the alternatives kept; empty without a route."""

    @property
    def alternatives(self) -> tuple[RouteOption, ...]:
        """The options besides the fastest."""
        return self.options[1:]


@dataclass(frozen=True, slots=True)
class _Planner:
    request: RouteRequest
    index: SlotIndex
    catalogue: Catalogue | None
    pathways: Mapping[str, Pathway] | None
    options: SolveOptions | None

    def plan(self, blocked: npt.NDArray[np.bool_] | None = None) -> RouteResult:
        return plan_route(
            self.request,
            self.index,
            catalogue=self.catalogue,
            pathways=self.pathways,
            options=self.options,
            blocked=blocked,
        )

    def in_person_only_at(self, allowed: set[str]) -> RouteResult:
        """The fastest route whose in-person visits are all at ``allowed`` facilities (remote
        stages stay anywhere)."""
        index = self.index
        positions = np.array(
            sorted(index.facility_position[f] for f in allowed if f in index.facility_position),
            dtype=index.facility.dtype,
        )
        blocked = index.in_person & ~np.isin(index.facility, positions)
        return self.plan(blocked=blocked)


def propose(
    request: RouteRequest,
    index: SlotIndex,
    *,
    catalogue: Catalogue | None = None,
    pathways: Mapping[str, Pathway] | None = None,
    options: SolveOptions | None = None,
) -> Proposal:
    """The fastest route of ``request`` and the alternatives that differ in a way that matters.

    Parameters are those of :func:`~routing.solve.plan.plan_route`. Without a route (infeasible,
    invalid), the proposal has that result as ``fastest`` and no options.
    """
    planner = _Planner(request, index, catalogue, pathways, options)
    fastest = planner.plan()
    proposal = Proposal(
        request_id=request.id,
        patient_id=request.patient.id,
        pathway_id=fastest.pathway_id,
        fastest=fastest,
        options=(),
    )
    if not fastest.has_route or fastest.objective is None:
        return proposal
    proposal = proposal.model_copy(
        update={"options": (_option(OptionKind.FASTEST, fastest, fastest),)}
    )
    pathway = resolve_pathway(request, catalogue, pathways)
    kept: list[RouteOption] = list(proposal.options)
    seen = {_slots_of(fastest)}
    tries: list[tuple[OptionKind, Callable[[], RouteResult | None]]] = [
        (OptionKind.FEWER_VISIT_DAYS, lambda: _fewer_visit_days(planner, fastest)),
        (OptionKind.CLOSER, lambda: _closer(planner, pathway, fastest)),
        (OptionKind.PREFERRED, lambda: _preferred(planner, pathway)),
    ]
    for kind, attempt in tries:
        result = attempt()
        if result is None or not result.has_route or result.objective is None:
            continue
        option = _option(kind, result, fastest)
        if not _improves(option) or _slots_of(result) in seen:
            continue
        seen.add(_slots_of(result))
        kept.append(option)
    return proposal.model_copy(update={"options": tuple(kept)})


def _slots_of(result: RouteResult) -> frozenset[str]:
    return frozenset(b.slot_id for b in result.bookings)


def _option(kind: OptionKind, result: RouteResult, fastest: RouteResult) -> RouteOption:
    assert result.objective is not None
    assert fastest.objective is not None
    mine, best = result.objective, fastest.objective
    return RouteOption(
        kind=kind,
        result=result,
        completion_days_later=round((mine.completion_minutes - best.completion_minutes) / 1440, 1),
        visit_days_fewer=best.visit_days - mine.visit_days,
        travel_minutes_less=best.travel_minutes - mine.travel_minutes,
        non_preferred_fewer=best.non_preferred - mine.non_preferred,
    )


def _improves(option: RouteOption) -> bool:
    if option.kind is OptionKind.FEWER_VISIT_DAYS:
        return option.visit_days_fewer > 0
    if option.kind is OptionKind.CLOSER:
        return option.travel_minutes_less >= MIN_TRAVEL_SAVING
    if option.kind is OptionKind.PREFERRED:
        return option.non_preferred_fewer > 0
    return True


def _fewer_visit_days(planner: _Planner, fastest: RouteResult) -> RouteResult | None:
    index = planner.index
    days = sorted(
        {
            int(index.day[index.slot_position[b.slot_id]])
            for b in fastest.bookings
            if b.mode is VisitMode.IN_PERSON
        }
    )
    if len(days) < 2:
        return None
    last = days[-1]
    results: list[RouteResult] = []
    for dropped in days:
        kept = np.array([d for d in days if d != dropped], dtype=index.day.dtype)
        on_other_days = index.in_person & ~np.isin(index.day, kept)
        # Only the route's other days; or those and any day after its last one.
        for blocked in (on_other_days, on_other_days & (index.day <= last)):
            results.append(planner.plan(blocked=blocked))
    return _best(results, lambda r: (r.visit_days, r.key()))


def _closer(planner: _Planner, pathway: Pathway, fastest: RouteResult) -> RouteResult | None:
    """The least travel among routes over the nearest facilities per stage, or without one of
    the fastest route's facilities."""
    index = planner.index
    results: list[RouteResult] = []
    home = planner.request.patient.location
    if home is not None:
        travel = index.travel
        for per_stage in (1, 2, 3):
            allowed: set[str] = set()
            for stage in pathway.stages:
                givers = [
                    f
                    for f in index.facilities
                    if any(f.offers(s) for s in stage.services)
                    and (stage.facility_level is None or f.level >= stage.facility_level)
                ]
                if stage.mode is VisitMode.REMOTE:
                    continue
                givers.sort(key=lambda f: (travel.from_home(home, f), f.id))
                allowed.update(f.id for f in givers[:per_stage])
            results.append(planner.in_person_only_at(allowed))
    everything = {f.id for f in index.facilities}
    for facility_id in sorted(
        {b.facility_id for b in fastest.bookings if b.mode is VisitMode.IN_PERSON}
    ):
        results.append(planner.in_person_only_at(everything - {facility_id}))
    return _best(results, lambda r: (r.travel_minutes, r.key()))


def _best(
    results: list[RouteResult], key: Callable[[Objective], tuple[object, ...]]
) -> RouteResult | None:
    planned = [r for r in results if r.has_route and r.objective is not None]
    if not planned:
        return None
    return min(planned, key=lambda r: key(r.objective))  # type: ignore[arg-type]


def _preferred(planner: _Planner, pathway: Pathway) -> RouteResult | None:
    preferred = set(planner.request.patient.preferred_facilities)
    if not preferred:
        return None
    index = planner.index
    allowed = set(preferred)
    for stage in pathway.stages:
        givers = {f.id for f in index.facilities if any(f.offers(s) for s in stage.services)}
        if stage.mode is not VisitMode.REMOTE and not givers & preferred:
            allowed |= givers
    result = planner.in_person_only_at(allowed)
    return result if result.has_route else None
