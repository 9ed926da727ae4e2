"""Tests of nosology.temporal: compiling a pathway into a temporal network and checking it."""

from __future__ import annotations

import math
from datetime import date, timedelta
from functools import cache

import holidays
import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nosology.exceptions import InconsistentPathwayError
from nosology.pathway import (
    REFERRAL,
    Applicability,
    Deadline,
    LagUnit,
    LocalizedText,
    Pathway,
    ServiceRef,
    Stage,
    TemporalConstraint,
    Window,
)
from nosology.temporal import (
    DAYS_OFF_ALLOWANCE,
    TemporalGraph,
    compile_pathway,
    working_day_span_bound,
)

TEXT = LocalizedText(ru="этап", en="stage")
MINUTES, HOURS = LagUnit.MINUTES, LagUnit.HOURS
CD, WD = LagUnit.CALENDAR_DAYS, LagUnit.WORKING_DAYS


def stage(stage_id: str, minutes: int = 30, after: tuple[str, ...] = ()) -> Stage:
    return Stage(
        id=stage_id,
        title=TEXT,
        services=(ServiceRef(system="nmu", code="A01"),),
        duration_minutes=minutes,
        after=after,
    )


def lag(
    x: str, y: str, low: int | None = None, high: int | None = None, unit: LagUnit = MINUTES
) -> TemporalConstraint:
    return TemporalConstraint(from_event=x, to_event=y, min=low, max=high, unit=unit, source="test")


def pathway(
    stages: tuple[Stage, ...],
    constraints: tuple[TemporalConstraint, ...] = (),
    windows: tuple[Window, ...] = (),
    deadlines: tuple[Deadline, ...] = (),
) -> Pathway:
    return Pathway(
        id="test_pathway",
        title=TEXT,
        applicability=Applicability(codes=("C34",)),
        stages=stages,
        constraints=constraints,
        windows=windows,
        deadlines=deadlines,
    )


def inconsistency(p: Pathway) -> InconsistentPathwayError:
    graph = compile_pathway(p)
    assert not graph.is_consistent()
    with pytest.raises(InconsistentPathwayError) as info:
        graph.check_consistency()
    return info.value


# --- hand-built pathways -------------------------------------------------------------------------

CHAIN = pathway(
    (
        stage("consult", 30),
        stage("ct", 20, after=("consult",)),
        stage("biopsy", 45, after=("ct",)),
        stage("histology", 30, after=("biopsy",)),
    ),
    (
        lag(REFERRAL, "consult.start", high=3, unit=WD),
        lag("consult.end", "ct.start", low=2, unit=HOURS),
        lag("ct.end", "biopsy.start", low=1, unit=CD),
        lag("biopsy.end", "histology.start", low=5, unit=WD),
    ),
)
CHAIN_EVENTS = (
    "referral",
    "consult.start",
    "consult.end",
    "ct.start",
    "ct.end",
    "biopsy.start",
    "biopsy.end",
    "histology.start",
    "histology.end",
)


def test_chain_single_unit_offsets_by_hand() -> None:
    """Each unit's offsets come from its own rules plus the durations and `after`."""
    offsets = compile_pathway(CHAIN).earliest_offsets()
    minutes = [0, 0, 30, 150, 170, 170, 215, 215, 245]  # 30 + 2 h + 20, then 45 and 30
    days = [0, 0, 0, 0, 0, 1, 1, 1, 1]  # the biopsy a calendar day after the CT
    working = [0, 0, 0, 0, 0, 0, 0, 5, 5]  # histology 5 working days after the biopsy
    assert [offsets[e][MINUTES] for e in CHAIN_EVENTS] == minutes
    assert [offsets[e][CD] for e in CHAIN_EVENTS] == days
    assert [offsets[e][WD] for e in CHAIN_EVENTS] == working


