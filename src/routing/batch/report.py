"""The report of a batch plan: what was planned, deadline compliance, bounds and bottlenecks.

:func:`build_report` compares the plan with first-come-first-served (today's practice) side by
side: patients planned, unplanned and invalid, deadline compliance per pathway and per deadline,
time to completion (median, 90th percentile, maximum, mean, in days), the gap to both lower bounds,
and the bottlenecks. A service or facility *binds* when a patient's fastest route alone used one
of its slots that the plan has filled with other patients, and the patient completes later than
alone; bottlenecks are ranked by those patients, then by how full their slots are, one row per
service or facility.

Every patient counts. A patient without a route (unplanned: infeasible, or over the time limit)
has missed, or is at risk for, each of its deadlines: they count as measured and missed, so the
headline rate's denominator is the same in the plan and first-come-first-served. The deadlines of
a patient without a route are its pathway's soft deadlines in force on its referral day. Invalid
requests (no pathway applies, or unreadable records) are counted apart and have no deadlines to
measure.

The header status is the weakest of the batch's own status and its routes' statuses, in the order
OPTIMAL > FEASIBLE > TIME_LIMIT: a cohort proven optimal whose routes are FEASIBLE (each not
the fastest of its pathway) is FEASIBLE, and a patient left unplanned by the time limit makes it
TIME_LIMIT. Proven facts about one patient (INFEASIBLE, INVALID) do not weaken it: they are
counted in the patients line. Solver diagnostics go to the log at debug level, never here.

:func:`plan_document` is the plan file: one entry per request without timings, so the same input
and seed give the same text byte for byte.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import NonNegativeInt

from nosology.pathway import FrozenModel, LagUnit
from routing._version import __version__
from routing.batch.bounds import BatchBound
from routing.batch.engine import BatchResult
from routing.batch.objective import BatchObjective, DeadlineMeasure
from routing.result import RouteResult, SolveStatus
from routing.slot_index import SlotIndex

__all__ = [
    "STATUS_ORDER",
    "BatchReport",
    "Bottleneck",
    "CompletionStats",
    "Compliance",
    "Gap",
    "Unplanned",
    "build_report",
    "header_status",
    "plan_document",
]


class Compliance(FrozenModel):
    """Deadlines met among those measured, for the plan and for first-come-first-served.

    ``measured`` includes the deadlines of patients without a route (``unplanned``), which count
    as missed.
    """

    key: str
    measured: NonNegativeInt
    met: NonNegativeInt
    fcfs_measured: NonNegativeInt
    fcfs_met: NonNegativeInt
    unplanned: NonNegativeInt = 0
    """Deadlines of patients the plan leaves without a route (in ``measured``, missed)."""
    fcfs_unplanned: NonNegativeInt = 0
    """The same for first-come-first-served."""
    unit: LagUnit | None = None
    """The deadline's unit, in rows by deadline id whose deadlines share one (else ``None``, and
    no overrun is given)."""
    overrun: NonNegativeInt = 0
    """By how much the plan's missed deadlines of patients with a route overran, in all, in
    ``unit``."""
    overrun_max: NonNegativeInt = 0
    """The largest of those overruns."""
    fcfs_overrun: NonNegativeInt = 0
    """The same as ``overrun`` for first-come-first-served."""
    fcfs_overrun_max: NonNegativeInt = 0
    """The same as ``overrun_max`` for first-come-first-served."""

    @property
    def rate(self) -> float:
        """Share met in the plan (1.0 when nothing was measured)."""
        return self.met / self.measured if self.measured else 1.0

    @property
    def fcfs_rate(self) -> float:
        """Share met by first-come-first-served."""
        return self.fcfs_met / self.fcfs_measured if self.fcfs_measured else 1.0


class CompletionStats(FrozenModel):
    """Days from referral to the end of the last stage, over the patients planned."""

    patients: NonNegativeInt
    median_days: float | None
    p90_days: float | None
    max_days: float | None
    mean_days: float | None


class Gap(FrozenModel):
    """The plan against a lower bound, term by term (``minutes_gap``: share of the plan's)."""

    bound: BatchBound
    unplanned: int
    deadline_cost: int
    weighted_minutes: int
    minutes_gap: float | None


class Bottleneck(FrozenModel):
    """A service or facility whose slots bind."""

    kind: str
    id: str
    delayed_patients: NonNegativeInt
    slots_used: NonNegativeInt
    capacity: NonNegativeInt

    @property
    def fill_rate(self) -> float:
        """Places used in the plan over places offered."""
        return self.slots_used / self.capacity if self.capacity else 0.0


class Unplanned(FrozenModel):
    """A request without a route in the plan, and why."""

    request_id: str
    status: SolveStatus
    reasons: tuple[str, ...]


STATUS_ORDER: tuple[SolveStatus, ...] = (
    SolveStatus.OPTIMAL,
    SolveStatus.FEASIBLE,
    SolveStatus.TIME_LIMIT,
)
"""Header statuses from strongest to weakest (see :func:`header_status`)."""


def header_status(result: BatchResult) -> SolveStatus:
    """The weakest of the batch's status and its routes' statuses (OPTIMAL > FEASIBLE > TIME_LIMIT).

    A planned route's status counts as it is; an unplanned route counts as TIME_LIMIT when the
    limit stopped its search and not at all when it is proven INFEASIBLE or INVALID (the report
    counts those patients apart).
    """
    seen = [result.status]
    seen += [r.status for r in result.routes if r.status in STATUS_ORDER]
    return max(seen, key=lambda s: STATUS_ORDER.index(s) if s in STATUS_ORDER else 0)


class BatchReport(FrozenModel):
    """Everything the batch summary shows, machine-readable.

    ``status`` is the header status (see :func:`header_status`), ``batch_status`` the batch's
    own (OPTIMAL when its objective equals the capacity bound).
    """

    generator: str
    status: SolveStatus
    batch_status: SolveStatus = SolveStatus.FEASIBLE
    stop_reason: str
    time_limit_hit: bool
    seed: int
    workers: int
    search_processes: int = 1
    """Processes the search ran in (:mod:`routing.batch.paired_search`)."""
    iterations: int
    polished: NonNegativeInt = 0
    sweeps: NonNegativeInt = 0
    """Sweeps before the search (each planned patient planned again, one by one)."""
    swept: NonNegativeInt = 0
    """Routes those sweeps made strictly better."""
    runtime_seconds: float
    seconds_to_bound: float | None = None
    requests: NonNegativeInt
    planned: NonNegativeInt
    fcfs_planned: NonNegativeInt
    unplanned_count: NonNegativeInt = 0
    """Readable requests without a route that are not INVALID (infeasible, time limit)."""
    invalid_count: NonNegativeInt = 0
    """INVALID requests plus records that could not be read (``rejected``)."""
    unplanned: tuple[Unplanned, ...]
    rejected: tuple[str, ...] = ()
    """Input records that could not be read (malformed), each naming the record and field."""
    moved: tuple[str, ...]
    objective: BatchObjective
    fcfs_objective: BatchObjective
    deadline_measure: DeadlineMeasure = "misses"
    """How the deadline cost counts a missed soft deadline (:mod:`routing.batch.objective`)."""
    gap_no_competition: Gap
    gap_capacity: Gap
    deadlines_total: Compliance
    deadlines_by_pathway: tuple[Compliance, ...]
    deadlines_by_id: tuple[Compliance, ...]
    completion: CompletionStats
    fcfs_completion: CompletionStats
    bottlenecks: tuple[Bottleneck, ...]

    def to_json(self) -> str:
        """The report as JSON text with the properties (rates, fill) included."""
        data = self.model_dump(mode="json")
        for part in ("deadlines_total",):
            data[part]["rate"] = getattr(self, part).rate
        for name in ("deadlines_by_pathway", "deadlines_by_id"):
            for raw, item in zip(data[name], getattr(self, name), strict=True):
                raw["rate"], raw["fcfs_rate"] = item.rate, item.fcfs_rate
        for raw, b in zip(data["bottlenecks"], self.bottlenecks, strict=True):
            raw["fill_rate"] = b.fill_rate
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    def summary(self) -> str:
        """A readable summary for coordinators."""
        t = self.deadlines_total
        stop = self.stop_reason
        if self.batch_status is SolveStatus.OPTIMAL and self.status is not SolveStatus.OPTIMAL:
            stop += f"; the cohort's objective is proven, its routes are {self.status.value}"
        lines = [
            f"batch plan: {self.status.value} ({stop}), {self.swept} routes bettered in "
            f"{self.sweeps} sweeps, {self.iterations} search iterations, {self.polished} "
            f"routes polished, {self.runtime_seconds:.1f} s"
            + (
                ""
                if self.seconds_to_bound is None
                else f" (the bound met after {self.seconds_to_bound:.1f} s)"
            )
            + f", seed {self.seed}",
            f"patients: {self.requests + len(self.rejected)}: {self.planned} planned, "
            f"{self.unplanned_count} unplanned, {self.invalid_count} invalid "
            f"(first come, first served: {self.fcfs_planned} planned)",
        ]
        for text in self.rejected:
            lines.append(f"  rejected: {text}")
        for u in self.unplanned:
            lines.append(
                f"  not planned: {u.request_id} ({u.status.value}): {'; '.join(u.reasons)}"
            )
        if self.moved:
            lines.append(f"existing bookings moved for: {', '.join(self.moved)}")
        lines += [
            "",
            f"deadlines met: {_pct(t.rate)} of {t.measured} in the plan, "
            f"{_pct(t.fcfs_rate)} of {t.fcfs_measured} first come, first served",
        ]
        if t.unplanned or t.fcfs_unplanned:
            lines.append(
                f"  (counted as missed: {t.unplanned} deadlines of unplanned patients in the "
                f"plan, {t.fcfs_unplanned} first come, first served)"
            )
        lines += self._comparison()
        rows = [("", "plan", "fcfs")]
        for c in self.deadlines_by_pathway:
            rows.append(
                (f"pathway {c.key}", _ratio(c.met, c.measured), _ratio(c.fcfs_met, c.fcfs_measured))
            )
        for c in self.deadlines_by_id:
            rows.append(
                (
                    f"deadline {c.key}",
                    _ratio(c.met, c.measured),
                    _ratio(c.fcfs_met, c.fcfs_measured),
                )
            )
        lines += _columns(rows)
        lines += self._overruns()
        p, f = self.completion, self.fcfs_completion
        lines += ["", "days to completion         plan      fcfs"]
        for label, a, b in (
            ("median", p.median_days, f.median_days),
            ("90th percentile", p.p90_days, f.p90_days),
            ("maximum", p.max_days, f.max_days),
            ("mean", p.mean_days, f.mean_days),
        ):
            lines.append(f"  {label:<22} {_days(a):>8}  {_days(b):>8}")
        o, b0 = self.objective, self.fcfs_objective
        lines += [
            "",
            "objective (unplanned, deadline cost, weighted minutes; a missed deadline counted "
            f"by {'its overrun' if self.deadline_measure == 'overrun' else 'misses alike'}):",
            f"  plan  {o.key()}",
            f"  fcfs  {b0.key()}",
        ]
        for label, g in (
            ("no competition", self.gap_no_competition),
            ("capacity", self.gap_capacity),
        ):
            share = "" if g.minutes_gap is None else f", {_pct(g.minutes_gap)} of the minutes"
            lines.append(
                f"  gap to the {label} bound {g.bound.key()}: {g.unplanned} unplanned, "
                f"{g.deadline_cost} deadline cost, {g.weighted_minutes} weighted minutes{share}"
            )
        found = self.gap_capacity.bound
        lines.append(f"  the capacity bound: {found.method}")
        by = [
            f"{label} {minutes}"
            for label, minutes in (
                ("the completion flow", found.flow_minutes),
                ("the staged LP over all stages", found.staged_minutes),
            )
            if minutes is not None
        ]
        if by:
            lines.append(f"    weighted minutes by {', by '.join(by)}")
        must = found.first_deadline_misses
        if must:
            lines.append(
                f"  at least {must} patients miss their first deadline in any plan "
                "(a maximum matching to the slots that meet it)"
            )
        if self.bottlenecks:
            lines += [
                "",
                "bottlenecks, ranked by patients delayed by their full slots, then fill rate:",
            ]
            for rank, n in enumerate(self.bottlenecks, 1):
                lines.append(
                    f"  {rank}. {n.kind} {n.id}: {n.delayed_patients} patients delayed, "
                    f"{n.slots_used}/{n.capacity} places filled ({_pct(n.fill_rate)})"
                )
        return "\n".join(lines) + "\n"

    def _overruns(self) -> list[str]:
        """How far the missed deadlines of patients with a route overran, per deadline."""
        rows = [("", "plan", "fcfs")]
        for c in self.deadlines_by_id:
            missed = c.measured - c.met - c.unplanned
            fcfs_missed = c.fcfs_measured - c.fcfs_met - c.fcfs_unplanned
            if c.unit is None or not (missed or fcfs_missed):
                continue
            rows.append(
                (
                    f"deadline {c.key} ({c.unit.value.replace('_', ' ')})",
                    _overrun(c.overrun, c.overrun_max, missed),
                    _overrun(c.fcfs_overrun, c.fcfs_overrun_max, fcfs_missed),
                )
            )
        if len(rows) == 1:
            return []
        return ["the missed deadlines' overrun (patients with a route):", *_columns(rows)]

    def _comparison(self) -> list[str]:
        """One line each: the plan against first come, first served, and against the bound."""
        missed = _missed(self.deadlines_total, plan=True)
        fcfs_missed = _missed(self.deadlines_total, plan=False)
        p, f = self.completion.mean_days, self.fcfs_completion.mean_days
        text = f"the plan: {missed} deadlines missed against {fcfs_missed} first come, first served"
        if p is not None and f is not None:
            text += f"; mean days to completion {p:.1f} against {f:.1f}"
        lines = [text]
        g = self.gap_capacity
        if g.unplanned == 0 and g.deadline_cost == 0 and g.weighted_minutes <= 0:
            lines.append("  it reaches the capacity lower bound (proven best)")
        else:
            share = "" if g.minutes_gap is None else f", {_pct(g.minutes_gap)} of its minutes"
            lines.append(
                f"  its gap to the capacity lower bound: {g.unplanned} unplanned, "
                f"{g.deadline_cost} deadline cost, {g.weighted_minutes} weighted minutes{share}"
            )
        return lines


def _missed(c: Compliance, *, plan: bool) -> int:
    """Deadlines missed (``measured - met``) in the plan or first come, first served."""
    return c.measured - c.met if plan else c.fcfs_measured - c.fcfs_met


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _overrun(total: int, largest: int, missed: int) -> str:
    return "-" if not missed else f"mean {total / missed:.1f}, max {largest}"


def _ratio(met: int, measured: int) -> str:
    return f"{met}/{measured} ({_pct(met / measured if measured else 1.0)})"


def _days(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def _columns(rows: list[tuple[str, str, str]]) -> list[str]:
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return [f"  {a:<{w0}}  {b:<{w1}}  {c}".rstrip() for a, b, c in rows]


def _stats(routes: Sequence[RouteResult]) -> CompletionStats:
    days = sorted(
        r.objective.completion_minutes / 1440 for r in routes if r.has_route and r.objective
    )
    if not days:
        return CompletionStats(
            patients=0, median_days=None, p90_days=None, max_days=None, mean_days=None
        )
    n = len(days)
    median = days[n // 2] if n % 2 else (days[n // 2 - 1] + days[n // 2]) / 2
    p90 = days[max(0, math.ceil(0.9 * n) - 1)]
    return CompletionStats(
        patients=n,
        median_days=round(median, 3),
        p90_days=round(p90, 3),
        max_days=round(days[-1], 3),
        mean_days=round(sum(days) / n, 3),
    )


def _compliance(key_of: str, result: BatchResult) -> tuple[Compliance, ...]:
    """Deadlines met per pathway (``key_of="pathway"``) or per deadline id, every patient counted.

    A patient without a route counts each soft deadline of its pathway in force on its referral
    day (:attr:`BatchResult.deadline_ids`) as measured and missed; INVALID requests are not
    measured.
    """
    counts: dict[str, list[int]] = {}
    # per key: overrun in all and the largest, plan then FCFS; the units seen
    overruns: dict[str, list[int]] = {}
    units: dict[str, set[LagUnit]] = {}
    columns = ((0, result.routes), (2, result.fcfs_routes))
    for i, plan in enumerate(result.routes):
        ids = result.deadline_ids[i] if i < len(result.deadline_ids) else ()
        for column, routes in columns:
            r = routes[i]
            if r.status is SolveStatus.INVALID:
                continue
            pathway = r.pathway_id or plan.pathway_id or "-"
            if r.has_route:
                outcomes = [(d.deadline_id, d.met) for d in r.deadlines if not d.hard]
                for d in r.deadlines:
                    if d.hard or key_of == "pathway":
                        continue
                    units.setdefault(d.deadline_id, set()).add(d.unit)
                    if not d.met:
                        over = overruns.setdefault(d.deadline_id, [0, 0, 0, 0])
                        over[column] += d.actual - d.limit
                        over[column + 1] = max(over[column + 1], d.actual - d.limit)
            else:
                outcomes = [(d, False) for d in ids]
            for deadline_id, met in outcomes:
                k = pathway if key_of == "pathway" else deadline_id
                row = counts.setdefault(k, [0, 0, 0, 0, 0, 0])
                row[column] += 1
                row[column + 1] += int(met)
                row[4 + column // 2] += int(not r.has_route)
    rows = []
    for k, v in sorted(counts.items()):
        unit = next(iter(units[k])) if len(units.get(k, ())) == 1 else None
        over = overruns.get(k, [0, 0, 0, 0]) if unit is not None else [0, 0, 0, 0]
        rows.append(
            Compliance(
                key=k,
                measured=v[0],
                met=v[1],
                fcfs_measured=v[2],
                fcfs_met=v[3],
                unplanned=v[4],
                fcfs_unplanned=v[5],
                unit=unit,
                overrun=over[0],
                overrun_max=over[1],
                fcfs_overrun=over[2],
                fcfs_overrun_max=over[3],
            )
        )
    return tuple(rows)


def _gap(plan: BatchObjective, bound: BatchBound) -> Gap:
    minutes = plan.weighted_minutes - bound.weighted_minutes
    return Gap(
        bound=bound,
        unplanned=plan.unplanned - bound.unplanned,
        deadline_cost=plan.deadline_cost - bound.deadline_cost,
        weighted_minutes=minutes,
        minutes_gap=minutes / plan.weighted_minutes if plan.weighted_minutes else None,
    )


def _bottlenecks(result: BatchResult, index: SlotIndex, top: int) -> tuple[Bottleneck, ...]:
    used = Counter[int]()
    for r in result.routes:
        for b in r.bookings:
            used[index.slot_position[b.slot_id]] += 1
    capacity = [s.capacity for s in index.slots]
    delayed: dict[tuple[str, str], set[str]] = {}
    for r, alone in zip(result.routes, result.alone_routes, strict=True):
        if not alone.has_route or alone.objective is None:
            continue
        later = not r.has_route or (
            r.objective is not None
            and r.objective.completion_minutes > alone.objective.completion_minutes
        )
        if not later:
            mine: set[str] = set()
        else:
            mine = {b.slot_id for b in r.bookings}
        for b in alone.bookings if later else ():
            p = index.slot_position[b.slot_id]
            if b.slot_id not in mine and used[p] >= capacity[p]:
                delayed.setdefault(("service", str(b.service)), set()).add(r.request_id)
                delayed.setdefault(("facility", b.facility_id), set()).add(r.request_id)
    offered: Counter[tuple[str, str]] = Counter()
    taken: Counter[tuple[str, str]] = Counter()
    for p, s in enumerate(index.slots):
        for key in (("service", str(s.service)), ("facility", s.facility_id)):
            if key in delayed:
                offered[key] += s.capacity
                taken[key] += used[p]
    ranked = sorted(
        delayed,
        key=lambda k: (-len(delayed[k]), -taken[k] / max(1, offered[k]), k),
    )[:top]
    return tuple(
        Bottleneck(
            kind=k[0],
            id=k[1],
            delayed_patients=len(delayed[k]),
            slots_used=taken[k],
            capacity=offered[k],
        )
        for k in ranked
    )


def build_report(
    result: BatchResult, index: SlotIndex, *, top: int = 10, rejected: Sequence[str] = ()
) -> BatchReport:
    """The report of ``result`` (planned over ``index``), ``top`` bottlenecks at most.

    ``rejected`` lists input records the reader could not use (as ``routing batch`` reports them).
    """
    routes, fcfs = result.routes, result.fcfs_routes
    total = _compliance("all", result)
    measured = Compliance(
        key="all",
        measured=sum(c.measured for c in total),
        met=sum(c.met for c in total),
        fcfs_measured=sum(c.fcfs_measured for c in total),
        fcfs_met=sum(c.fcfs_met for c in total),
        unplanned=sum(c.unplanned for c in total),
        fcfs_unplanned=sum(c.fcfs_unplanned for c in total),
    )
    invalid = sum(r.status is SolveStatus.INVALID for r in routes)
    return BatchReport(
        generator=f"routing {__version__}",
        status=header_status(result),
        batch_status=result.status,
        stop_reason=result.stop_reason,
        time_limit_hit=result.time_limit_hit,
        seed=result.seed,
        workers=result.workers,
        search_processes=result.search_processes,
        iterations=result.iterations,
        polished=result.polished,
        sweeps=result.sweeps,
        swept=result.swept,
        runtime_seconds=round(result.runtime_seconds, 3),
        seconds_to_bound=(
            None if result.seconds_to_bound is None else round(result.seconds_to_bound, 3)
        ),
        requests=len(routes),
        planned=sum(r.has_route for r in routes),
        fcfs_planned=sum(r.has_route for r in fcfs),
        unplanned_count=sum(not r.has_route for r in routes) - invalid,
        invalid_count=invalid + len(rejected),
        unplanned=tuple(
            Unplanned(request_id=r.request_id, status=r.status, reasons=r.reasons)
            for r in routes
            if not r.has_route
        ),
        rejected=tuple(rejected),
        moved=result.moved,
        objective=result.objective,
        fcfs_objective=result.fcfs_objective,
        deadline_measure=result.deadline_measure,
        gap_no_competition=_gap(result.objective, result.no_competition_bound),
        gap_capacity=_gap(result.objective, result.capacity_bound),
        deadlines_total=measured,
        deadlines_by_pathway=_compliance("pathway", result),
        deadlines_by_id=total,
        completion=_stats(routes),
        fcfs_completion=_stats(fcfs),
        bottlenecks=_bottlenecks(result, index, top),
    )


def plan_document(result: BatchResult) -> dict[str, Any]:
    """The plan file's content: objective, status and one entry per request, without timings."""
    entries = []
    for r in result.routes:
        data = r.model_dump(mode="json", exclude={"runtime_seconds"})
        entries.append(data)
    return {
        "generator": f"routing {__version__}",
        "status": result.status.value,
        "seed": result.seed,
        "search_processes": result.search_processes,
        "objective": result.objective.model_dump(mode="json"),
        "deadline_measure": result.deadline_measure,
        "routes": entries,
    }
