"""The doctor's proposal: the fastest route and alternatives that differ in a way that matters."""

from __future__ import annotations

import json

from routing.evaluate import evaluate_route
from routing.examples import load_example
from routing.problem import Problem
from routing.solve.plan import resolve_pathway
from routing.views.html import doctor_page, doctor_view
from routing.views.proposals import MIN_TRAVEL_SAVING, OptionKind, Proposal, propose
from view_helpers import choice_problem, index_of


def _propose(problem: Problem, request_id: str | None = None) -> Proposal:
    request = problem.requests[0] if request_id is None else problem.request(request_id)
    return propose(request, index_of(problem), pathways={p.id: p for p in problem.pathways})


def test_three_alternatives_each_better_in_what_it_is_for() -> None:
    """Fewer visit days, less travel and the preferred facility each beat the fastest there."""
    proposal = _propose(choice_problem())
    kinds = [o.kind for o in proposal.options]
    assert kinds == [
        OptionKind.FASTEST,
        OptionKind.FEWER_VISIT_DAYS,
        OptionKind.CLOSER,
        OptionKind.PREFERRED,
    ]
    fastest = proposal.fastest.objective
    assert fastest is not None
    by_kind = {o.kind: o for o in proposal.options}
    fewer = by_kind[OptionKind.FEWER_VISIT_DAYS]
    assert fewer.result.objective is not None
    assert fewer.result.objective.visit_days < fastest.visit_days
    assert fewer.visit_days_fewer == 1
    closer = by_kind[OptionKind.CLOSER]
    assert closer.travel_minutes_less >= MIN_TRAVEL_SAVING
    assert {b.facility_id for b in closer.result.bookings if b.mode.value == "in_person"} == {
        "NEAR"
    }
    preferred = by_kind[OptionKind.PREFERRED]
    assert preferred.non_preferred_fewer == 2
    for option in proposal.alternatives:
        assert option.completion_days_later > 0  # the fastest is the fastest


def test_alternatives_differ_from_the_fastest_and_from_each_other() -> None:
    """No two options book the same set of slots."""
    proposal = _propose(choice_problem())
    slot_sets = [frozenset(b.slot_id for b in o.result.bookings) for o in proposal.options]
    assert len(set(slot_sets)) == len(slot_sets) == 4


def test_every_option_is_feasible_by_the_independent_evaluator() -> None:
    """evaluate_route finds each option feasible, with the objective the planner reported."""
    for problem in (choice_problem(), load_example()):
        index = index_of(problem)
        pathways = {p.id: p for p in problem.pathways}
        for request in problem.requests:
            proposal = propose(request, index, pathways=pathways)
            pathway = resolve_pathway(request, None, pathways)
            for option in proposal.options:
                evaluation = evaluate_route(
                    request,
                    pathway,
                    {b.stage_id: b.slot_id for b in option.result.bookings},
                    slots=problem.slots,
                    facilities=problem.facilities,
                    travel=problem.travel,
                )
                assert evaluation.feasible, evaluation.violations
                assert option.result.objective is not None
                assert evaluation.objective == option.result.objective.key()


def test_no_alternative_is_kept_when_none_improves() -> None:
    """With only the fastest route's slots free, the proposal is the fastest alone."""
    problem = choice_problem()
    fastest = _propose(problem).fastest
    used = {b.slot_id for b in fastest.bookings}
    only = problem.model_copy(update={"slots": tuple(s for s in problem.slots if s.id in used)})
    proposal = _propose(only)
    assert [o.kind for o in proposal.options] == [OptionKind.FASTEST]
    view = doctor_view(proposal, index_of(only), None, language="en")
    assert "No alternative differs" in doctor_page(view)