def test_chain_combined_offsets_by_hand() -> None:
    """Combined offsets relax the other units' rules in: 5 wd >= 5 cd >= 4 x 22 h of minutes."""
    graph = compile_pathway(CHAIN)
    offsets = graph.earliest_offsets(combined=True)
    assert offsets["histology.start"] == {MINUTES: 215 + 4 * 1320, CD: 1 + 5, WD: 5}
    assert graph.completion_offset() == {MINUTES: 245 + 4 * 1320, CD: 6, WD: 5}
    assert graph.completion_offset(combined=False) == {MINUTES: 245, CD: 1, WD: 5}


def test_chain_critical_path() -> None:
    """The critical path in minutes runs through every stage of the chain, in time order."""
    graph = compile_pathway(CHAIN)
    assert graph.critical_path(MINUTES) == CHAIN_EVENTS
    assert graph.critical_path(MINUTES, combined=False) == CHAIN_EVENTS
    assert graph.critical_path(WD)[-2:] == ("histology.start", "histology.end")
    assert "biopsy.end" in graph.critical_path(WD)


def test_edges_carry_rules_and_units() -> None:
    """Edges keep their rule's unit (hours become minutes) and name the rule that made them."""
    graph = compile_pathway(CHAIN)
    by_origin = {e.origin: e for e in graph.edges()}
    hours = by_origin["constraint 1 (min)"]
    assert (hours.source, hours.target, hours.weight, hours.unit) == (
        "ct.start",
        "consult.end",
        -120,
        MINUTES,
    )
    assert by_origin["constraint 0 (max)"].weight == 3
    assert by_origin["ct after consult"].target == "consult.end"
    assert by_origin["ct after referral"].weight == 0
    assert {e.weight for e in graph.edges() if e.origin == "stage biopsy duration"} == {45, -45}
    assert [e.origin for e in graph.edges(CD)] == ["constraint 2 (min)"]
    assert {e.origin for e in graph.edges(WD)} == {"constraint 0 (max)", "constraint 3 (min)"}
    assert len(graph.edges()) == sum(len(graph.edges(u)) for u in (MINUTES, CD, WD))
    with pytest.raises(ValueError, match="hours"):
        graph.edges(HOURS)


def test_graph_is_a_frozen_copy_and_wrapper_immutable() -> None:
    """The exposed networkx graph cannot be changed, nor can the wrapper's attributes."""
    graph = compile_pathway(CHAIN)
    exposed = graph.graph
    assert exposed.graph["pathway_id"] == "test_pathway"
    assert exposed.number_of_edges() == len(graph.edges())
    assert exposed.nodes["ct.start"]["stage"] == "ct"
    with pytest.raises(nx.NetworkXError):
        exposed.add_edge("ct.start", "referral", weight=-1)
    with pytest.raises(AttributeError):
        graph._pathway_id = "other"
    assert graph.pathway_id == "test_pathway"


def test_working_day_contradiction_names_stages() -> None:
    """Min 5 and max 3 working days between the same events is a negative cycle."""
    error = inconsistency(
        pathway(
            (stage("biopsy"), stage("histology", after=("biopsy",))),
            (
                lag("biopsy.end", "histology.start", low=5, unit=WD),
                lag("biopsy.end", "histology.start", high=3, unit=WD),
            ),
        )
    )
    assert error.pathway_id == "test_pathway"
    assert error.stages == ["biopsy", "histology"]
    assert "constraint 0 (min)" in error.detail
    assert "constraint 1 (max)" in error.detail
    assert "working days" in error.detail


def test_cycle_through_three_stages_in_cycle_order() -> None:
    """Each stage an hour after the previous, and the first an hour after the last: reported."""
    error = inconsistency(
        pathway(
            (stage("a"), stage("b"), stage("c")),
            (
                lag("a.start", "b.start", low=1, unit=HOURS),
                lag("b.start", "c.start", low=1, unit=HOURS),
                lag("c.start", "a.start", low=1, unit=HOURS),
            ),
        )
    )
    assert error.stages == ["a", "b", "c"]
    assert "a.start -> b.start -> c.start -> a.start" in error.detail
    assert "180 minutes" in error.detail
    assert all(f"constraint {n} (min)" in error.detail for n in range(3))


