"""Deadline outcomes, per-stage waits and the critical chain of a found route.

Given the event times of a route, each deadline is measured in its own unit (see
:func:`measure`), each stage's wait is the time between the earliest moment its incoming lags
allowed and its booked start, and the critical chain follows, from the stage that ends last,
the lags that bound each stage back to the referral.
"""

from __future__ import annotations

from datetime import datetime
from math import ceil

from nosology.pathway import Deadline, LagUnit, parse_event
from routing.calendar import WorkingCalendar
from routing.result import DeadlineOutcome, StageWait
from routing.solve.compiled import CompiledRequest
from routing.solve.links import REFERRAL_STAGE

__all__ = ["deadline_outcomes", "measure", "waits_and_chain"]


def measure(calendar: WorkingCalendar, first: datetime, second: datetime, unit: LagUnit) -> int:
    """The time from ``first`` to ``second`` in ``unit``, such that a limit ``L`` is met iff
    the result is ``<= L``.

    Minutes and hours are rounded up; calendar days compare local dates; working days give the
    least ``n`` with ``wd(date(first), n) >= date(second)`` (0 when ``second`` is not later).
    """
    if unit is LagUnit.MINUTES:
        return ceil((second - first).total_seconds() / 60)
    if unit is LagUnit.HOURS:
        return ceil((second - first).total_seconds() / 3600)
    d1, d2 = calendar.local_date(first), calendar.local_date(second)
    if unit is LagUnit.CALENDAR_DAYS:
        return (d2 - d1).days
    if d2 <= d1:
        return 0
    count = calendar.working_days_between(d1, d2)
    return count if calendar.is_working_day(d2) else count + 1


def _event_time(
    event: str, referral: datetime, times: dict[str, tuple[datetime, datetime]]
) -> datetime:
    stage, point = parse_event(event)
    if stage is None:
        return referral
    start, end = times[stage]
    return start if point is not None and point.value == "start" else end


def deadline_outcomes(
    deadlines: tuple[Deadline, ...],
    calendar: WorkingCalendar,
    referral: datetime,
    times: dict[str, tuple[datetime, datetime]],
    waits: dict[str, int],
    chain_of: dict[str, list[str]],
) -> tuple[DeadlineOutcome, ...]:
    """Measure each deadline on a route; name the stage that caused each miss.

    The cause of a missed deadline is, on the chain of binding lags that leads to its later event,
    the stage that waited longest for a slot (its later event's own stage when none waited).
    """
    outcomes = []
    for d in deadlines:
        actual = measure(
            calendar,
            _event_time(d.from_event, referral, times),
            _event_time(d.to_event, referral, times),
            d.unit,
        )
        met = actual <= d.limit
        cause = None
        if not met:
            stage, _ = parse_event(d.to_event)
            if stage is not None:
                chain = chain_of.get(stage, [stage])
                cause = max(chain, key=lambda s: (waits.get(s, 0), s == stage))
        outcomes.append(
            DeadlineOutcome(
                deadline_id=d.id,
                title=d.title.en,
                limit=d.limit,
                unit=d.unit,
                actual=actual,
                slack=d.limit - actual,
                met=met,
                hard=d.hard,
                source=d.source,
                caused_by=cause,
            )
        )
    return tuple(outcomes)


def waits_and_chain(
    cr: CompiledRequest, choice: list[int]
) -> tuple[tuple[StageWait, ...], tuple[str, ...], dict[str, int], dict[str, list[str]]]:
    """Per-stage waits, the critical chain (referral first), and each stage's binding chain."""
    axis = cr.axis
    stages = cr.stages
    start = [st.start[c] for st, c in zip(stages, choice, strict=True)]
    end = [st.end[c] for st, c in zip(stages, choice, strict=True)]
    binding: list[int] = [REFERRAL_STAGE] * len(stages)
    earliest = [cr.referral_minute] * len(stages)
    for link in cr.links:
        if link.y_stage == REFERRAL_STAGE or link.min is None:
            continue
        if link.x_stage == REFERRAL_STAGE:
            x = cr.referral_minute
        else:
            x = start[link.x_stage] if link.x_point == 0 else end[link.x_stage]
        bound = axis.min_forward(x, link.min, link.unit)
        if link.y_point == 1:
            bound -= end[link.y_stage] - start[link.y_stage]
        if bound > earliest[link.y_stage]:
            earliest[link.y_stage] = bound
            binding[link.y_stage] = link.x_stage
    waits: dict[str, int] = {}
    chain_of: dict[str, list[str]] = {}
    for i, st in enumerate(stages):
        waits[st.stage_id] = max(0, start[i] - earliest[i])
        chain: list[str] = []
        j = i
        while j != REFERRAL_STAGE and stages[j].stage_id not in chain:
            chain.append(stages[j].stage_id)
            j = binding[j]
        chain_of[st.stage_id] = chain[::-1]
    last = max(range(len(stages)), key=lambda i: (end[i], -i))
    critical = tuple(chain_of[stages[last].stage_id])
    on_chain = set(critical)
    stage_waits = tuple(
        StageWait(
            stage_id=st.stage_id, wait_minutes=waits[st.stage_id], critical=st.stage_id in on_chain
        )
        for st in stages
    )
    return stage_waits, critical, waits, chain_of
