"""One request compiled against a slot index: candidate slots per stage and the lag links.

This is the solver-facing form of a request: plain Python ints and lists, built once per request.
Candidates are the slots that satisfy every *unary* rule of a stage (service, facility level and
allowed facilities, visit mode, horizon, facility days off, the patient's unavailability, windows);
the rules between stages are kept as :class:`~routing.solve.links.Link` records for the solver to
propagate. For a search, the links also narrow each stage's slots first
(:mod:`routing.solve.lagranges`): a slot no route can use is not a candidate. The stage's slots
come from its cached base (:mod:`routing.solve.stagebase`), the links from the pathway's
(:mod:`routing.solve.links`), the travel from home from :mod:`routing.solve.homes`.

A compilation is in two steps: :func:`~routing.solve.prepared.prepare_request` does all that does
not read the blocked slots (:mod:`routing.solve.prepared`), :func:`gather` the rest (the taken
slots, the thinning, each stage's candidate lists). :func:`compile_request` does both; a caller
that compiles one request over many sets of blocked slots (a batch) prepares it once.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from nosology.pathway import Pathway, Stage, VisitMode
from routing.domain import RouteRequest
from routing.slot_index import SlotIndex
from routing.solve.homes import home_is_metric_on
from routing.solve.links import Link
from routing.solve.prepared import LagMemo, PreparedRequest, prepare_request
from routing.solve.stagebase import (
    TWINS,
    StageBase,
    rows_by_facility,
)
from routing.solve.thinning import THINNED, RankArray, nearest_per_day
from routing.solve.timeaxis import TimeAxis

__all__ = [
    "CompiledRequest",
    "StageCandidates",
    "compile_request",
    "gather",
]

IntArray = npt.NDArray[np.int64]

GROUP_WITH_NUMPY = 600
"""Candidates of a stage from which :meth:`StageCandidates.by_facility` groups them with numpy
(below, a plain loop is faster)."""


@dataclass(slots=True)
class StageCandidates:
    """The candidate slots of one stage, sorted by start, then end, then slot id.

    Every list has one entry per candidate; ``slot`` is the position in the :class:`SlotIndex`.
    """

    stage_id: str
    in_person: bool
    shares_day: bool
    slot: list[int]
    start: list[int]
    end: list[int]
    day: list[int]
    facility: list[int]
    preferred: list[bool]
    excluded_by: dict[str, int] = field(default_factory=dict)
    """How many slots of the stage's services each unary rule removed (for explanations)."""

    min_duration: int = 0
    """The shortest candidate, in minutes (0 without candidates)."""
    max_duration: int = 0
    """The longest candidate, in minutes (0 without candidates)."""
    arrays: tuple[IntArray, IntArray, IntArray, IntArray] | None = field(
        default=None, compare=False, repr=False
    )
    """``start``, ``end``, ``day`` and ``facility`` as arrays, when the compiler had them."""
    facility_rows: tuple[tuple[tuple[int, list[int]], ...], int] | None = field(
        default=None, compare=False, repr=False
    )
    """The candidates by facility, when the compiler had them grouped: ``(groups, offset)``,
    each group ``(facility, rows)`` with ``rows`` ascending, candidate ``c`` being row
    ``c + offset``; rows outside ``[offset, offset + len(slot))`` are not candidates (the rows
    are shared with other requests: read only)."""

    grouped: list[tuple[int, list[int], int]] | None = field(
        default=None, init=False, compare=False, repr=False
    )
    """:meth:`by_facility`, once computed."""

    def by_facility(self) -> list[tuple[int, list[int], int]]:
        """The candidates by facility, in facility order: ``(facility, rows, offset)``, candidate
        ``c`` of the facility being ``rows[n] - offset`` for the ``n`` with
        ``offset <= rows[n] < offset + len(slot)``; computed once, read only."""
        if self.grouped is None:
            self.grouped = self._group_by_facility()
        return self.grouped

    def _group_by_facility(self) -> list[tuple[int, list[int], int]]:
        if self.facility_rows is not None:
            groups, offset = self.facility_rows
            limit = offset + len(self.slot)
            found = []
            for f, rows in groups:
                n = bisect_left(rows, offset)
                if n < len(rows) and rows[n] < limit:
                    found.append((f, rows, offset))
            return found
        if self.arrays is not None and len(self.slot) >= GROUP_WITH_NUMPY:
            return [(f, rows, 0) for f, rows in rows_by_facility(self.arrays[3])]
        members: dict[int, list[int]] = {}
        for c, f in enumerate(self.facility):
            listed = members.get(f)
            if listed is None:
                members[f] = [c]
            else:
                listed.append(c)
        return [(f, members[f], 0) for f in sorted(members)]

    def sites(self) -> list[int]:
        """The facilities of the candidates, ascending."""
        return [f for f, _, _ in self.by_facility()]