def test_cycle_with_duration_names_stage_once() -> None:
    """A stage whose start and end both lie on the cycle is named once."""
    error = inconsistency(
        pathway(
            (stage("a", 60), stage("b")),
            (lag("a.end", "b.start", low=0), lag("a.start", "b.start", high=30)),
        )
    )
    assert error.stages == ["a", "b"]
    assert "stage a duration" in error.detail


def test_cross_unit_contradiction_detected() -> None:
    """Min 3 calendar days against max 24 hours between the same events is found by relaxation."""
    p = pathway(
        (stage("a"), stage("b")),
        (lag("a.start", "b.start", low=3, unit=CD), lag("a.start", "b.start", high=24, unit=HOURS)),
    )
    error = inconsistency(p)
    assert error.stages == ["a", "b"]
    assert "relaxed" in error.detail
    assert "constraint 0 (min)" in error.detail
    assert "constraint 1 (max)" in error.detail


def test_cross_unit_working_and_calendar_days() -> None:
    """Min 10 working days against max 9 calendar days is found in the calendar-day relaxation."""
    error = inconsistency(
        pathway(
            (stage("a"), stage("b")),
            (lag("a.end", "b.start", low=10, unit=WD), lag("a.end", "b.start", high=9, unit=CD)),
        )
    )
    assert "relaxed into calendar days" in error.detail


def test_near_miss_is_consistent() -> None:
    """Min 1 calendar day with max 24 hours is satisfiable (noon to noon), so not flagged."""
    graph = compile_pathway(
        pathway(
            (stage("a"), stage("b")),
            (
                lag("a.start", "b.start", low=1, unit=CD),
                lag("a.start", "b.start", high=24, unit=HOURS),
            ),
        )
    )
    graph.check_consistency()
    assert graph.is_consistent()
    assert graph.earliest_offsets()["b.start"][CD] == 1


def test_long_stage_counts_in_calendar_days() -> None:
    """A stage of 3 days (4320 min) ends at least one local date later, even with 26-hour days."""
    offsets = compile_pathway(pathway((stage("stay", 4320),))).earliest_offsets()
    assert offsets["stay.end"] == {MINUTES: 4320, CD: 2, WD: 0}


def test_negative_working_day_max_allows_event_on_day_off() -> None:
    """`b` on the working day before `a` lets `a` fall on Saturday with W(a) = W(b): no offset."""
    # Timing: referral and b on Friday 2026-01-16, a on Saturday 2026-01-17; wd(Sat, -1) = Fri.
    graph = compile_pathway(
        pathway((stage("a"), stage("b")), (lag("a.start", "b.start", low=-1, high=-1, unit=WD),))
    )
    graph.check_consistency()
    offsets = graph.earliest_offsets()
    assert offsets["a.start"][WD] == 0  # W(Sat) - W(Fri) = 0 in the timing above
    assert offsets["a.start"][CD] == 0


def test_after_cycle_rejected_by_model() -> None:
    """A cycle of `after` never reaches the compiler: the Pathway model refuses it."""
    with pytest.raises(ValidationError, match="cycle"):
        pathway((stage("a", after=("b",)), stage("b", after=("a",))))


def test_windows_on_one_reference_checked_together() -> None:
    """Two windows on the same reference date contradict a short lag between their events."""
    windows = (
        Window(event="first.start", reference="lmp", min_days=77, max_days=97, source="test"),
        Window(event="second.start", reference="lmp", min_days=133, max_days=153, source="test"),
    )
    stages = (stage("first"), stage("second"))
    bad = pathway(stages, (lag("first.start", "second.start", high=30, unit=CD),), windows)
    good = pathway(stages, (lag("first.start", "second.start", high=60, unit=CD),), windows)
    error = inconsistency(bad)
    assert error.stages == ["first", "second"]
    assert "window 0 (max)" in error.detail
    assert "window 1 (min)" in error.detail
    graph = compile_pathway(good)
    assert graph.is_consistent()
    assert graph.graph.nodes["second.start"]["windows"] == (windows[1],)
    assert all("@" not in e.source + e.target for e in graph.edges())
    assert "@lmp" not in graph.critical_path(CD)


