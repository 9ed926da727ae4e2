"""``SlotIndex.for_problem``: a problem's slots in its own zone's calendar, with its travel."""

from __future__ import annotations

from routing.calendar import default_calendar
from routing.domain import TravelModel
from routing.region import RegionParameters, generate_region
from routing.slot_index import SlotIndex


def test_for_problem_reads_the_problems_zone_and_travel() -> None:
    """The index has every slot of the problem, the calendar of the problem's timezone (not the
    default one when the zone differs) and the problem's travel model (not the default)."""
    problem = generate_region(RegionParameters(patients=20, seed=3))
    travel = TravelModel(speed_kmh=7.0, overhead_minutes=41)
    elsewhere = problem.model_copy(update={"timezone": "Asia/Yekaterinburg", "travel": travel})
    index = SlotIndex.for_problem(elsewhere)
    assert index.calendar.zone.key == "Asia/Yekaterinburg"
    assert index.calendar is not default_calendar()
    assert index.travel == travel
    assert {s.id for s in index.slots} == {s.id for s in problem.slots}
    home = SlotIndex.for_problem(problem)
    assert home.calendar.zone.key == (problem.timezone or default_calendar().zone.key)
    assert home.travel == problem.travel