@dataclass(slots=True)
class CompiledRequest:
    """A request ready for a solver."""

    request: RouteRequest
    pathway: Pathway
    index: SlotIndex
    axis: TimeAxis
    referral_minute: int
    horizon_minute: int
    stages: list[StageCandidates]
    links: list[Link]
    home_minutes: list[int] | None
    """Travel minutes from the patient's home to each facility, or ``None`` without a location."""
    max_visits_per_day: int
    travel_is_metric: bool
    problems: list[str] = field(default_factory=list)
    """Reasons the request cannot be solved at all (a missing reference date, ...)."""
    precedes: list[list[bool]] = field(default_factory=list)
    """``precedes[i][j]``: stage ``j`` starts no earlier than stage ``i`` (by the links)."""


def compile_request(
    request: RouteRequest,
    pathway: Pathway,
    index: SlotIndex,
    blocked: npt.NDArray[np.bool_] | None = None,
    *,
    merge_twins: bool = False,
    pins: Mapping[str, int] | None = None,
    per_day: int = 0,
    narrow_by_lags: bool = False,
    lag_memo: LagMemo | None = None,
    stop_at_empty: bool = False,
    only: Collection[str] | None = None,
) -> CompiledRequest:
    """Gather each stage's candidate slots and the pathway's links for ``request``.

    ``blocked`` marks slot positions of the index that are no longer free (e.g. taken by other
    patients of a batch); they are not candidates. ``merge_twins`` keeps one of the slots of a
    stage that share facility, start and end (the first by id): right when this request is
    planned alone, wrong for a model in which several patients share the slots.

    ``pins`` (stage id → slot position) makes a slot the only candidate of its stage, blocked
    or not, if it passes the stage's other rules; given, it replaces the request's existing
    bookings (``None``: they are the pins). ``per_day`` keeps at most that many candidates a
    day for each stage that is not pinned (:func:`~routing.solve.thinning.nearest_per_day`;
    0 keeps all). ``narrow_by_lags`` also drops the slots of a stage that no route within the
    horizon can use, by the lag links over every stage's slots
    (:func:`~routing.solve.lagranges.lag_ranges`): right for a search or a model of this
    request's routes, which finds the same routes with less work; wrong for a caller that
    reads a stage's candidates as the slots its unary rules allow (the first-deadline
    matching, say). ``lag_memo`` keeps the narrowed ranges of a request across its compilations
    (a batch compiles each request many times over the same slots, only the blocked ones
    changing, which the ranges do not depend on). ``stop_at_empty`` leaves every stage after
    the first one with no candidate ungathered (no candidates; its rows counted as not
    gathered): the search fails at the first stage without a candidate whatever the later
    ones hold, so its outcome and result are the same for less work; right for a caller that
    reads only the search's outcome, wrong for one that reads every stage's candidates.
    ``only`` (stage ids) gathers the candidates of those stages alone, the others left without
    any (their rows counted as not asked for): for a caller that reads a few stages' candidates
    and searches nothing.

    Periods the patient is unavailable are clipped to the calendar's span (no slot lies outside
    it). The same as :func:`gather` of :func:`prepare_request`: a caller that compiles one
    request many times over other blocked slots prepares it once.

    Raises
    ------
    CalendarRangeError
        If the referral, or a reference date the pathway's windows read, lies outside the
        index's calendar (:func:`~routing.solve.projection.check_request_dates`).
    ValueError
        If ``per_day`` is negative, a pin is refused
        (:func:`~routing.solve.prepared.check_pins`), or ``only`` names a stage the pathway
        does not have.
    """
    prepared = prepare_request(
        request,
        pathway,
        index,
        blocked=blocked is not None,
        merge_twins=merge_twins,
        pins=pins,
        per_day=per_day,
        narrow_by_lags=narrow_by_lags,
        lag_memo=lag_memo,
    )
    return gather(prepared, blocked, stop_at_empty=stop_at_empty, only=only)