def test_hard_deadline_is_a_rule_and_soft_is_not() -> None:
    """A hard deadline shorter than a minimum lag is a contradiction; a soft one is not."""

    def deadline(hard: bool) -> Deadline:
        return Deadline(
            id="treatment",
            title=TEXT,
            from_event=REFERRAL,
            to_event="b.start",
            limit=3,
            unit=WD,
            hard=hard,
            source="test",
        )

    stages = (stage("a"), stage("b", after=("a",)))
    constraints = (lag("a.end", "b.start", low=5, unit=WD),)
    assert compile_pathway(
        pathway(stages, constraints, deadlines=(deadline(False),))
    ).is_consistent()
    error = inconsistency(pathway(stages, constraints, deadlines=(deadline(True),)))
    assert "deadline treatment (hard)" in error.detail


def test_offsets_of_inconsistent_pathway_raise() -> None:
    """Offsets and paths of a contradictory pathway raise rather than return nonsense."""
    graph = compile_pathway(
        pathway(
            (stage("a"), stage("b")),
            (
                lag("a.start", "b.start", low=10, high=10, unit=CD),
                lag("b.start", "a.start", low=0, unit=CD),
            ),
        )
    )
    for call in (graph.earliest_offsets, graph.completion_offset):
        with pytest.raises(InconsistentPathwayError):
            call()
    with pytest.raises(InconsistentPathwayError):
        graph.critical_path(CD)


# --- the working-day bound against the production calendar ----------------------------------------


@cache
def _calendar() -> tuple[date, np.ndarray]:
    """Working-day flags of Russia over the years the `holidays` package knows transfers for."""
    first, last = date(1991, 1, 1), date(2027, 12, 31)
    ru = holidays.country_holidays("RU", years=range(first.year, last.year + 1))
    days = (last - first).days + 1
    flags = np.array([ru.is_working_day(first + timedelta(i)) for i in range(days)], dtype=np.int64)
    return first, flags


def test_working_day_span_bound_holds_on_russian_calendar() -> None:
    """Every window of 2n + 14 consecutive days in 1991-2027 holds at least n working days."""
    _, flags = _calendar()
    counts = np.concatenate(([0], np.cumsum(flags)))
    for n in range(1, 400):
        span = working_day_span_bound(n)
        in_window = counts[span:] - counts[:-span]
        assert in_window.min() >= n, n
    runs = np.diff(np.flatnonzero(np.concatenate(([1], flags, [1])))) - 1
    assert 10 <= runs.max() <= DAYS_OFF_ALLOWANCE  # the New Year break, within the allowance
    assert working_day_span_bound(0) == 0


# --- property tests ------------------------------------------------------------------------------


@st.composite
def minute_networks(draw: st.DrawFn) -> Pathway:
    """Small pathways whose rules are all in minutes or hours."""
    count = draw(st.integers(1, 3))
    stages = []
    for i in range(count):
        after = tuple(f"s{j}" for j in range(i) if draw(st.booleans()))
        stages.append(stage(f"s{i}", draw(st.integers(1, 40)), after))
    events = [REFERRAL] + [f"s{i}.{p}" for i in range(count) for p in ("start", "end")]
    constraints = []
    for _ in range(draw(st.integers(0, 4))):
        x, y = draw(st.sampled_from(events)), draw(st.sampled_from(events))
        if x == y:
            continue
        low = draw(st.none() | st.integers(-60, 60))
        high = draw(st.none() | st.integers(-60, 60))
        if (low is None and high is None) or (low is not None and high is not None and low > high):
            continue
        constraints.append(lag(x, y, low, high, draw(st.sampled_from((MINUTES, HOURS)))))
    return pathway(tuple(stages), tuple(constraints))


