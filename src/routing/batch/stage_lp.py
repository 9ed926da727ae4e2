"""A lower bound on the cohort's completion minutes over all stages at once, by a day-indexed LP.

The completion flow (:mod:`routing.batch.completion_flow`) places one stage of each patient: a
patient whose consultation comes late pays nothing there unless that one stage's curve says so.
Here every stage of every patient is placed on a day, fractionally, at once:

* ``z[p, s, j]``: the share of patient ``p``'s stage ``s`` placed on its ``j``-th candidate
  day or before (non-decreasing in ``j``). Its last value is ``y[p]``, the share of ``p``
  routed, and ``Σ y[p]`` is the number of patients the plans route.
* **Places.** A stage may use the slots of its kind (services, facility level, mode) at the
  facilities its patient may use (allowed ones; for a visit in person, in its region unless it
  travels out of it).
  For each kind and day, and for each set ``F`` of facilities that some patient is restricted
  to, and for all the kind's facilities together, the stages of patients restricted to
  facilities of ``F`` placed that day take at most the free places of ``F``'s slots that day.
  (Kept bookings take their own reserved places and no shared one.)
* **Order.** A stage that must start at least a lag after another (``after``, or a temporal
  constraint's minimum) has no larger share placed by day ``t`` than the earlier stage has
  by the last day from which the lag can end by ``t``: the lag is counted on the calendar
  from the earlier day's first minute, in working days where it is in working days.
* **Completion.** ``c[p]`` is at least ``C_p · y[p]`` (the fastest completion with nobody
  competing) and, for each stage, at least the share-weighted least completion each day gives
  it: the earliest end of the stage's slots that day, plus the stage's tail
  (:func:`~routing.batch.completion_flow.stage_tails`), less the referral.

Any plan that routes ``k`` patients gives a 0/1 solution with ``Σ w_p c[p]`` at most its
weighted completion minutes, so the LP's least value bounds every such plan. It relaxes, which
keeps it a bound: slot times within a day, the horizon, unavailability, travel, visits a day
and maximum gaps are ignored, and places are counted by day and facility set, not by slot.

The LP is solved by HiGHS (``highspy``; interior point, one thread, no clock: the same input
gives the same bound), or, given a number of ``iterations``, by OR-Tools' first-order
primal-dual method (PDLP; one thread, at most that many iterations, no clock): interior point
needs 50 s for 1,000 patients and is out of reach at 10,000, while PDLP's multipliers give a
bound after any number of iterations, tighter the more it runs (figures in
``benchmarks/README_batch.md``). The bound reported is not the solver's objective but the
Lagrangian dual at the solver's row multipliers, recomputed here from the model (weak duality
holds for any multipliers of the right signs, and every column is boxed), less a margin for
floating point: an inaccurate or unfinished solve gives a weaker bound, never a wrong one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from nosology.pathway import LagUnit, Pathway, Stage, VisitMode, parse_event
from routing.batch.cohort import Cohort
from routing.batch.completion_flow import stage_tails, taking_part
from routing.result import RouteResult
from routing.solve.prepared import facility_rules
from routing.solve.timeaxis import TimeAxis, time_axis

__all__ = ["STAGED_MAX_VARIABLES", "StagedBound", "stage_lags", "staged_lp_bound"]

logger = logging.getLogger(__name__)

Kind = tuple[tuple[str, ...], int | None, VisitMode]
IntArray = npt.NDArray[np.int64]
_KindSlots = tuple[IntArray, IntArray, IntArray, IntArray]
_DayPlaces = tuple[dict[int, int], dict[int, int]]

STAGED_MAX_VARIABLES = 20_000
"""The largest LP :func:`~routing.batch.plan_batch` solves for its bound (a little under 200
patients of the generated region, about 2 s; measured in ``benchmarks/README_batch.md``)."""


@dataclass(frozen=True, slots=True)
class StagedBound:
    """The staged LP's answer.

    Attributes
    ----------
    patients
        Entries taking part (plannable, routable alone).
    routed
        The number of routed patients the bound is for.
    minutes
        The least (weighted) completion minutes of any plan that routes ``routed`` of them.
    lp_value
        The LP's optimum as the solver reported it (``minutes`` is the certified value, below
        it by the margin for floating point).
    variables, constraints
        The LP's size.
    iterations
        ``None`` when solved to its optimum by interior point; otherwise the iterations of
        the first-order method (then ``lp_value`` is the objective of its last iterate, which
        need not be feasible nor optimal; ``minutes`` is a bound all the same).
    """

    patients: int
    routed: int
    minutes: int
    lp_value: float
    variables: int
    constraints: int
    iterations: int | None = None


def stage_lags(pathway: Pathway) -> list[tuple[str, str, int, LagUnit, bool]]:
    """``(earlier, later, lag, unit, at_end)``: stage ``later``'s start (its end with
    ``at_end``) is at least ``lag`` ``unit`` after stage ``earlier``'s start or end.

    From ``after`` (0 minutes after the end, so after the start) and the minimum lags of
    temporal constraints between two stages' events. An event at the end of ``earlier`` is not
    before its start, so a lag counted from its start holds too.
    """
    lags: list[tuple[str, str, int, LagUnit, bool]] = []
    for stage in pathway.stages:
        for earlier in stage.after:
            if earlier != stage.id:
                lags.append((earlier, stage.id, 0, LagUnit.MINUTES, False))
    for c in pathway.constraints:
        first, _ = parse_event(c.from_event)
        then, then_point = parse_event(c.to_event)
        if first is None or then is None or first == then or c.min is None or c.min < 0:
            continue
        at_end = then_point is not None and then_point.value == "end"
        lags.append((first, then, c.min, c.unit, at_end))
    return lags


def staged_lp_bound(
    cohort: Cohort,
    alone: Sequence[RouteResult],
    routed: int,
    *,
    weighted: bool = True,
    max_variables: int | None = None,
    iterations: int | None = None,
) -> StagedBound | None:
    """The bound for plans that route ``routed`` of the patients taking part (see the module
    docstring), or ``None`` when the LP is larger than ``max_variables`` or has no optimum
    (no plan routes that many).

    Parameters
    ----------
    cohort
        The cohort.
    alone
        Each entry's fastest route with nobody competing
        (:func:`~routing.batch.bounds.no_competition_routes`).
    routed
        How many patients the plans route (capped at the patients taking part).
    weighted
        Weigh each patient's minutes by its priority weight (the batch objective); ``False``:
        every patient by 1, a bound on the plain sum (so on the mean days to completion).
    max_variables
        The largest LP solved to its optimum by interior point (``None``: any, unless
        ``iterations`` is given); a larger one is left unsolved (``None``) or, with
        ``iterations``, bounded by the first-order method. A size, not a clock, so the answer
        is the same on every run.
    iterations
        ``None``: interior point only. A number: an LP above ``max_variables`` (every LP when
        ``max_variables`` is ``None``) is bounded by at most that many iterations of the
        first-order method (fewer when it converges), by its last multipliers; a count, not a
        clock, so the answer is the same on every run. For a ``routed`` no plan reaches (an
        infeasible LP) it returns ``None`` only when it has detected that; otherwise a bound of
        any size, true all the same (no plan to bound).

    Raises
    ------
    ValueError
        If ``alone`` does not hold one route per cohort entry, or ``routed`` or
        ``max_variables`` is negative, or ``iterations`` is below 1.
    """
    if len(alone) != len(cohort):
        raise ValueError(f"alone: expected {len(cohort)} routes (one per entry), not {len(alone)}")
    if routed < 0:
        raise ValueError(f"routed: expected at least 0 patients, not {routed}")
    if max_variables is not None and max_variables < 0:
        raise ValueError(f"max_variables: expected at least 0, not {max_variables}")
    if iterations is not None and iterations < 1:
        raise ValueError(
            f"iterations: expected at least 1 (None: interior point), not {iterations}"
        )
    model = _Model(cohort)
    if max_variables is not None and iterations is None and model.exceeds(alone, max_variables):
        # Counted before building: at 10,000 patients the build alone takes about 13 s.
        logger.info("staged LP not solved: more than %d variables", max_variables)
        return None
    model.build(alone, routed, weighted)
    large = max_variables is None or len(model.cols.lower) > max_variables
    solved = _solve(_Arrays.of(model.cols, model.rows), iterations if large else None)
    if solved is None:
        logger.info("staged LP: no optimum (routing %d patients)", model.routed)
        return None
    value, certified, done = solved
    minutes = max(0, math.floor(certified - 1e-7 * abs(certified) - 1.0))
    logger.info(
        "staged LP: %d variables, %d constraints, value %.1f, certified %d minutes for %d%s",
        len(model.cols.lower),
        len(model.rows.lower),
        value,
        minutes,
        model.routed,
        "" if done is None else f" after {done} first-order iterations",
    )
    return StagedBound(
        patients=model.taking_part,
        routed=model.routed,
        minutes=minutes,
        lp_value=value,
        variables=len(model.cols.lower),
        constraints=len(model.rows.lower),
        iterations=done,
    )


@dataclass(slots=True)
class _Columns:
    """Column bounds and costs, grown as variables are made."""

    lower: list[float]
    upper: list[float]
    cost: list[float]

    def add(self, count: int, upper: float, cost: float = 0.0) -> int:
        first = len(self.lower)
        self.lower.extend([0.0] * count)
        self.upper.extend([upper] * count)
        self.cost.extend([cost] * count)
        return first


@dataclass(slots=True)
class _Rows:
    """Constraints ``lower <= Σ value · column <= upper`` gathered as coordinate lists."""

    lower: list[float]
    upper: list[float]
    row: list[int]
    col: list[int]
    value: list[float]

    def add(self, cols: Sequence[int], values: Sequence[float], lower: float, upper: float) -> None:
        r = len(self.lower)
        self.lower.append(lower)
        self.upper.append(upper)
        self.row.extend([r] * len(cols))
        self.col.extend(cols)
        self.value.extend(values)


class _Model:
    """The LP of one cohort, built patient by patient."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.index = cohort.index
        self.calendar = cohort.index.calendar
        self.axis: TimeAxis = time_axis(self.calendar)
        self.free: IntArray = cohort.capacity - cohort.reserved
        self.cols = _Columns([], [], [])
        self.rows = _Rows([], [], [], [], [])
        self.kinds: dict[Kind, _KindSlots] = {}
        self.places: dict[tuple[Kind, frozenset[int]], _DayPlaces] = {}
        self.allowed: dict[tuple[object, ...], frozenset[int]] = {}
        # (kind, facilities, day) → the columns placed that day, each with its sign:
        # z[j] - z[j - 1]
        self.usage: dict[tuple[Kind, frozenset[int], int], list[tuple[int, float]]] = {}
        self.tails: dict[str, dict[str, int]] = {}
        self.lags: dict[str, list[tuple[str, str, int, LagUnit, bool]]] = {}
        self.latest_end = int(self.index.end.max()) if len(self.index) else 0
        self.taking_part = 0
        self.routed = 0

    def build(self, alone: Sequence[RouteResult], routed: int, weighted: bool) -> None:
        """Every patient taking part, the places' rows, and ``Σ y = routed``."""
        y_cols = [
            self.patient(i, fastest, weighted) for i, fastest in taking_part(self.cohort, alone)
        ]
        self.taking_part = len(y_cols)
        self.place_rows()
        self.routed = max(0, min(routed, self.taking_part))
        self.rows.add(y_cols, [1.0] * len(y_cols), float(self.routed), float(self.routed))

    def exceeds(self, alone: Sequence[RouteResult], max_variables: int) -> bool:
        """Whether the LP :meth:`build` would make has more than ``max_variables`` columns,
        counted patient by patient (each stage's days, as :meth:`patient` adds them) and
        stopping as soon as the count passes it."""
        count = 0
        for i, _ in taking_part(self.cohort, alone):
            entry = self.cohort.entries[i]
            assert entry.pathway is not None
            first_day = self.calendar.day_of_minute(self.calendar.minute_of(entry.request.referral))
            count += 2  # y and c
            for stage in entry.pathway.stages:
                days = self.stage_days(i, stage, first_day)[0]
                if not days:
                    break
                count += len(days)
            if count > max_variables:
                return True
        return False

    def stage_days(
        self, i: int, stage: Stage, first_day: int
    ) -> tuple[list[int], list[int], Kind, frozenset[int] | None]:
        """Entry ``i``'s days for ``stage`` from ``first_day`` on, the earliest end each offers,
        the stage's kind, and the facilities whose places it takes (``None``: a kept booking,
        its own reserved place)."""
        entry = self.cohort.entries[i]
        kind: Kind = (
            tuple(sorted(str(s) for s in stage.services)),
            stage.facility_level,
            stage.mode,
        )
        fixed = entry.fixed.get(stage.id)
        if fixed is not None:
            return [int(self.index.day[fixed])], [int(self.index.end[fixed])], kind, None
        in_person = stage.mode is VisitMode.IN_PERSON
        facilities = self.allowed_facilities(i, in_person) & self.kind_facilities(kind)
        places, earliest = self.day_places(kind, facilities)
        days = sorted(d for d in places if d >= first_day)
        return days, [earliest[d] for d in days], kind, facilities

    def patient(self, i: int, fastest: int, weighted: bool) -> int:
        """Add entry ``i``'s columns and rows (``fastest``: its fastest completion alone);
        return its ``y`` column."""
        entry = self.cohort.entries[i]
        pathway = entry.pathway
        assert pathway is not None
        referral = self.calendar.minute_of(entry.request.referral)
        first_day = self.calendar.day_of_minute(referral)
        if pathway.id not in self.tails:
            self.tails[pathway.id] = stage_tails(pathway)
            self.lags[pathway.id] = stage_lags(pathway)
        y = self.cols.add(1, 1.0)
        weight = float(entry.weight if weighted else 1)
        c = self.cols.add(1, float(max(fastest, self.latest_end - referral, 0)), weight)
        self.rows.add([c, y], [1.0, -float(fastest)], 0.0, math.inf)  # c >= C_p y
        days_of: dict[str, list[int]] = {}
        z_of: dict[str, int] = {}
        for stage in pathway.stages:
            days, ends, kind, facilities = self.stage_days(i, stage, first_day)
            if not days:  # no place at all: the patient cannot be routed
                self.rows.add([y], [1.0], 0.0, 0.0)
                return y
            z = self.cols.add(len(days), 1.0)
            days_of[stage.id], z_of[stage.id] = days, z
            for j in range(len(days) - 1):  # z non-decreasing
                self.rows.add([z + j, z + j + 1], [1.0, -1.0], -math.inf, 0.0)
            self.rows.add([z + len(days) - 1, y], [1.0, -1.0], 0.0, 0.0)  # all of it if routed
            if facilities is not None:  # a kept booking takes no shared place
                for j, day in enumerate(days):
                    placed = self.usage.setdefault((kind, facilities, day), [])
                    placed.append((z + j, 1.0))
                    if j:
                        placed.append((z + j - 1, -1.0))
            # c >= Σ_j a_j (z_j - z_{j-1}), a_j the least completion with the stage on day j
            tail = self.tails[pathway.id][stage.id]
            a = [max(0, end + tail - referral) for end in ends]
            coef = [a[j] - a[j + 1] for j in range(len(a) - 1)] + [a[-1]]
            self.rows.add([c, *range(z, z + len(days))], [1.0, *(-x for x in coef)], 0.0, math.inf)
        for earlier, later, lag, unit, at_end in self.lags[pathway.id]:
            if earlier in z_of and later in z_of:
                self.order_rows(
                    days_of[earlier], z_of[earlier], days_of[later], z_of[later], lag, unit, at_end
                )
        return y

    def order_rows(
        self,
        d1: list[int],
        z1: int,
        d2: list[int],
        z2: int,
        lag: int,
        unit: LagUnit,
        at_end: bool,
    ) -> None:
        """Share of the later stage by each of its days ``d2`` <= share of the earlier stage by
        the last of its days ``d1`` from which the lag can end by then."""
        axis = self.axis
        k = -1
        for j, day in enumerate(d2):
            while k + 1 < len(d1):
                soonest = axis.day_of(axis.min_forward(axis.first_minute(d1[k + 1]), lag, unit))
                if (soonest - 1 if at_end else soonest) > day:  # a slot may cross midnight
                    break
                k += 1
            if k < 0:
                self.rows.add([z2 + j], [1.0], -math.inf, 0.0)
            else:
                self.rows.add([z2 + j, z1 + k], [1.0, -1.0], -math.inf, 0.0)

    def place_rows(self) -> None:
        """Per kind and day: the places of each facility set patients are restricted to, taken
        by those patients and by those restricted to a smaller set; and the places of all the
        kind's facilities, taken by everyone."""
        sets_of_kind: dict[Kind, list[frozenset[int]]] = {}
        for kind, facilities, _ in self.usage:
            known = sets_of_kind.setdefault(kind, [])
            if facilities not in known:
                known.append(facilities)
        everyone: dict[tuple[Kind, int], list[tuple[int, float]]] = {}
        for (kind, facilities, day), placed in self.usage.items():
            here = list(placed)
            for other in sets_of_kind[kind]:
                if other < facilities:
                    here.extend(self.usage.get((kind, other, day), ()))
            self.add_place_row(here, self.day_places(kind, facilities)[0].get(day, 0))
            if len(sets_of_kind[kind]) > 1:
                everyone.setdefault((kind, day), []).extend(placed)
        for (kind, day), placed in everyone.items():
            every = frozenset().union(*sets_of_kind[kind])
            self.add_place_row(placed, self.day_places(kind, every)[0].get(day, 0))

    def add_place_row(self, placed: list[tuple[int, float]], places: int) -> None:
        self.rows.add([col for col, _ in placed], [v for _, v in placed], -math.inf, places)

    def kind_slots(self, kind: Kind) -> _KindSlots:
        """The kind's slots with free places: facility, day, end minute and free places."""
        if kind not in self.kinds:
            index = self.index
            services, level, mode = kind
            parts = [index.by_service[s] for s in services if s in index.by_service]
            pos = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            keep = (
                index.facility_level_ok(pos, level) & index.mode_is(pos, mode) & index.open_day[pos]
            )
            pos = pos[keep & (self.free[pos] > 0)]
            self.kinds[kind] = (
                index.facility[pos].astype(np.int64),
                index.day[pos].astype(np.int64),
                index.end[pos].astype(np.int64),
                self.free[pos].astype(np.int64),
            )
        return self.kinds[kind]

    def kind_facilities(self, kind: Kind) -> frozenset[int]:
        return frozenset(self.kind_slots(kind)[0].tolist())

    def day_places(self, kind: Kind, facilities: frozenset[int]) -> _DayPlaces:
        """Day → the free places of the kind's slots at ``facilities``, and → their earliest
        end (minute)."""
        key = (kind, facilities)
        if key not in self.places:
            facility, day, end, free = self.kind_slots(kind)
            inside = np.isin(facility, np.fromiter(sorted(facilities), np.int64, len(facilities)))
            places: dict[int, int] = {}
            earliest: dict[int, int] = {}
            for d, here, e in zip(
                day[inside].tolist(), free[inside].tolist(), end[inside].tolist(), strict=True
            ):
                places[d] = places.get(d, 0) + here
                earliest[d] = min(earliest.get(d, e), e)
            self.places[key] = (places, earliest)
        return self.places[key]

    def allowed_facilities(self, i: int, in_person: bool) -> frozenset[int]:
        """The facilities (index positions) entry ``i``'s patient may use for a stage, by the
        rules :func:`~routing.solve.compiled.compile_request` narrows a stage's candidates with
        (:func:`~routing.solve.prepared.facility_rules`)."""
        request = self.cohort.entries[i].request
        patient = request.patient
        stays = in_person and not patient.travels_out_of_region
        key = (patient.allowed_facilities, request.region if stays else None, stays)
        if key not in self.allowed:
            usable, away = facility_rules(self.index, request)
            if in_person and away is not None:
                usable = usable & ~away
            self.allowed[key] = frozenset(np.flatnonzero(usable).tolist())
        return self.allowed[key]


FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Arrays:
    """The LP as arrays: column boxes and costs, row sides, the matrix as coordinates."""

    col_lower: FloatArray
    col_upper: FloatArray
    cost: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray
    row: IntArray
    col: IntArray
    value: FloatArray

    @classmethod
    def of(cls, cols: _Columns, rows: _Rows) -> _Arrays:
        return cls(
            np.asarray(cols.lower, dtype=np.float64),
            np.asarray(cols.upper, dtype=np.float64),
            np.asarray(cols.cost, dtype=np.float64),
            np.asarray(rows.lower, dtype=np.float64),
            np.asarray(rows.upper, dtype=np.float64),
            np.asarray(rows.row, dtype=np.int64),
            np.asarray(rows.col, dtype=np.int64),
            np.asarray(rows.value, dtype=np.float64),
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return len(self.row_lower), len(self.cost)

    def lagrangian(self, pi: FloatArray) -> float:
        """``Σ_rows g_r(π_r) + Σ_cols min over the column's box of (c - Aᵀπ)_j x_j``: a lower
        bound on the LP for any ``π`` (signs fixed to the rows' finite sides)."""
        lower, upper = self.row_lower, self.row_upper
        pi = np.where(np.isinf(lower), np.minimum(pi, 0.0), pi)
        pi = np.where(np.isinf(upper), np.maximum(pi, 0.0), pi)
        from_rows = np.where(pi > 0, pi * np.where(np.isinf(lower), 0.0, lower), 0.0)
        from_rows += np.where(pi < 0, pi * np.where(np.isinf(upper), 0.0, upper), 0.0)
        weights = self.value * pi[self.row]
        reduced = self.cost - np.bincount(self.col, weights=weights, minlength=len(self.cost))
        from_cols = np.minimum(reduced * self.col_lower, reduced * self.col_upper)
        return math.fsum(from_rows.tolist()) + math.fsum(from_cols.tolist())


def _solve(lp: _Arrays, iterations: int | None) -> tuple[float, float, int | None] | None:
    """The solver's objective, the Lagrangian bound at its row multipliers and the
    first-order iterations run (``None`` by interior point); ``None`` when the solver finds no
    optimum (interior point) or the LP infeasible (first order)."""
    m, n = lp.shape
    if n == 0:  # nobody takes part: no minutes (the one row, Σ y = 0, has no terms)
        return 0.0, 0.0, None if iterations is None else 0
    if iterations is None:
        solved = _interior_point(lp)
        if solved is None:
            return None
        (value, duals), done = solved, None
    else:
        first = _first_order(lp, iterations)
        if first is None:
            return None
        value, duals, done = first
    if len(duals) != m:
        return None
    # The multipliers' sign convention is taken either way: both are valid bounds.
    return value, max(lp.lagrangian(duals), lp.lagrangian(-duals), 0.0), done


def _interior_point(lp: _Arrays) -> tuple[float, FloatArray] | None:
    """HiGHS's interior point without crossover: its objective and row duals, or ``None``
    without an optimum."""
    import highspy as highs

    highspy: Any = highs  # its bindings are only partly typed
    m, n = lp.shape
    order = np.lexsort((lp.row, lp.col))
    model = highspy.HighsLp()
    model.num_col_, model.num_row_ = n, m
    model.col_cost_, model.col_lower_, model.col_upper_ = lp.cost, lp.col_lower, lp.col_upper
    model.row_lower_ = np.where(np.isinf(lp.row_lower), -highspy.kHighsInf, lp.row_lower)
    model.row_upper_ = np.where(np.isinf(lp.row_upper), highspy.kHighsInf, lp.row_upper)
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = np.searchsorted(lp.col[order], np.arange(n + 1)).astype(np.int32)
    model.a_matrix_.index_ = lp.row[order].astype(np.int32)
    model.a_matrix_.value_ = lp.value[order]
    # The bindings' own class prints HiGHS's banner to stdout while it is made (it calls the
    # solver before options can be set); its base class waits for "output_flag" to be off.
    solver = getattr(highspy, "_Highs", highspy.Highs)()
    for option, setting in (
        ("output_flag", False),
        ("threads", 1),
        ("random_seed", 0),
        ("solver", "ipm"),
        ("run_crossover", "off"),
    ):
        solver.setOptionValue(option, setting)
    solver.passModel(model)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    value = float(solver.getInfo().objective_function_value)
    return value, np.asarray(solver.getSolution().row_dual, dtype=np.float64)


def _first_order(lp: _Arrays, iterations: int) -> tuple[float, FloatArray, int] | None:
    """OR-Tools' PDLP on one thread for at most ``iterations``: the objective of its last
    primal iterate, its row multipliers and the iterations it ran; ``None`` when it finds the LP
    infeasible (no plan routes that many) or its multipliers are not finite."""
    import scipy.sparse
    from ortools.pdlp import solve_log_pb2, solvers_pb2
    from ortools.pdlp.python import pdlp

    m, n = lp.shape
    program = pdlp.QuadraticProgram()
    program.objective_vector = lp.cost
    program.variable_lower_bounds = lp.col_lower
    program.variable_upper_bounds = lp.col_upper
    program.constraint_lower_bounds = lp.row_lower
    program.constraint_upper_bounds = lp.row_upper
    program.constraint_matrix = scipy.sparse.csr_matrix((lp.value, (lp.row, lp.col)), shape=(m, n))
    params = solvers_pb2.PrimalDualHybridGradientParams()
    params.num_threads = 1
    params.termination_criteria.iteration_limit = iterations
    result = pdlp.primal_dual_hybrid_gradient(program, params)
    reason = result.solve_log.termination_reason
    bounded = (
        solve_log_pb2.TERMINATION_REASON_OPTIMAL,
        solve_log_pb2.TERMINATION_REASON_ITERATION_LIMIT,
    )
    duals = np.asarray(result.dual_solution, dtype=np.float64)
    if reason not in bounded or not np.all(np.isfinite(duals)):
        logger.info("staged LP, first order: %s", solve_log_pb2.TerminationReason.Name(reason))
        return None
    primal = np.asarray(result.primal_solution, dtype=np.float64)
    value = float(lp.cost @ primal) if len(primal) == n else math.nan
    return value, duals, int(result.solve_log.iteration_count)
