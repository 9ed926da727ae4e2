"""Patient routing: the fastest complete route through a care pathway over real appointment slots.

The public API, flat: the domain models and the problem file, the working calendar, the slot
index and its live capacity, the single-patient planner and its result, the independent route
evaluator, batch planning of a cohort, and the exceptions. Diagnosis codes and
pathways live in :mod:`nosology`.

Examples
--------
>>> from routing import SlotIndex, plan_route
>>> from routing.examples import load_example
>>> problem = load_example()
>>> index = SlotIndex.build(problem.facilities, problem.slots, travel=problem.travel)
>>> plan_route(problem.requests[0], index).has_route
True
"""

from routing._version import __version__
from routing.batch import BatchResult, plan_batch
from routing.calendar import WorkingCalendar, default_calendar
from routing.domain import (
    Facility,
    GeoPoint,
    Patient,
    Period,
    RouteRequest,
    Slot,
    TravelModel,
)
from routing.evaluate import RouteEvaluation, Violation, evaluate_route
from routing.exceptions import (
    CalendarRangeError,
    InvalidInputError,
    InvalidProblemError,
    NaiveDatetimeError,
    NotHeldError,
    OverCapacityError,
    RoutingError,
    SlotStateError,
    SlotWithdrawnError,
    UnknownSlotError,
)
from routing.live import LiveSlots, LiveSnapshot, SlotState
from routing.problem import Problem, dump_problem, load_problem, problem_json_schema
from routing.reading import ProblemReading, read_problem
from routing.result import (
    Booking,
    DeadlineOutcome,
    Objective,
    RouteResult,
    SolveStatus,
    StageWait,
)
from routing.slot_index import SlotIndex
from routing.solve import SolveOptions, plan_route, prepare_index

__all__ = [
    "BatchResult",
    "Booking",
    "CalendarRangeError",
    "DeadlineOutcome",
    "Facility",
    "GeoPoint",
    "InvalidInputError",
    "InvalidProblemError",
    "LiveSlots",
    "LiveSnapshot",
    "NaiveDatetimeError",
    "NotHeldError",
    "Objective",
    "OverCapacityError",
    "Patient",
    "Period",
    "Problem",
    "ProblemReading",
    "RouteEvaluation",
    "RouteRequest",
    "RouteResult",
    "RoutingError",
    "Slot",
    "SlotIndex",
    "SlotState",
    "SlotStateError",
    "SlotWithdrawnError",
    "SolveOptions",
    "SolveStatus",
    "StageWait",
    "TravelModel",
    "UnknownSlotError",
    "Violation",
    "WorkingCalendar",
    "__version__",
    "default_calendar",
    "dump_problem",
    "evaluate_route",
    "load_problem",
    "plan_batch",
    "plan_route",
    "prepare_index",
    "problem_json_schema",
    "read_problem",
]
