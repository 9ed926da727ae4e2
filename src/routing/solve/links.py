"""A pathway's rules between stages as lag links, for the solvers.

Every ``after``, constraint and hard deadline of a pathway becomes a :class:`Link` (``min <= Y -
X <= max`` between two stage events, or the referral); the same-day rules add the links they
imply along the stage order (:func:`pathway_links`), and the precedence table says which stage
starts no earlier than which. Built once per pathway, the hard deadlines in force and the
patient's visits a day, and kept on the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from graphlib import CycleError, TopologicalSorter
from typing import Final

from nosology.pathway import EventPoint, LagUnit, Pathway, VisitMode, parse_event
from routing.slot_index import SlotIndex
from routing.solve.indexcache import cached_on_index

__all__ = [
    "LINKS_CACHED",
    "PREPARED_VISITS",
    "REFERRAL_STAGE",
    "Link",
    "compile_links",
    "pathway_links",
    "prepare_pathway_links",
]


REFERRAL_STAGE: Final = -1
"""The stage index that stands for the referral event in a :class:`Link`."""


@dataclass(frozen=True, slots=True)
class Link:
    """``min <= Y - X <= max`` in ``unit`` from event ``X`` to event ``Y``.

    An event is ``(stage index, point)`` with point 0 = start, 1 = end; stage
    :data:`REFERRAL_STAGE` is the referral. ``origin`` says which rule of the pathway made it.
    """

    x_stage: int
    x_point: int
    y_stage: int
    y_point: int
    unit: LagUnit
    min: int | None
    max: int | None
    origin: str


def _event(pathway: Pathway, positions: dict[str, int], event: str) -> tuple[int, int]:
    stage, point = parse_event(event)
    if stage is None:
        return REFERRAL_STAGE, 0
    return positions[stage], 0 if point is EventPoint.START else 1


def compile_links(
    pathway: Pathway, referral_date: date | None = None, region: str = "RU"
) -> tuple[list[Link], list[str]]:
    """The lag links of a pathway, and the rules this solver cannot take (with why).

    Hard deadlines become maximum lags when they apply to a referral on ``referral_date`` in
    ``region`` (all of them when no date is given).
    """
    positions = {s.id: i for i, s in enumerate(pathway.stages)}
    links: list[Link] = []
    problems: list[str] = []
    for i, stage in enumerate(pathway.stages):
        for before in stage.after:
            links.append(
                Link(
                    positions[before],
                    1,
                    i,
                    0,
                    LagUnit.MINUTES,
                    0,
                    None,
                    f"{stage.id} after {before}",
                )
            )
    for n, c in enumerate(pathway.constraints):
        xs, xp = _event(pathway, positions, c.from_event)
        ys, yp = _event(pathway, positions, c.to_event)
        origin = f"constraint {c.from_event} -> {c.to_event}"
        if c.unit is LagUnit.WORKING_DAYS and ((c.min or 0) < 0 or (c.max or 0) < 0):
            problems.append(
                f"constraint {n} ({origin}): negative working-day lags are not supported"
            )
            continue
        links.append(Link(xs, xp, ys, yp, c.unit, c.min, c.max, origin))
    for d in pathway.deadlines:
        if d.hard and (referral_date is None or d.applies_on(referral_date, region)):
            xs, xp = _event(pathway, positions, d.from_event)
            ys, yp = _event(pathway, positions, d.to_event)
            links.append(Link(xs, xp, ys, yp, d.unit, None, d.limit, f"hard deadline {d.id}"))
    return links, problems


_Links = tuple[Pathway, tuple[Link, ...], tuple[str, ...], tuple[tuple[bool, ...], ...]]


LINKS_CACHED = 10_000
"""Pathway link sets an index keeps (per pathway, hard deadlines in force and visits a day)."""


def pathway_links(
    index: SlotIndex, pathway: Pathway, referral_date: date, region: str, max_visits: int
) -> tuple[list[Link], list[str], list[list[bool]]]:
    """The links of ``pathway`` (its own and those the same-day rules imply), the rules the
    solver cannot take, and the precedence table; cached on the index (fresh lists each time)."""

    def make() -> _Links:
        links, problems = compile_links(pathway, referral_date, region)
        successors = _successors(links, len(pathway.stages))
        links.extend(_separate_days(pathway, successors, max_visits))
        precedes = _precedence(successors, len(pathway.stages))
        # The pathway is kept so that its id cannot be reused while the entry lives.
        return (pathway, tuple(links), tuple(problems), tuple(map(tuple, precedes)))

    # The date and region matter only through the hard deadlines in force: one entry for all
    # the referrals under the same ones.
    in_force = tuple(d.hard and d.applies_on(referral_date, region) for d in pathway.deadlines)
    key = (id(pathway), in_force, max_visits)
    cached = cached_on_index(index, "links", key, LINKS_CACHED, make, lambda v: v[0] is pathway)
    _, links_t, problems_t, precedes_t = cached
    return list(links_t), list(problems_t), [list(row) for row in precedes_t]


PREPARED_VISITS: Final = (1, 2, 3)
"""Visits a day for which :func:`prepare_pathway_links` builds a pathway's links (2 is the
default; other values are built on first use)."""


def prepare_pathway_links(index: SlotIndex, pathway: Pathway, day: date, region: str) -> None:
    """Build on ``index`` the links :func:`~routing.solve.compiled.compile_request` reads for
    referrals to ``pathway`` under the hard deadlines in force on ``day`` in ``region``, for each
    of :data:`PREPARED_VISITS` visits a day, so that the first requests do not pay for them."""
    for visits in PREPARED_VISITS:
        pathway_links(index, pathway, day, region, visits)


def _successors(links: list[Link], n: int) -> dict[int, set[int]]:
    """Per stage, the stages whose start a link puts no earlier than one of its events (``after``
    and non-negative minimum lags)."""
    successors: dict[int, set[int]] = {i: set() for i in range(n)}
    for link in links:
        if (
            link.x_stage != REFERRAL_STAGE
            and link.y_stage != REFERRAL_STAGE
            and link.y_point == 0
            and link.min is not None
            and link.min >= 0
            and link.x_stage != link.y_stage
        ):
            successors[link.x_stage].add(link.y_stage)
    return successors


def _precedence(successors: dict[int, set[int]], n: int) -> list[list[bool]]:
    """``precedes[i][j]``: stage ``j`` starts no earlier than stage ``i`` (transitively)."""
    precedes = [[j in successors[i] for j in range(n)] for i in range(n)]
    for m in range(n):
        for i in range(n):
            if precedes[i][m]:
                row_m, row_i = precedes[m], precedes[i]
                for j in range(n):
                    if row_m[j]:
                        row_i[j] = True
    return precedes


def _separate_days(
    pathway: Pathway, successors: dict[int, set[int]], max_visits: int
) -> list[Link]:
    """Links implied by the same-day rules along the stage order (they cut no route).

    When in-person stage ``b`` starts after in-person stage ``a`` (through a chain of ``after``
    and non-negative minimum lags to ``b``'s start, see :func:`_successors`), every in-person
    stage on the chain starts between them. So ``b`` starts at least one calendar day after ``a``
    when the two may not share a day (one of them does not share days), and at least
    ``ceil(n / V) - 1`` days after it when the chain holds ``n`` in-person stages and the patient
    comes at most ``V`` times a day.
    """
    n = len(pathway.stages)
    stages = pathway.stages
    in_person = [s.mode is VisitMode.IN_PERSON for s in stages]
    try:
        order = list(TopologicalSorter({i: successors[i] for i in range(n)}).static_order())
    except CycleError:
        return []  # stages tied at one instant: nothing to add
    # visits[a][c]: the most in-person stages on a chain from a to c, both included (-1: none).
    visits = [[-1] * n for _ in range(n)]
    for a in order:  # each stage after all its successors
        own = 1 if in_person[a] else 0
        visits[a][a] = own
        for b in successors[a]:
            for c in range(n):
                if visits[b][c] >= 0:
                    visits[a][c] = max(visits[a][c], own + visits[b][c])
    implied = []
    for a in range(n):
        for b in range(n):
            if a == b or visits[a][b] < 0 or not (in_person[a] and in_person[b]):
                continue
            sa, sb = stages[a], stages[b]
            gap = -(-visits[a][b] // max_visits) - 1
            if not (sa.shares_day and sb.shares_day):
                gap = max(gap, 1)
            if gap <= 0:
                continue
            origin = f"{sb.id} on a later day than {sa.id} (same-day rules)"
            implied.append(Link(a, 0, b, 0, LagUnit.CALENDAR_DAYS, gap, None, origin))
    return implied
