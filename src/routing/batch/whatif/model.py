"""The records of what-if capacity: budgets and candidates in, proposals and comparisons out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from pydantic import NonNegativeInt

from nosology.pathway import FrozenModel
from routing.domain import Slot
from routing.exceptions import InvalidInputError

__all__ = [
    "Addition",
    "CandidateSlot",
    "CapacityBudget",
    "CapacityProposal",
    "PlanFigures",
    "WhatIfComparison",
    "Withdrawal",
    "WithdrawalCheck",
    "WithdrawalProposal",
]

_BUDGET = "capacity budget"


@dataclass(frozen=True, slots=True)
class CapacityBudget:
    """How many slots may be added, and where: "``slots`` more within ``working_days``".

    Attributes
    ----------
    slots
        Slots to add, at least 1.
    working_days
        The window: this many working days from ``first_day``, at least 1.
    services
        Service keys (``"system:code"``) the slots may be of; ``None``: any.
    facilities
        Facility ids the slots may be at; ``None``: any.
    first_day
        The window's first day; ``None``: the earliest referral of the cohort.

    Raises
    ------
    InvalidInputError
        ``slots`` or ``working_days`` below 1, or an empty ``services`` or ``facilities``.
    """

    slots: int
    working_days: int = 10
    services: tuple[str, ...] | None = None
    facilities: tuple[str, ...] | None = None
    first_day: date | None = None

    def __post_init__(self) -> None:
        if isinstance(self.slots, bool) or not isinstance(self.slots, int) or self.slots < 1:
            raise InvalidInputError(_BUDGET, "slots", "the budget must be a whole number ≥ 1")
        if (
            isinstance(self.working_days, bool)
            or not isinstance(self.working_days, int)
            or self.working_days < 1
        ):
            raise InvalidInputError(_BUDGET, "working_days", "the window must be ≥ 1 working day")
        for name in ("services", "facilities"):
            value = getattr(self, name)
            if value is not None and not value:
                raise InvalidInputError(_BUDGET, name, "give at least one, or None for any")


@dataclass(frozen=True, slots=True)
class CandidateSlot:
    """One slot that could be added: a copy of a facility's slot of a service on a day.

    The new slot copies the facility's existing slot of that service that day (start, duration,
    mode and capacity) on a resource of its own: the one starting at ``start`` (local time) when
    given, else the earliest.
    """

    facility_id: str
    service: str
    day: date
    start: time | None = None


class Addition(FrozenModel):
    """A slot to add and what it does to the first-deadline bound when added in turn.

    ``bound_before - bound_after`` is the bound's improvement, computed by solving the flow
    again with the slot's places added (after the additions ranked before it).
    """

    slot: Slot
    copy_of: str
    service: str
    facility_id: str
    day: date
    bound_before: NonNegativeInt
    bound_after: NonNegativeInt

    @property
    def improvement(self) -> int:
        """Patients more who can meet their first deadline."""
        return self.bound_before - self.bound_after


class CapacityProposal(FrozenModel):
    """Ranked additions, the bound before and after, and the pool the baselines draw from.

    Attributes
    ----------
    additions
        In the order chosen (greedy: the largest improvement per slot first).
    bound_before, bound_after
        Patients who miss their first deadline in every plan that routes them all
        (:mod:`routing.batch.matching`), without and with every addition.
    patients_with_deadline
        Patients with a first deadline (the bound's denominator).
    requested
        Slots the budget allowed (or candidates given).
    pool
        Ids of the slots an addition may copy (the window and filters of the budget, or the
        candidates' slots): the baselines of :func:`~routing.batch.whatif.verify` draw from it.
    repeat
        Whether a slot of the pool may be copied more than once (a budget: yes; a list: no).
    days
        The window's days.
    note
        Why fewer slots than requested were proposed, if so.
    """

    additions: tuple[Addition, ...]
    bound_before: NonNegativeInt
    bound_after: NonNegativeInt
    patients_with_deadline: NonNegativeInt
    requested: NonNegativeInt
    pool: tuple[str, ...]
    repeat: bool
    days: tuple[date, ...]
    note: str = ""

    @property
    def slots(self) -> tuple[Slot, ...]:
        """The new slots."""
        return tuple(a.slot for a in self.additions)

    def summary(self) -> str:
        """A few readable lines."""
        lines = [
            f"{len(self.additions)} of {self.requested} slots proposed; first-deadline bound "
            f"{self.bound_before} → {self.bound_after} patients (of {self.patients_with_deadline})"
        ]
        for n, a in enumerate(self.additions, start=1):
            lines.append(
                f"  {n}. {a.service} at {a.facility_id} on {a.day.isoformat()} "
                f"{a.slot.start:%H:%M} (copy of {a.copy_of}): −{a.improvement}"
            )
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)


class Withdrawal(FrozenModel):
    """A slot that could be withdrawn, and what it does to the bound when withdrawn in turn."""

    slot_id: str
    facility_id: str
    service: str
    start: datetime
    bound_before: NonNegativeInt
    bound_after: NonNegativeInt
    load: float
    """The service's demand ÷ free places in the whole index (lower: less missed)."""

    @property
    def harm(self) -> int:
        """Patients more who miss their first deadline in every plan."""
        return self.bound_after - self.bound_before


class WithdrawalProposal(FrozenModel):
    """Slots ranked by the least harm to the first-deadline bound."""

    withdrawals: tuple[Withdrawal, ...]
    bound_before: NonNegativeInt
    bound_after: NonNegativeInt
    patients_with_deadline: NonNegativeInt
    requested: NonNegativeInt
    days: tuple[date, ...]
    note: str = ""


class PlanFigures(FrozenModel):
    """One re-plan by :func:`~routing.batch.plan_batch`, measured.

    Attributes
    ----------
    label
        ``before``, ``proposed``, ``random``, ``longest queue`` or ``after``.
    slots_changed
        Slots added (or withdrawn) against the original index.
    patients_missing
        Planned patients who miss at least one soft or hard deadline.
    deadlines_missed
        Deadlines missed by planned patients.
    mean_days
        Mean days from referral to the end of the last stage, over planned patients
        (``None`` when nobody is planned).
    bound
        The first-deadline bound on this index (:class:`FirstDeadlineNetwork`).
    plan_bound
        ``capacity_bound.first_deadline_misses`` of the plan's own report.
    """

    label: str
    slots_changed: NonNegativeInt
    planned: NonNegativeInt
    unplanned: NonNegativeInt
    patients_with_deadlines: NonNegativeInt
    patients_missing: NonNegativeInt
    deadlines_missed: NonNegativeInt
    mean_days: float | None
    bound: NonNegativeInt
    plan_bound: NonNegativeInt | None
    objective: tuple[int, int, int]
    stop_reason: str
    iterations: NonNegativeInt


class WhatIfComparison(FrozenModel):
    """The plan before, with the proposal, and with the two baselines of the same size."""

    before: PlanFigures
    proposed: PlanFigures
    random: PlanFigures
    longest_queue: PlanFigures
    seed: int
    baseline_seed: int
    max_iterations: NonNegativeInt

    def reduction(self, figures: PlanFigures) -> int:
        """Patients missing a deadline before less with ``figures``' additions."""
        return self.before.patients_missing - figures.patients_missing

    @property
    def ratio_to_random(self) -> float | None:
        """The proposal's reduction ÷ the random one's (``None`` when random reduced none)."""
        base = self.reduction(self.random)
        return self.reduction(self.proposed) / base if base > 0 else None

    def summary(self) -> str:
        """The four plans side by side."""
        head = f"{'':<16}{'slots':>6}{'missing':>9}{'deadlines':>10}{'mean days':>10}{'bound':>7}"
        lines = [head]
        for f in (self.before, self.proposed, self.random, self.longest_queue):
            days = f"{f.mean_days:.2f}" if f.mean_days is not None else "—"
            lines.append(
                f"{f.label:<16}{f.slots_changed:>6}{f.patients_missing:>9}"
                f"{f.deadlines_missed:>10}{days:>10}{f.bound:>7}"
            )
        ratio = self.ratio_to_random
        lines.append(
            "proposed ÷ random reduction of patients missing: "
            + (f"{ratio:.2f}" if ratio is not None else "random reduced none")
        )
        return "\n".join(lines)


class WithdrawalCheck(FrozenModel):
    """The plan before and after withdrawing slots."""

    before: PlanFigures
    after: PlanFigures
    withdrawn: tuple[str, ...]
