"""The search's lower bound on the completion: the days the open in-person stages need."""

from __future__ import annotations

import pytest

from route_helpers import facility, make_pathway, make_request, patient, slot, stage
from routing.slot_index import SlotIndex
from routing.solve import search as search_module
from routing.solve.compiled import compile_request
from test_plan_bruteforce import DAYS, REFERRAL


def _parallel_tests(max_visits: int) -> search_module.SearchOutcome:
    """A consultation, then three in-person tests in any order, each bookable on days 1-4 (the
    lab at 09:00, the ECG at 10:00, the X-ray at 11:00)."""
    pathway = make_pathway(
        [stage("consult"), *(stage(t, after=["consult"]) for t in ("lab", "ecg", "xray"))]
    )
    slots = [slot("C", "consult", DAYS[0])] + [
        slot(f"{t}{d}", t, DAYS[d], hhmm)
        for t, hhmm in (("lab", "09:00"), ("ecg", "10:00"), ("xray", "11:00"))
        for d in range(1, 5)
    ]
    index = SlotIndex.build([facility("F1")], slots)
    request = make_request(pathway, REFERRAL, patient=patient(max_visits_per_day=max_visits))
    return search_module.search(compile_request(request, pathway, index, merge_twins=True))


@pytest.mark.parametrize(
    ("max_visits", "ends_at"), [(1, (3, "09:30")), (2, (2, "09:30")), (3, (1, "11:30"))]
)
def test_stages_that_cannot_share_their_first_day_raise_the_root_bound(
    max_visits: int, ends_at: tuple[int, str]
) -> None:
    """With at most ``max_visits`` visits a day the three tests need ``ceil(3 / max_visits)``
    days from day 1 (the lab last, on the last of them): the root's bound on the completion
    says so, equal to the optimum, though the lags alone allow every test on day 1."""
    outcome = _parallel_tests(max_visits)
    assert outcome.key is not None
    assert outcome.root_bound is not None
    completion = outcome.key[0]
    day, hhmm = ends_at
    hours, minutes = (int(x) for x in hhmm.split(":"))
    assert completion == day * 1440 + (hours - 8) * 60 + minutes  # the referral: day 0, 08:00
    assert outcome.root_bound[0] == completion
    assert outcome.proven
