"""What-if capacity: the flow bound, proposals, withdrawals, verification and bad input."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from datetime import date, time

import numpy as np
import pytest
from benchmarks.bench_whatif import run as bench_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.batch import plan_batch
from routing.batch.matching import match_first_deadlines
from routing.batch.report import build_report
from routing.batch.whatif import (
    CandidateSlot,
    CapacityBudget,
    ReplanOptions,
    copy_slot,
    longest_queue_additions,
    propose_additions,
    random_additions,
    rank_withdrawals,
    replan,
    verify,
    verify_withdrawals,
)
from routing.batch.whatif.candidates import WhatIfSetting, setting
from routing.domain import Slot
from routing.exceptions import InvalidInputError
from routing.problem import Problem
from routing.region import RegionParameters, generate_region
from routing.slot_index import SlotIndex


@pytest.fixture(scope="module")
def problem() -> Problem:
    """A small contended region: 60 patients, contention 1.0, seed 3 (26 must miss)."""
    return generate_region(RegionParameters(patients=60, contention=1.0, seed=3))


@pytest.fixture(scope="module")
def base(problem: Problem) -> WhatIfSetting:
    """The problem's cohort, network and free places."""
    return setting(problem)


def _augmented(
    s: WhatIfSetting, added: Sequence[Slot] = (), gone: set[str] | None = None
) -> WhatIfSetting:
    """A fresh setting over the index with ``added`` slots and without ``gone`` ids."""
    gone = gone or set()
    index = SlotIndex.build(
        s.index.facilities,
        [x for x in s.index.slots if x.id not in gone] + list(added),
        calendar=s.index.calendar,
        travel=s.index.travel,
    )
    return setting((s.requests, index))


def test_network_bound_equals_the_matching(base: WhatIfSetting) -> None:
    """The network's bound is the first-deadline matching's must-miss count."""
    matching = match_first_deadlines(base.cohort, base.cohort.plannable())
    assert base.network.bound(base.free) == matching.must_miss
    assert base.network.entries == matching.entries
    assert matching.must_miss > 0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12))
def test_adding_places_never_raises_the_bound(base: WhatIfSetting, picks: list[int]) -> None:
    """Each place added anywhere leaves the bound equal or lower, one place lowering it by ≤ 1."""
    free = base.free.copy()
    bound = base.network.bound(free)
    for pick in picks:
        free[pick % len(free)] += 1
        after = base.network.bound(free)
        assert bound - 1 <= after <= bound
        bound = after


def test_min_cut_names_where_capacity_binds(base: WhatIfSetting) -> None:
    """A place in a group on the source side lowers the bound by one; elsewhere, by none."""
    solution = base.network.solve(base.free)
    group_of = base.network.group_of
    binding = [
        p for p in range(len(group_of)) if group_of[p] >= 0 and solution.reachable[group_of[p]]
    ]
    other = [
        p for p in range(len(group_of)) if group_of[p] >= 0 and not solution.reachable[group_of[p]]
    ]
    assert binding
    assert other
    for p in binding[:10] + other[:10]:
        free = base.free.copy()
        free[p] += 1
        expected = 1 if p in binding else 0
        assert solution.must_miss - base.network.bound(free) == expected


def test_proposal_improvement_equals_the_resolved_flow(
    problem: Problem, base: WhatIfSetting
) -> None:
    """The proposal's bound after equals the bound solved afresh on the index with its slots."""
    proposal = propose_additions(problem, CapacityBudget(slots=6))
    assert len(proposal.additions) == 6
    assert proposal.bound_before == base.network.bound(base.free)
    chain = proposal.bound_before
    for a in proposal.additions:
        assert a.bound_before == chain
        assert a.improvement >= 1
        chain = a.bound_after
    assert chain == proposal.bound_after
    fresh = _augmented(base, proposal.slots)
    assert fresh.network.bound(fresh.free) == proposal.bound_after < proposal.bound_before


def test_proposal_is_deterministic_and_copies_slots(problem: Problem) -> None:
    """The same budget gives the same slots; each copies its original but for id and resource."""
    a = propose_additions(problem, CapacityBudget(slots=4, working_days=5))
    b = propose_additions(problem, CapacityBudget(slots=4, working_days=5))
    assert a == b
    index = setting(problem).index
    for addition in a.additions:
        original = index.slots[index.slot_position[addition.copy_of]]
        new = addition.slot
        assert new.id != original.id
        assert new.resource != original.resource
        assert (new.facility_id, new.service, new.start, new.end, new.capacity) == (
            original.facility_id,
            original.service,
            original.start,
            original.end,
            original.capacity,
        )
        assert addition.day in a.days


