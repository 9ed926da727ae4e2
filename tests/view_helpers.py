"""Small problems and renderers shared by the tests of the patient's and doctor's views."""

from __future__ import annotations

from typing import Any

from nosology.pathway import Pathway
from routing.calendar import calendar_for
from routing.examples import load_example
from routing.problem import Problem, load_problem
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.solve.plan import plan_route, resolve_pathway
from routing.views.timeline import Timeline, build_timeline

HOME = {"lat": 59.90, "lon": 30.30}
DAYS = {
    1: "2026-05-18",
    2: "2026-05-19",
    3: "2026-05-20",
    4: "2026-05-21",
    5: "2026-05-22",
    6: "2026-05-25",
    7: "2026-05-26",
    8: "2026-05-27",
    9: "2026-05-28",
    10: "2026-05-29",
}

PATHWAY: dict[str, Any] = {
    "id": "test_views_route",
    "title": {"ru": "Тестовый маршрут", "en": "Test route"},
    "applicability": {"codes": ["Q99"]},
    "stages": [
        {
            "id": "consult",
            "title": {"ru": "Консультация", "en": "Consultation"},
            "public_title": {"ru": "Приём специалиста", "en": "Specialist visit"},
            "preparation": {"ru": "Приходите заранее.", "en": "Come early."},
            "bring": {"ru": "паспорт", "en": "passport"},
            "services": ["svc:consult"],
        },
        {
            "id": "scan",
            "title": {"ru": "Сканирование", "en": "Scan"},
            "public_title": {"ru": "Обследование", "en": "Examination"},
            "preparation": {"ru": "Не ешьте 4 часа.", "en": "Do not eat for 4 hours."},
            "services": ["svc:scan"],
            "after": ["consult"],
        },
        {
            "id": "review",
            "title": {"ru": "Разбор", "en": "Review"},
            "services": ["svc:review"],
            "mode": "remote",
            "after": ["scan"],
        },
    ],
    "constraints": [
        {
            "from_event": "scan.end",
            "to_event": "review.start",
            "min": 1,
            "unit": "calendar_days",
            "source": "test assumption",
        }
    ],
}

FACILITIES: list[dict[str, Any]] = [
    {
        "id": "FAR",
        "name": "Дальняя поликлиника № 1 имени Ю. А. Гагарина",
        "location": {"lat": 60.10, "lon": 30.30},
        "address": "Санкт-Петербург, Выборгское шоссе, д. 200",
        "phone": "+7 (812) 000-00-01",
        "level": 1,
        "services": ["svc:consult", "svc:scan", "svc:review"],
    },
    {
        "id": "NEAR",
        "name": "Ближняя поликлиника",
        "location": {"lat": 59.905, "lon": 30.30},
        "address": "Санкт-Петербург, ул. Ближняя, д. 1",
        "phone": "+7 (812) 000-00-02",
        "level": 1,
        "services": ["svc:consult", "svc:scan"],
    },
    {
        "id": "PREF",
        "name": "Любимая клиника",
        "location": {"lat": 59.95, "lon": 30.30},
        "level": 1,
        "services": ["svc:consult", "svc:scan"],
    },
]


def _slot(n: int, facility: str, service: str, day: int, start: str, end: str) -> dict[str, Any]:
    slot: dict[str, Any] = {
        "id": f"s{n:02d}",
        "facility_id": facility,
        "service": f"svc:{service}",
        "start": f"{DAYS[day]}T{start}:00+03:00",
        "end": f"{DAYS[day]}T{end}:00+03:00",
    }
    if service == "review":
        slot["mode"] = "remote"
    else:
        slot["room"] = f"Кабинет {100 + n}"
    return slot


SLOTS = [
    _slot(1, "FAR", "consult", 1, "09:00", "09:30"),
    _slot(2, "FAR", "scan", 2, "09:00", "09:20"),
    _slot(3, "FAR", "review", 3, "10:00", "10:30"),
    _slot(4, "FAR", "consult", 4, "09:00", "09:30"),
    _slot(5, "FAR", "scan", 4, "10:00", "10:20"),
    _slot(6, "FAR", "review", 5, "10:00", "10:30"),
    _slot(7, "NEAR", "consult", 5, "09:00", "09:30"),
    _slot(8, "NEAR", "scan", 6, "09:00", "09:20"),
    _slot(9, "FAR", "review", 7, "10:00", "10:30"),
    _slot(10, "PREF", "consult", 8, "09:00", "09:30"),
    _slot(11, "PREF", "scan", 9, "09:00", "09:20"),
    _slot(12, "FAR", "review", 10, "10:00", "10:30"),
]


def choice_problem(*, slots: list[dict[str, Any]] | None = None) -> Problem:
    """A problem with one request whose fastest route has three alternatives."""
    return load_problem(
        {
            "format_version": 1,
            "facilities": FACILITIES,
            "slots": SLOTS if slots is None else slots,
            "pathways": [PATHWAY],
            "requests": [
                {
                    "id": "Q-1",
                    "patient": {"id": "P-1", "location": HOME, "preferred_facilities": ["PREF"]},
                    "pathway_id": "test_views_route",
                    "referral": "2026-05-18T08:00:00+03:00",
                }
            ],
        }
    )


def index_of(problem: Problem) -> SlotIndex:
    """The slot index of ``problem``, as the CLI builds it."""
    return SlotIndex.build(
        problem.facilities,
        problem.slots,
        calendar=calendar_for(problem.timezone),
        travel=problem.travel,
    )


def planned(
    problem: Problem, request_id: str | None = None
) -> tuple[RouteResult, SlotIndex, Pathway]:
    """The fastest route of a request (the first by default), its index and pathway."""
    index = index_of(problem)
    request = problem.requests[0] if request_id is None else problem.request(request_id)
    pathways = {p.id: p for p in problem.pathways}
    result = plan_route(request, index, pathways=pathways)
    assert result.has_route
    return result, index, resolve_pathway(request, None, pathways)


def example_timeline(request_id: str = "R-0001", language: str = "ru") -> Timeline:
    """The timeline of a request of the built-in example."""
    result, index, pathway = planned(load_example(), request_id)
    return build_timeline(result, index, pathway, language=language)  # type: ignore[arg-type]