def _floyd_warshall(p: Pathway) -> dict[str, dict[str, float]] | None:
    """Shortest distances of the pathway's STN from first principles; None on a negative cycle."""
    nodes = list(p.events())
    dist = {u: {v: 0.0 if u == v else math.inf for v in nodes} for u in nodes}

    def bound(u: str, v: str, w: int) -> None:  # v - u <= w
        dist[u][v] = min(dist[u][v], w)

    for s in p.stages:
        bound(f"{s.id}.start", f"{s.id}.end", s.duration_minutes)
        bound(f"{s.id}.end", f"{s.id}.start", -s.duration_minutes)
        bound(f"{s.id}.start", REFERRAL, 0)
        for before in s.after:
            bound(f"{s.id}.start", f"{before}.end", 0)
    for c in p.constraints:
        scale = 60 if c.unit is HOURS else 1
        if c.min is not None:
            bound(c.to_event, c.from_event, -c.min * scale)
        if c.max is not None:
            bound(c.from_event, c.to_event, c.max * scale)
    for k in nodes:
        for i in nodes:
            for j in nodes:
                dist[i][j] = min(dist[i][j], dist[i][k] + dist[k][j])
    if any(dist[v][v] < 0 for v in nodes):
        return None
    return dist


@settings(max_examples=150, deadline=None)
@given(minute_networks())
def test_minute_networks_agree_with_floyd_warshall(p: Pathway) -> None:
    """In one unit the check is exact, and the earliest offsets are the STN's earliest solution."""
    graph = compile_pathway(p)
    dist = _floyd_warshall(p)
    assert graph.is_consistent() == (dist is not None)
    if dist is None:
        with pytest.raises(InconsistentPathwayError) as info:
            graph.check_consistency()
        assert info.value.stages
        return
    offsets = graph.earliest_offsets()
    times = {v: offsets[v][MINUTES] for v in p.events()}
    assert times == {v: -dist[v][REFERRAL] for v in p.events()}
    for c in p.constraints:  # the earliest times form a valid timing
        scale = 60 if c.unit is HOURS else 1
        gap = times[c.to_event] - times[c.from_event]
        assert c.min is None or gap >= c.min * scale
        assert c.max is None or gap <= c.max * scale
    for s in p.stages:
        assert times[f"{s.id}.end"] - times[f"{s.id}.start"] == s.duration_minutes
        assert times[f"{s.id}.start"] >= 0


BASE = date(2025, 12, 20)  # spans the 12-day New Year break of 2026
HORIZON = 160  # days covered by the test calendar from BASE


@cache
def _working_index() -> tuple[np.ndarray, list[int]]:
    """W(d) for days from BASE - 120 (index 0 is BASE - 120) and the working day indices."""
    ru = holidays.country_holidays("RU", years=range(2025, 2027))
    days = [BASE + timedelta(i - 120) for i in range(HORIZON + 240)]
    flags = np.array([ru.is_working_day(d) for d in days], dtype=np.int64)
    return np.cumsum(flags), [i for i, f in enumerate(flags) if f]


def _wd(day: int, n: int) -> int:
    """wd(day, n) on day numbers relative to BASE."""
    _, working = _working_index()
    i = day + 120
    if n == 0:
        return day
    if n > 0:
        return [w for w in working if w > i][n - 1] - 120
    return [w for w in working if w < i][n] - 120


def _w(day: int) -> int:
    return int(_working_index()[0][day + 120])