def test_without_a_route_the_proposal_says_why() -> None:
    """An infeasible request gives no options; the page shows the status and the reasons."""
    problem = choice_problem()
    none = problem.model_copy(
        update={"slots": tuple(s for s in problem.slots if s.service.code != "review")}
    )
    proposal = _propose(none)
    assert not proposal.fastest.has_route
    assert proposal.options == ()
    assert proposal.alternatives == ()
    view = doctor_view(proposal, index_of(none), None, language="ru")
    assert view.options == ()
    page = doctor_page(view)
    assert "Маршрута нет: INFEASIBLE" in page


def test_doctor_view_figures_match_the_results_and_serialise() -> None:
    """Each option's completion, visits, travel and deadlines come from its result; JSON-able."""
    problem = load_example()
    request = problem.request("R-0001")
    proposal = _propose(problem, "R-0001")
    pathway = resolve_pathway(request)
    view = doctor_view(proposal, index_of(problem), pathway, language="ru")
    assert view.pathway_title == "Подозрение на рак лёгкого"
    for option, shown in zip(proposal.options, view.options, strict=True):
        objective = option.result.objective
        assert objective is not None
        assert shown.visit_days == objective.visit_days
        assert shown.travel_minutes == objective.travel_minutes
        assert shown.deadlines_met == sum(d.met for d in option.result.deadlines)
        assert [s.stage_id for s in shown.stages] == [b.stage_id for b in option.result.bookings]
    document = json.loads(json.dumps(view.model_dump(mode="json"), ensure_ascii=False))
    assert document["options"][0]["kind"] == "fastest"
    assert document["options"][0]["stages"][0]["title"] == "Консультация онколога в ЦАОП"
    page = doctor_page(view)
    assert "Самый быстрый маршрут" in page
    assert "Консультация онколога в ЦАОП" in page


def test_alternatives_say_why_they_differ() -> None:
    """The 'why' names the gain and the cost in the page's language."""
    problem = choice_problem()
    proposal = _propose(problem)
    view = doctor_view(proposal, index_of(problem), problem.pathways[0], language="en")
    whys = {o.kind: o.why for o in view.options}
    assert "1 fewer visit day(s)" in whys[OptionKind.FEWER_VISIT_DAYS]
    assert "less travel" in whys[OptionKind.CLOSER]
    assert "at the preferred facility" in whys[OptionKind.PREFERRED]
    assert all("later" in whys[k] for k in whys if k is not OptionKind.FASTEST)


def test_proposals_are_deterministic() -> None:
    """The same request gives the same proposal."""
    first = _propose(choice_problem())
    second = _propose(choice_problem())
    assert [o.model_dump(exclude={"result": {"runtime_seconds"}}) for o in first.options] == [
        o.model_dump(exclude={"result": {"runtime_seconds"}}) for o in second.options
    ]


def test_deadline_margins_are_in_words() -> None:
    """Each deadline shows its slack (or overrun) with the unit, in the page's language."""
    problem = load_example()
    request = problem.request("R-0001")
    proposal = _propose(problem, "R-0001")
    pathway = resolve_pathway(request)
    ru = doctor_view(proposal, index_of(problem), pathway, language="ru")
    en = doctor_view(proposal, index_of(problem), pathway, language="en")
    for shown_ru, shown_en, outcome in zip(
        ru.options[0].deadlines, en.options[0].deadlines, proposal.fastest.deadlines, strict=True
    ):
        assert outcome.met
        assert shown_ru.margin == f"запас: {outcome.slack} раб. дн."
        assert shown_en.margin == f"slack: {outcome.slack} working days"
    assert "запас:" in doctor_page(ru)


def test_an_overrun_is_named_as_such() -> None:
    """A negative slack reads as an overrun of that much."""
    from routing.views.html import _margin
    from routing.views.i18n import texts_for

    assert _margin(-3, "calendar_days", texts_for("ru")) == "превышение: 3 календ. дн."
    assert _margin(-1, "hours", texts_for("en")) == "overrun: 1 hours"
    assert _margin(0, "minutes", texts_for("en")) == "slack: 0 minutes"