def test_budget_filters_are_respected(problem: Problem, base: WhatIfSetting) -> None:
    """Every addition is of an allowed service and on a day of the window."""
    services = tuple(sorted(base.index.by_service))[:3]
    proposal = propose_additions(
        problem, CapacityBudget(slots=3, working_days=4, services=services)
    )
    assert len(proposal.days) == 4
    for a in proposal.additions:
        assert a.service in services
        assert a.day in proposal.days
    assert set(proposal.pool) <= {x.id for x in base.index.slots if str(x.service) in services}


def test_candidate_list_is_ranked_and_each_used_once(problem: Problem, base: WhatIfSetting) -> None:
    """A list of candidates: each at most once, the helpful ones first, bound as re-solved."""
    proposal = propose_additions(problem, CapacityBudget(slots=3))
    cal = base.index.calendar
    helpful = [
        CandidateSlot(a.facility_id, a.service, a.day, a.slot.start.astimezone(cal.zone).time())
        for a in proposal.additions
    ]
    useless = base.index.slots[int(np.flatnonzero(base.network.group_of < 0)[0])]
    idle = CandidateSlot(useless.facility_id, str(useless.service), cal.local_date(useless.start))
    ranked = propose_additions(problem, [idle, *helpful])
    assert Counter(a.copy_of for a in ranked.additions) == Counter(
        a.copy_of for a in proposal.additions
    )
    assert useless.id not in {a.copy_of for a in ranked.additions}
    assert all(a.improvement >= 1 for a in ranked.additions)
    assert ranked.bound_after == proposal.bound_after
    assert ranked.note  # the idle candidate was not proposed


def test_bad_budgets_raise_naming_the_field() -> None:
    """A budget of zero or fewer slots, or an empty window, is an InvalidInputError."""
    for slots in (0, -3):
        with pytest.raises(InvalidInputError) as err:
            CapacityBudget(slots=slots)
        assert err.value.field == "slots"
    with pytest.raises(InvalidInputError) as err:
        CapacityBudget(slots=2, working_days=0)
    assert err.value.field == "working_days"
    with pytest.raises(InvalidInputError) as err:
        CapacityBudget(slots=2, services=())
    assert err.value.field == "services"


def test_bad_candidates_raise_naming_the_field(problem: Problem, base: WhatIfSetting) -> None:
    """Unknown facility or service, no slot to copy, an empty list: each names its field."""
    slot = base.index.slots[0]
    day = base.index.calendar.local_date(slot.start)
    cases = [
        (CandidateSlot("no-such-facility", str(slot.service), day), "facility_id"),
        (CandidateSlot(slot.facility_id, "nmu:NO.SUCH", day), "service"),
        (CandidateSlot(slot.facility_id, str(slot.service), date(2026, 1, 1)), "day"),
        (CandidateSlot(slot.facility_id, str(slot.service), day, time(3, 17)), "start"),
    ]
    for candidate, field in cases:
        with pytest.raises(InvalidInputError) as err:
            propose_additions(problem, [candidate])
        assert err.value.field == field
        assert err.value.record == "candidates[0]"
    with pytest.raises(InvalidInputError):
        propose_additions(problem, [])
    for budget in (
        CapacityBudget(slots=1, first_day=date(1900, 1, 1)),
        CapacityBudget(slots=1, services=("nmu:NO.SUCH",)),
        CapacityBudget(slots=1, facilities=("no-such-facility",)),
    ):
        with pytest.raises(InvalidInputError) as err:
            propose_additions(problem, budget)
        assert err.value.field.split(".")[0] in ("first_day", "services", "facilities")


def test_empty_cohort_gives_an_empty_correct_proposal(base: WhatIfSetting) -> None:
    """No requests: nothing proposed or withdrawn at a harm, bound 0, no traceback."""
    proposal = propose_additions(((), base.index), CapacityBudget(slots=5))
    assert proposal.additions == ()
    assert proposal.bound_before == proposal.bound_after == 0
    assert proposal.note
    assert "0 of 5" in proposal.summary()
    withdrawal = rank_withdrawals(((), base.index), CapacityBudget(slots=3))
    assert all(w.harm == 0 for w in withdrawal.withdrawals)


def test_withdrawals_harm_as_resolved(problem: Problem, base: WhatIfSetting) -> None:
    """Withdrawals' bound after equals the bound re-solved without them; harm never negative."""
    proposal = rank_withdrawals(problem, CapacityBudget(slots=8, working_days=3))
    assert len(proposal.withdrawals) == 8
    assert proposal.bound_before == base.network.bound(base.free)
    for w in proposal.withdrawals:
        assert w.harm >= 0
    fresh = _augmented(base, gone={w.slot_id for w in proposal.withdrawals})
    assert fresh.network.bound(fresh.free) == proposal.bound_after
    assert proposal.bound_after == proposal.bound_before  # slack exists in a 3-day window