@st.composite
def scheduled_pathways(draw: st.DrawFn) -> tuple[Pathway, dict[str, int]]:
    """A timing in minutes from BASE 00:00 (Moscow, 1440-minute days) and rules it satisfies."""
    referral = draw(st.integers(0, 5 * 1440))
    times = {REFERRAL: referral}
    stages: list[Stage] = []
    for i in range(draw(st.integers(1, 3))):
        start = referral + draw(st.integers(0, 25 * 1440))
        duration = draw(st.integers(1, 3000))
        times[f"s{i}.start"], times[f"s{i}.end"] = start, start + duration
        after = tuple(
            f"s{j}" for j in range(i) if times[f"s{j}.end"] <= start and draw(st.booleans())
        )
        stages.append(stage(f"s{i}", duration, after))
    events = list(times)
    slack = st.none() | st.integers(0, 3)
    constraints = []
    for _ in range(draw(st.integers(0, 5))):
        x, y = draw(st.sampled_from(events)), draw(st.sampled_from(events))
        unit = draw(st.sampled_from((MINUTES, HOURS, CD, WD)))
        below, above = draw(slack), draw(slack)
        if x == y or (below is None and above is None):
            continue
        gap = times[y] - times[x]
        day_x, day_y = times[x] // 1440, times[y] // 1440
        if unit is MINUTES:
            low, high = gap, gap
        elif unit is HOURS:
            low, high = gap // 60, -(-gap // 60)
        elif unit is CD:
            low = high = day_y - day_x
        else:
            valid = [n for n in range(-40, 41) if _wd(day_x, n) <= day_y]
            low = max(valid)
            high = min(n for n in range(-40, 41) if _wd(day_x, n) >= day_y)
        constraints.append(
            lag(
                x,
                y,
                None if below is None else low - below,
                None if above is None else high + above,
                unit,
            )
        )
    windows = []
    if draw(st.booleans()):
        reference = draw(st.integers(-100, 0))
        for event in events[1:]:
            if draw(st.booleans()):
                offset = times[event] // 1440 - reference
                windows.append(
                    Window(
                        event=event,
                        reference="lmp",
                        min_days=offset - draw(st.integers(0, 3)),
                        max_days=offset + draw(st.integers(0, 3)),
                        source="test",
                    )
                )
    return pathway(tuple(stages), tuple(constraints), tuple(windows)), times


@settings(max_examples=150, deadline=None)
@given(scheduled_pathways())
def test_no_false_alarm_and_offsets_are_lower_bounds(case: tuple[Pathway, dict[str, int]]) -> None:
    """Rules a real timing satisfies are never flagged, and every offset bounds that timing."""
    p, times = case
    graph = compile_pathway(p)
    graph.check_consistency()
    day_ref = times[REFERRAL] // 1440
    actual = {
        event: {
            MINUTES: t - times[REFERRAL],
            CD: t // 1440 - day_ref,
            WD: _w(t // 1440) - _w(day_ref),
        }
        for event, t in times.items()
    }
    for combined in (False, True):
        offsets = graph.earliest_offsets(combined=combined)
        for event, by_unit in offsets.items():
            for unit, offset in by_unit.items():
                assert offset <= actual[event][unit], (event, unit, combined)
    single, best = graph.earliest_offsets(), graph.earliest_offsets(combined=True)
    assert all(best[e][u] >= single[e][u] for e in single for u in single[e])


# --- the built-in catalogue ----------------------------------------------------------------------


def test_builtin_pathways_compile_and_are_consistent() -> None:
    """Every pathway shipped with the library compiles to a consistent temporal network."""
    catalogue = pytest.importorskip("nosology.catalogue").Catalogue.builtin()
    assert len(catalogue) > 0
    for p in catalogue:
        graph = compile_pathway(p)
        assert isinstance(graph, TemporalGraph)
        graph.check_consistency()
        completion = graph.completion_offset()
        assert completion[MINUTES] >= sum(1 for _ in p.stages)  # every stage lasts a minute or more
        assert graph.critical_path(MINUTES)[0] == REFERRAL
