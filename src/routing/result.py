"""What a solver returns: the route, how good it is, and why.

A :class:`RouteResult` carries a status that is never folded together with another, the bookings
(one slot per stage), the lexicographic objective, the best proven bound where optimality is not
proven, the deadline report and an explanation a coordinator can read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, NonNegativeInt

from nosology.pathway import FrozenModel, LagUnit, ServiceRef, VisitMode

__all__ = [
    "Booking",
    "DeadlineOutcome",
    "Objective",
    "RouteResult",
    "SolveStatus",
    "StageWait",
]


class SolveStatus(StrEnum):
    """How a solve ended. Each status means one thing only."""

    OPTIMAL = "OPTIMAL"
    """A route was found and proven best on the whole lexicographic objective."""
    FEASIBLE = "FEASIBLE"
    """A route was found; it is not proven best (see the result's bound)."""
    INFEASIBLE = "INFEASIBLE"
    """Proven: no route satisfies every hard constraint (see the reasons)."""
    TIME_LIMIT = "TIME_LIMIT"
    """The limit was reached before any route was found or infeasibility proven."""
    INVALID = "INVALID"
    """The request cannot be solved as given (e.g. no pathway applies, contradictory pathway)."""


class Booking(FrozenModel):
    """One stage of a route booked into one slot."""

    stage_id: str
    slot_id: str
    facility_id: str
    service: ServiceRef
    start: AwareDatetime
    end: AwareDatetime
    mode: VisitMode


class Objective(FrozenModel):
    """The lexicographic quality of a route; smaller is better, compared field by field in order.

    Attributes
    ----------
    completion_minutes
        (1) Minutes from the referral to the latest end among all stages (time to treatment).
    visit_days
        (2) Distinct local dates with at least one in-person booking.
    travel_minutes
        (3) Travel of all in-person days: home to the first facility, between consecutive
        facilities, and back home (home legs only where the patient's location is known).
    non_preferred
        (4) In-person bookings outside the patient's preferred facilities (0 when none are given).
    """

    completion_minutes: int
    visit_days: NonNegativeInt
    travel_minutes: NonNegativeInt
    non_preferred: NonNegativeInt

    def key(self) -> tuple[int, int, int, int]:
        """The tuple that orders objectives lexicographically."""
        return (self.completion_minutes, self.visit_days, self.travel_minutes, self.non_preferred)


class DeadlineOutcome(FrozenModel):
    """Whether one regulatory waiting-time limit is met by a route.

    ``actual`` is the measured time between the deadline's events in its unit, ``slack`` is
    ``limit - actual`` (negative: overrun by that much), and ``caused_by`` names the stage whose
    booking fixes the later event of a missed deadline.
    """

    deadline_id: str
    title: str
    limit: int
    unit: LagUnit
    actual: int
    slack: int
    met: bool
    hard: bool
    source: str
    caused_by: str | None = None


class StageWait(FrozenModel):
    """How long a stage waits, and whether it lies on the chain that fixes the completion date."""

    stage_id: str
    wait_minutes: NonNegativeInt
    """From the end of the latest preceding event (a predecessor's end or the referral) to start."""
    critical: bool


class RouteResult(FrozenModel):
    """The outcome of planning one request.

    ``objective`` is the returned route's quality; ``bound`` is the best proven lower bound (equal
    to the objective when OPTIMAL, ``None`` when nothing is known). ``reasons`` says, for an
    infeasible or invalid request, why, in a coordinator's terms. ``warnings`` says what the
    result relies on that may not hold: a referral, booking or deadline in a year the working
    calendar projects (no transfer decree known yet; see :mod:`routing.calendar`).
    """

    request_id: str
    patient_id: str
    pathway_id: str | None
    status: SolveStatus
    referral: AwareDatetime
    bookings: tuple[Booking, ...] = ()
    objective: Objective | None = None
    bound: Objective | None = None
    deadlines: tuple[DeadlineOutcome, ...] = ()
    waits: tuple[StageWait, ...] = ()
    critical_chain: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    runtime_seconds: float = 0.0

    @property
    def has_route(self) -> bool:
        """Whether the result holds a complete route."""
        return self.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)

    @property
    def completion(self) -> datetime | None:
        """When the last stage ends, or ``None`` without a route."""
        return max((b.end for b in self.bookings), default=None)

    def summary(self) -> str:
        """A short plain-text report: status, stages with dates, deadlines."""
        lines = [f"request {self.request_id} (patient {self.patient_id}): {self.status.value}"]
        if self.pathway_id:
            lines.append(f"pathway: {self.pathway_id}")
        if self.objective is not None:
            o = self.objective
            lines.append(
                f"completion {o.completion_minutes / 1440:.1f} days after referral, "
                f"{o.visit_days} visit days, {o.travel_minutes} min travel, "
                f"{o.non_preferred} outside preferred facilities"
            )
        for b in sorted(self.bookings, key=lambda b: b.start):
            lines.append(
                f"  {b.start:%Y-%m-%d %a %H:%M}-{b.end:%H:%M}  {b.stage_id:<24} "
                f"{b.facility_id} ({b.service})"
            )
        for d in self.deadlines:
            mark = "met" if d.met else "MISSED"
            lines.append(
                f"  deadline {d.deadline_id}: {mark}, {d.actual}/{d.limit} {d.unit.value}"
                + (f" (caused by {d.caused_by})" if not d.met and d.caused_by else "")
            )
        lines.extend(f"  reason: {r}" for r in self.reasons)
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)
