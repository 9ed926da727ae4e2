"""``prepare_index``: what plan_route keeps on an index, built ahead of the first requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.instances import make_instance

from nosology.pathway import VisitMode
from route_helpers import facility, make_pathway, slot, stage
from routing import SlotIndex, plan_route, prepare_index
from routing.examples import example_text, load_example
from routing.live import LiveSlots
from routing.service.context import ServiceContext
from test_plan_bruteforce import DAYS


def _stage_bases(index: SlotIndex) -> set[object]:
    return {key for key in index.cache if isinstance(key, tuple) and key[0] == "stage-base"}


def _links(index: SlotIndex) -> set[object]:
    return set(index.cache.get("links", {}))


def test_a_prepared_index_plans_the_same_routes_and_builds_nothing_more() -> None:
    """Every request plans to the same result on a prepared index as on a fresh one, and the
    requests add no stage base and no pathway's links to the prepared index (they were all
    built ahead)."""
    instance = make_instance("small", 3)
    fresh = SlotIndex.build(instance.facilities, instance.slots)
    prepared = SlotIndex.build(instance.facilities, instance.slots)
    count = prepare_index(prepared, pathways=instance.pathways)
    assert count > 0
    built = _stage_bases(prepared)
    assert built
    assert not _stage_bases(fresh)
    links = _links(prepared)
    assert links
    assert not _links(fresh)
    for request in instance.requests[:40]:
        ours = plan_route(request, prepared, pathways=instance.pathways)
        theirs = plan_route(request, fresh, pathways=instance.pathways)
        assert ours.status == theirs.status
        assert ours.objective == theirs.objective
        assert ours.bookings == theirs.bookings
    assert _stage_bases(prepared) == built
    assert _stage_bases(fresh) <= built
    assert _links(prepared) == links


def test_prepare_a_live_state_for_what_its_requests_read() -> None:
    """A live state is prepared for requests over it (places may be taken): planning over it
    builds nothing more, and a second call builds nothing new."""
    instance = make_instance("small", 2)
    live = LiveSlots.build(instance.facilities, instance.slots)
    first = prepare_index(live, pathways=instance.pathways)
    built = _stage_bases(live.index)
    assert built
    assert prepare_index(live, pathways=instance.pathways) == first
    assert _stage_bases(live.index) == built
    for request in instance.requests[:30]:
        plan_route(request, live, pathways=instance.pathways)
    assert _stage_bases(live.index) == built


def test_an_either_stage_is_prepared_in_each_mode_it_is_offered_in() -> None:
    """A stage done in person or remotely gets a stage base for each mode its slots offer."""
    pathway = make_pathway(
        [stage("consult"), stage("treat", after=["consult"], mode=VisitMode.EITHER)]
    )
    slots = [
        slot("C1", "consult", DAYS[0], "10:00"),
        slot("T1", "treat", DAYS[1], "15:00"),
        slot("T2", "treat", DAYS[2], "11:00", mode=VisitMode.REMOTE),
    ]
    index = SlotIndex.build([facility("F1")], slots)
    prepare_index(index, pathways={pathway.id: pathway})
    modes = {key[3] for key in _stage_bases(index) if key[1] == ("nmu:TREAT",)}  # type: ignore[index]
    assert modes == {VisitMode.IN_PERSON, VisitMode.REMOTE}


def test_the_service_prepares_its_index_when_it_opens(tmp_path: Path) -> None:
    """The HTTP service's context prepares the published slots' index once, at start."""
    problem = tmp_path / "problem.json"
    problem.write_text(example_text(), encoding="utf-8")
    context = ServiceContext.open(f"sqlite:///{tmp_path / 'journal.db'}", [problem], time_limit=1)
    try:
        live = context.state().live
        assert live is not None
        built = _stage_bases(live.index)
        assert built
        result = context.plan(load_example().requests[0])
        assert result.has_route
        assert _stage_bases(live.index) == built  # the requests read what was prepared
    finally:
        context.close()


def test_prepare_refuses_what_is_not_an_index_or_a_pathway_naming_it() -> None:
    """Not an index, or a pathway that is not one: a TypeError naming the argument and key; an
    index without slots prepares (nothing to read, no error)."""
    instance = make_instance("tiny", 1)
    empty = SlotIndex.build(instance.facilities, [])
    assert prepare_index(empty) > 0
    with pytest.raises(TypeError, match="index: expected a SlotIndex or LiveSlots, not str"):
        prepare_index("slots.csv")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pathways\['mine'\]: expected a Pathway, not int"):
        prepare_index(empty, pathways={"mine": 3})  # type: ignore[dict-item]