def test_withdrawals_exhaust_to_harmful_ones(problem: Problem, base: WhatIfSetting) -> None:
    """Withdrawing every slot of the window's first day ends with exact, positive harms."""
    first = base.index.calendar.local_date(min(x.start for x in base.index.slots))
    n = sum(base.index.calendar.local_date(x.start) == first for x in base.index.slots)
    proposal = rank_withdrawals(
        problem, CapacityBudget(slots=n + 5, working_days=1, first_day=first)
    )
    assert proposal.note
    assert len(proposal.withdrawals) <= n
    harms = [w.harm for w in proposal.withdrawals]
    assert harms == sorted(harms) or sum(harms) == proposal.bound_after - proposal.bound_before
    assert sum(harms) == proposal.bound_after - proposal.bound_before
    fresh = _augmented(base, gone={w.slot_id for w in proposal.withdrawals})
    assert fresh.network.bound(fresh.free) == proposal.bound_after


def test_verification_counts_match_plan_batch(problem: Problem, base: WhatIfSetting) -> None:
    """Re-plan figures are plan_batch's own: planned, deadlines missed, mean days, its bound."""
    options = ReplanOptions(seed=2, max_iterations=15)
    figures, result = replan(base, "before", options=options)
    direct = plan_batch(
        problem, seed=2, max_iterations=15, time_limit=3600, polish_share=0.0, exact_max_patients=0
    )
    report = build_report(direct, base.index)
    assert figures.objective == direct.objective.key() == result.objective.key()
    assert figures.planned == report.planned
    assert figures.deadlines_missed == report.deadlines_total.measured - report.deadlines_total.met
    assert figures.mean_days == report.completion.mean_days
    assert figures.plan_bound == direct.capacity_bound.first_deadline_misses
    missing = sum(
        any(not d.met for d in r.deadlines if not d.hard) for r in direct.routes if r.has_route
    )
    assert figures.patients_missing == missing
    assert figures.bound == base.network.bound(base.free)


def test_verify_compares_three_additions_of_the_same_size(problem: Problem) -> None:
    """Proposal, random and longest queue each add as many slots; the proposal's bound is lowest."""
    proposal = propose_additions(problem, CapacityBudget(slots=5))
    options = ReplanOptions(seed=0, max_iterations=10)
    comparison = verify(proposal, problem, options=options, baseline_seed=4)
    assert comparison.proposed.slots_changed == 5
    assert comparison.random.slots_changed == comparison.longest_queue.slots_changed == 5
    assert comparison.proposed.bound == proposal.bound_after
    assert comparison.proposed.bound <= min(comparison.random.bound, comparison.longest_queue.bound)
    assert comparison.before.bound == proposal.bound_before
    assert "longest queue" in comparison.summary()
    again = verify(proposal, problem, options=options, baseline_seed=4)
    assert again == comparison


def test_baselines_draw_from_the_pool(problem: Problem, base: WhatIfSetting) -> None:
    """Random and longest-queue slots copy pool slots, deterministically by seed."""
    proposal = propose_additions(problem, CapacityBudget(slots=4, working_days=6))
    pool = set(proposal.pool)
    a = random_additions(base, proposal, 1)
    assert a == random_additions(base, proposal, 1)
    assert len(a) == 4
    assert all(x.id.split("/", 2)[2] in pool for x in a)
    before = replan(base, "before", options=ReplanOptions(max_iterations=5))[1]
    q = longest_queue_additions(base, proposal, before)
    assert len(q) == 4
    assert all(x.id.split("/", 2)[2] in pool for x in q)


def test_verify_withdrawals_replans_without_them(problem: Problem) -> None:
    """The check re-plans without the chosen slots: the after plan books none of them."""
    proposal = rank_withdrawals(problem, CapacityBudget(slots=4, working_days=3))
    check = verify_withdrawals(proposal, problem, top=2, options=ReplanOptions(max_iterations=5))
    assert check.withdrawn == tuple(w.slot_id for w in proposal.withdrawals[:2])
    assert check.after.slots_changed == 2
    assert check.before.slots_changed == 0
    with pytest.raises(InvalidInputError):
        verify_withdrawals(proposal, problem, top=0)


def test_copy_slot_ids_are_deterministic(base: WhatIfSetting) -> None:
    """A copy's id and resource depend only on the original and the number."""
    slot = base.index.slots[5]
    assert copy_slot(slot, 3) == copy_slot(slot, 3)
    assert copy_slot(slot, 3).id != copy_slot(slot, 4).id


def test_benchmark_smoke() -> None:
    """The benchmark runs end to end on a tiny cohort and prints the three plans side by side."""
    out = io.StringIO()
    figures = bench_run(40, 2, [2], iterations=5, withdraw=2, contention=0.6, out=out)
    text = out.getvalue()
    assert "proposed" in text
    assert "random" in text
    assert "longest queue" in text
    assert figures["budgets"][0]["slots"] == 2
    assert figures["withdraw"]["after"]["slots_changed"] == 2


def test_docstring_examples_run() -> None:
    """The doctested example of propose_additions holds."""
    import doctest

    import routing.batch.whatif.propose as module

    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0