def gather(
    prepared: PreparedRequest,
    blocked: npt.NDArray[np.bool_] | None,
    *,
    stop_at_empty: bool = False,
    only: Collection[str] | None = None,
) -> CompiledRequest:
    """Finish :func:`compile_request` from ``prepared`` with these ``blocked`` slots: each
    stage's candidates (``stop_at_empty`` and ``only`` as there).

    Raises
    ------
    ValueError
        If ``blocked`` is given and ``prepared`` was made for no blocked slots, or the other
        way round, or ``only`` names a stage the pathway does not have.
    """
    request = prepared.request
    if (blocked is not None) != prepared.blocked:
        given = "given" if blocked is not None else "not given"
        raise ValueError(
            f"request {request.id}: blocked slots {given}, unlike when the request was prepared"
        )
    if only is not None:
        unknown = sorted(set(only) - {span.stage.id for span in prepared.spans})
        if unknown:
            raise ValueError(
                f"request {request.id}: only names stage(s) {', '.join(map(repr, unknown))}, "
                "which the request's pathway does not have"
            )
    per_day = prepared.per_day
    fac_preferred = prepared.preferred
    stages: list[StageCandidates] = []
    gave_up = False
    for span in prepared.spans:
        stage, merge, base, lo, hi = span.stage, span.merge, span.base, span.lo, span.hi
        excluded = dict(span.excluded)
        if gave_up or (only is not None and stage.id not in only):
            why = _AFTER_EMPTY if gave_up else _NOT_ASKED
            stages.append(_not_gathered(stage, hi - lo, excluded, why))
            continue
        pinned = span.pinned
        per_slot = pinned is not None or blocked is not None
        keep = _Narrowing(hi - lo, excluded)
        if pinned is None and blocked is not None:
            keep.by(~blocked[base.pos[lo:hi]], "already taken")
        for rule, reason in span.rules:
            keep.by(rule, reason)
        chosen: npt.NDArray[np.int64] | slice = slice(lo, hi)
        if keep.mask is not None or (merge and per_slot):
            # Twins are merged after the per-slot filters, also when those removed nothing.
            rows = np.flatnonzero(keep.mask) if keep.mask is not None else np.arange(hi - lo)
            chosen = lo + rows
            if merge and per_slot and len(chosen) > 1:
                same = (
                    (base.start[chosen[1:]] == base.start[chosen[:-1]])
                    & (base.end[chosen[1:]] == base.end[chosen[:-1]])
                    & (base.facility[chosen[1:]] == base.facility[chosen[:-1]])
                )
                twins = int(np.count_nonzero(same))
                if twins:
                    excluded[TWINS] = excluded.get(TWINS, 0) + twins
                    chosen = chosen[np.r_[True, ~same]]
        if per_day > 0 and pinned is None:
            chosen = _thinned(base, chosen, prepared.ranks, per_day, excluded)
        if stop_at_empty and (hi <= lo if isinstance(chosen, slice) else len(chosen) == 0):
            gave_up = True
        start_at, end_at, _, facility_at = arrays = (
            base.start[chosen],
            base.end[chosen],
            base.day[chosen],
            base.facility[chosen],
        )
        slot, start, end, day, facs = base.picked(chosen)
        if base.uniform >= 0:
            shortest = longest = base.uniform if len(slot) else 0
        else:
            durations = end_at - start_at
            shortest = int(durations.min()) if len(slot) else 0
            longest = int(durations.max()) if len(slot) else 0
        stages.append(
            StageCandidates(
                stage_id=stage.id,
                in_person=stage.mode is VisitMode.IN_PERSON,
                shares_day=stage.shares_day,
                slot=slot,
                start=start,
                end=end,
                day=day,
                facility=facs,
                preferred=(
                    fac_preferred[facility_at].tolist()
                    if fac_preferred is not None
                    else [False] * len(slot)
                ),
                excluded_by={k: v for k, v in excluded.items() if v},
                min_duration=shortest,
                max_duration=longest,
                arrays=arrays,
                facility_rows=(base.by_facility, lo) if isinstance(chosen, slice) else None,
            )
        )
    index = prepared.index
    metric = prepared.travel_is_metric
    if not metric and index.travel_is_metric and prepared.home_array is not None:
        # The legs from home break the triangle inequality somewhere (a far facility of another
        # region, say); only the facilities this request's visits can use matter.
        sites = sorted({f for st in stages if st.in_person for f in st.sites()})
        metric = home_is_metric_on(prepared.home_array, index, sites)
    return CompiledRequest(
        request=request,
        pathway=prepared.pathway,
        index=index,
        axis=prepared.axis,
        referral_minute=prepared.referral_minute,
        horizon_minute=prepared.horizon_minute,
        stages=stages,
        links=prepared.links,
        home_minutes=prepared.home_minutes,
        max_visits_per_day=request.patient.max_visits_per_day,
        travel_is_metric=metric,
        problems=list(prepared.problems),
        precedes=prepared.precedes,
    )


def _not_gathered(stage: Stage, rows: int, excluded: dict[str, int], why: str) -> StageCandidates:
    """A stage left without candidates (``rows``: its range's rows, counted under ``why``; see
    :func:`compile_request`'s ``stop_at_empty`` and ``only``)."""
    counts = {k: v for k, v in excluded.items() if v}
    if rows > 0:
        counts[why] = rows
    return StageCandidates(
        stage_id=stage.id,
        in_person=stage.mode is VisitMode.IN_PERSON,
        shares_day=stage.shares_day,
        slot=[],
        start=[],
        end=[],
        day=[],
        facility=[],
        preferred=[],
        excluded_by=counts,
    )


def _thinned(
    base: StageBase,
    chosen: npt.NDArray[np.int64] | slice,
    ranks: RankArray | None,
    per_day: int,
    excluded: dict[str, int],
) -> npt.NDArray[np.int64] | slice:
    """``chosen`` rows of ``base`` thinned to ``per_day`` a day, the rest counted as excluded
    (``ranks``: the facilities' by distance from home,
    :func:`~routing.solve.thinning.facility_ranks`)."""
    facility = base.facility[chosen]  # a range is read as a view, not copied
    if len(facility) <= per_day:
        return chosen
    kept = nearest_per_day(facility, base.start[chosen], base.day[chosen], ranks, per_day)
    if len(kept) < len(facility):
        excluded[THINNED] = excluded.get(THINNED, 0) + len(facility) - len(kept)
    return kept + chosen.start if isinstance(chosen, slice) else chosen[kept]


class _Narrowing:
    """A running mask over a stage's slots in the horizon, counting what each rule removes."""

    def __init__(self, size: int, excluded: dict[str, int]) -> None:
        self.size = size
        self.mask: npt.NDArray[np.bool_] | None = None
        self.excluded = excluded

    def by(self, rule: npt.NDArray[np.bool_], reason: str) -> None:
        """Keep only the slots that also pass ``rule``; count the others under ``reason``.

        A rule that removes nothing leaves the mask as it was (``None`` while every slot
        passes), so that the candidates stay a range of the stage's base.
        """
        if self.mask is None:
            removed = int(self.size - np.count_nonzero(rule))
            kept = rule
        else:
            kept = self.mask & rule
            removed = int(np.count_nonzero(self.mask) - np.count_nonzero(kept))
        if removed:
            self.excluded[reason] = self.excluded.get(reason, 0) + removed
            self.mask = kept


_AFTER_EMPTY: Final = "not gathered: an earlier stage has no candidate"
_NOT_ASKED: Final = "not gathered: not asked for"
