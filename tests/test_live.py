"""Live slot capacity: commands, their errors, the extended index and planning over the state.

The central property: after any sequence of adds, withdrawals, holds, bookings, releases and
cancellations, ``plan_route`` over the live state returns the route it returns over an index
built afresh from the slots that still have a free place, and the live index equals the index
built from all the slots in the order they were added.
"""

from __future__ import annotations

import contextlib
import pickle
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from route_helpers import facility, make_pathway, make_request, slot, stage
from routing import (
    LiveSlots,
    NotHeldError,
    OverCapacityError,
    SlotStateError,
    SlotWithdrawnError,
    UnknownSlotError,
    plan_batch,
)
from routing.exceptions import CalendarRangeError, InvalidInputError
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.solve import SolveOptions, plan_route
from test_plan_bruteforce import DAYS, REFERRAL, instances

OPS = ("add", "withdraw", "hold", "book", "book_free", "release", "cancel")


def _live(n: int = 3, capacity: int = 1) -> LiveSlots:
    slots = [
        slot(f"S{i}", "a", DAYS[0], f"{9 + i:02d}:00").model_copy(update={"capacity": capacity})
        for i in range(n)
    ]
    return LiveSlots.build([facility("F1")], slots)


def _same_route(a: RouteResult, b: RouteResult) -> None:
    assert a.status == b.status
    assert [(x.stage_id, x.slot_id) for x in a.bookings] == [
        (x.stage_id, x.slot_id) for x in b.bookings
    ]
    assert a.objective == b.objective


class _Model:
    """The expected places of each slot, as plain counts."""

    def __init__(self) -> None:
        self.capacity: dict[str, int] = {}
        self.held: dict[str, int] = {}
        self.booked: dict[str, int] = {}
        self.withdrawn: set[str] = set()

    def free(self, slot_id: str) -> int:
        if slot_id in self.withdrawn:
            return 0
        return max(0, self.capacity[slot_id] - self.held[slot_id] - self.booked[slot_id])


def _apply(live: LiveSlots, model: _Model, op: str, slot_id: str) -> type[Exception] | None:
    """Run one command on both; the error class the model expects (``None``: success)."""
    known = slot_id in model.capacity
    expected: type[Exception] | None = None
    if not known:
        expected = UnknownSlotError
    elif slot_id in model.withdrawn and op in ("withdraw", "hold", "book_free", "book"):
        expected = SlotWithdrawnError
    elif op in ("hold", "book_free") and model.free(slot_id) < 1:
        expected = OverCapacityError
    elif (op in ("book", "release") and model.held[slot_id] < 1) or (
        op == "cancel" and model.booked[slot_id] < 1
    ):
        expected = NotHeldError
    command = {
        "withdraw": lambda: live.withdraw(slot_id),
        "hold": lambda: live.hold(slot_id),
        "book": lambda: live.book(slot_id),
        "book_free": lambda: live.book(slot_id, held=False),
        "release": lambda: live.release(slot_id),
        "cancel": lambda: live.cancel(slot_id),
    }[op]
    before = live.snapshot()
    if expected is not None:
        with pytest.raises(expected) as info:
            command()
        assert info.value.slot_id == slot_id
        assert slot_id in str(info.value)
        assert live.snapshot() == before, "a refused command changed the state"
        return expected
    command()
    if op == "withdraw":
        model.withdrawn.add(slot_id)
    elif op == "hold":
        model.held[slot_id] += 1
    elif op == "book":
        model.held[slot_id] -= 1
        model.booked[slot_id] += 1
    elif op == "book_free":
        model.booked[slot_id] += 1
    elif op == "release":
        model.held[slot_id] -= 1
    elif op == "cancel":
        model.booked[slot_id] -= 1
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instance=instances(), data=st.data())
def test_plan_over_live_state_equals_plan_over_rebuilt_index(instance, data) -> None:  # type: ignore[no-untyped-def]
    """Any command sequence: plan_route(live) is plan_route over an index of the free slots."""
    capacities = data.draw(st.lists(st.integers(1, 2), min_size=len(instance.slots)))
    slots = [
        s.model_copy(update={"capacity": capacities[i] if i < len(capacities) else 1})
        for i, s in enumerate(instance.slots)
    ]
    first = data.draw(st.integers(0, len(slots)))
    live = LiveSlots.build(instance.facilities, slots[:first], travel=instance.travel)
    model = _Model()
    for s in slots[:first]:
        model.capacity[s.id], model.held[s.id], model.booked[s.id] = s.capacity, 0, 0
    waiting = list(slots[first:])
    plan_between = data.draw(st.booleans())
    for _ in range(data.draw(st.integers(0, 25))):
        op = data.draw(st.sampled_from((*OPS, "add", "hold")))
        if op == "add":
            if waiting:
                s = waiting.pop(0)
                assert live.add(s) == len(live) - 1
                model.capacity[s.id], model.held[s.id], model.booked[s.id] = s.capacity, 0, 0
            if plan_between:  # the index is extended in steps, between plans
                plan_route(instance.request, live, options=SolveOptions(node_limit=2_000))
            continue
        known = sorted(model.capacity)
        named = st.sampled_from(known) if known else st.just("nowhere")
        slot_id = data.draw(named | st.sampled_from(("nowhere", slots[-1].id)))
        refused = _apply(live, model, op, slot_id)
        event(f"{op}: {'refused' if refused else 'done'}")
    for slot_id in model.capacity:
        state = live.state(slot_id)
        assert (state.held, state.booked) == (model.held[slot_id], model.booked[slot_id])
        assert state.free == model.free(slot_id)
        assert state.held + state.booked <= state.capacity or state.withdrawn
    # The live index is the index built from every slot in the order added.
    known = [live.slot(s.id) for s in slots if s.id in model.capacity]
    order = sorted(known, key=lambda s: live.position(s.id))
    built = SlotIndex.build(instance.facilities, order, travel=instance.travel)
    for name in ("start", "end", "day", "end_day", "facility", "open_day", "in_person", "id_rank"):
        assert np.array_equal(getattr(live.index, name), getattr(built, name)), name
    assert {k: v.tolist() for k, v in live.index.by_service.items()} == {
        k: v.tolist() for k, v in built.by_service.items()
    }
    assert dict(live.index.slot_position) == built.slot_position
    assert live.index.projected_slots == built.projected_slots
    free = {s.id for s in live.free_slots()}
    assert free == {s for s in model.capacity if model.free(s) > 0}
    assert live.blocked().tolist() == [model.free(s.id) == 0 for s in order]
    assert live.remaining().tolist() == [model.free(s.id) for s in order]
    rebuilt = SlotIndex.build(instance.facilities, live.free_slots(), travel=instance.travel)
    over_live = plan_route(instance.request, live)
    event(f"route {over_live.status.value}")
    event(f"slots free: {'all' if len(free) == len(model.capacity) else 'some'}")
    _same_route(over_live, plan_route(instance.request, rebuilt))
    for one in instance.pathway.stages:  # each stage alone: the candidates themselves
        alone = instance.request.model_copy(
            update={"pathway": make_pathway([one.model_copy(update={"after": ()})])}
        )
        over_live = plan_route(alone, live)
        event(f"one stage: route {over_live.status.value}")
        _same_route(over_live, plan_route(alone, rebuilt))


def test_errors_name_the_slot_and_leave_the_state() -> None:
    """Each refused command raises its own error naming the slot; all are SlotStateErrors."""
    live = _live()
    with pytest.raises(UnknownSlotError, match="'S9'"):
        live.hold("S9")
    with pytest.raises(NotHeldError, match="'S0'"):
        live.release("S0")
    with pytest.raises(NotHeldError, match="'S0'"):
        live.book("S0")
    with pytest.raises(NotHeldError, match="'S0'"):
        live.cancel("S0")
    live.hold("S0")
    with pytest.raises(OverCapacityError, match=r"'S0'.*capacity 1, held 1, booked 0"):
        live.hold("S0")
    live.withdraw("S1")
    with pytest.raises(SlotWithdrawnError, match="'S1'"):
        live.hold("S1")
    with pytest.raises(SlotWithdrawnError, match="'S1'"):
        live.withdraw("S1")
    assert issubclass(UnknownSlotError, LookupError)
    for error in (UnknownSlotError, NotHeldError, OverCapacityError, SlotWithdrawnError):
        assert issubclass(error, SlotStateError)
    err = pickle.loads(pickle.dumps(OverCapacityError("S0", "full")))
    assert (type(err), err.slot_id, str(err)) == (OverCapacityError, "S0", "slot 'S0': full")


def test_withdrawing_a_held_slot_keeps_its_places_for_compensation() -> None:
    """A withdrawal reports the holds and bookings it strands; they can still be undone."""
    live = _live(capacity=3)
    live.hold("S0")
    live.book("S0", held=False)
    before = live.withdraw("S0")
    assert (before.held, before.booked, before.withdrawn, before.free) == (1, 1, False, 1)
    with pytest.raises(SlotWithdrawnError):
        live.book("S0")
    live.release("S0")
    live.cancel("S0")
    after = live.state("S0")
    assert (after.held, after.booked, after.withdrawn, after.free) == (0, 0, True, 0)
    assert live.blocked().tolist() == [True, False, False]


def test_add_refuses_known_ids_unknown_facilities_and_dates_outside_the_calendar() -> None:
    """Bad new slots raise InvalidInputError naming slot and field, before any change."""
    live = _live()
    before = live.snapshot()
    with pytest.raises(InvalidInputError, match="'S0', field 'id'"):
        live.add(slot("S0", "a", DAYS[1]))
    live.withdraw("S2")
    with pytest.raises(InvalidInputError, match="'S2', field 'id'"):
        live.add(slot("S2", "a", DAYS[1]))
    with pytest.raises(InvalidInputError, match="'S5', field 'facility_id'"):
        live.add(slot("S5", "a", DAYS[1], facility_id="F9"))
    with pytest.raises(CalendarRangeError, match="'S6', field 'start'") as outside:
        live.add(slot("S6", "a", "1900-01-03"))
    assert "1900" not in str(outside.value)
    assert len(live) == 3
    assert live.snapshot().slots == before.slots


def test_equal_states_compare_equal_whatever_the_order_of_adds() -> None:
    """Snapshots compare by slot id: the same commands in another add order give equal states."""
    extra = [slot("X1", "a", DAYS[1]), slot("X0", "a", DAYS[1], "10:00")]
    a, b = _live(), _live()
    for s in extra:
        a.add(s)
    for s in reversed(extra):
        b.add(s)
    for live in (a, b):
        live.hold("X0")
        live.book("X0")
        live.withdraw("S1")
    assert a == b
    assert hash(a.snapshot()) == hash(b.snapshot())
    b.cancel("X0")
    assert a != b
    assert repr(a) == "LiveSlots(5 slots, 1 withdrawn, 0 held, 1 booked)"


def test_state_arrays_grow_past_their_first_size() -> None:
    """Many adds (beyond the preallocated room) keep every count and position."""
    live = _live(n=1)
    for i in range(40):
        assert live.add(slot(f"N{i:02d}", "a", DAYS[1 + i % 3], f"{8 + i % 10:02d}:00")) == i + 1
        if i % 3 == 0:
            live.hold(f"N{i:02d}")
    assert len(live.index) == 41
    assert int(live.blocked().sum()) == 14
    assert live.index.slots[live.position("N39")].id == "N39"


def test_extended_index_keeps_the_caches_of_untouched_services() -> None:
    """Extending by a slot of one service keeps the candidate caches of the others."""
    pathway = make_pathway([stage("a"), stage("b", after=["a"])])
    slots = [slot("A0", "a", DAYS[0]), slot("B0", "b", DAYS[4])]
    live = LiveSlots.build([facility("F1")], slots)
    request = make_request(pathway, REFERRAL)
    assert plan_route(request, live).has_route
    cached = {k for k in live.index.cache if isinstance(k, tuple) and k[0] == "stage-base"}
    live.add(slot("B1", "b", DAYS[0], "11:00"))
    kept = {k for k in live.index.cache if isinstance(k, tuple) and k[0] == "stage-base"}
    assert kept == {k for k in cached if k[1] == ("nmu:A",)}
    result = plan_route(request, live)
    assert [b.slot_id for b in result.bookings] == ["A0", "B1"]


def test_plan_route_over_live_state_avoids_full_and_withdrawn_slots() -> None:
    """Held, booked and withdrawn slots are not booked; an explicit mask adds to them."""
    pathway = make_pathway([stage("a")])
    request = make_request(pathway, REFERRAL)
    live = _live(n=4)

    def first() -> str:
        return plan_route(request, live).bookings[0].slot_id

    assert first() == "S0"
    live.hold("S0")
    assert first() == "S1"
    live.book("S1", held=False)
    live.withdraw("S2")
    assert first() == "S3"
    mask = np.zeros(4, dtype=np.bool_)
    mask[3] = True
    assert not plan_route(request, live, blocked=mask).has_route
    live.release("S0")
    assert first() == "S0"


def test_plan_batch_starts_from_the_live_free_places() -> None:
    """The batch over a live state gives away only free places and keeps its own bookings."""
    pathway = make_pathway([stage("a")])
    live = _live(n=3, capacity=2)
    live.hold("S0")
    live.book("S0")
    live.withdraw("S1")
    live.book("S2", held=False)
    requests = [make_request(pathway, REFERRAL, request_id=f"R{i}", patient=None) for i in range(3)]
    requests.append(make_request(pathway, REFERRAL, request_id="R3", existing_bookings={"a": "S2"}))
    result = plan_batch((requests, live), time_limit=20, seed=0, polish_share=0)
    booked = [tuple(b.slot_id for b in r.bookings) for r in result.routes]
    # S0: one place left; S1 withdrawn; S2: one left plus R3's own booking, kept.
    assert booked[3] == ("S2",)
    assert sorted(booked[:3]) == [(), ("S0",), ("S2",)]
    assert live.state("S0").booked == 1, "planning does not change the live state"


def test_readme_live_capacity_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Live capacity example runs as written and books a whole route."""
    from test_readme import code_blocks, section

    (block,) = code_blocks(section("Live capacity"), "python")
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert re.fullmatch(
        r"LiveSlots\(\d+ slots, 0 withdrawn, 0 held, [1-9]\d* booked\)\n", capsys.readouterr().out
    )


def test_docstring_examples_run() -> None:
    """The Examples sections of routing.live and of the live-capacity errors run as written."""
    import doctest

    from routing import exceptions, live

    for module in (live, exceptions):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0


def test_extended_refuses_known_ids_and_unknown_facilities() -> None:
    """SlotIndex.extended names the slot and field of a bad new slot; nothing new: same index."""
    index = SlotIndex.build([facility("F1")], [slot("S0", "a", DAYS[0])])
    assert index.extended([]) is index
    with pytest.raises(InvalidInputError, match="'S0', field 'id'"):
        index.extended([slot("S0", "a", DAYS[1])])
    with pytest.raises(InvalidInputError, match="'S1', field 'id'"):
        index.extended([slot("S1", "a", DAYS[1]), slot("S1", "a", DAYS[2])])
    with pytest.raises(InvalidInputError, match="'S2', field 'facility_id'"):
        index.extended([slot("S2", "a", DAYS[1], facility_id="F2")])
    assert len(index) == 1
    twice = index.extended([slot("S1", "a", DAYS[1])]).extended([slot("S2", "b", DAYS[2])])
    assert [twice.slot_position[i] for i in ("S0", "S1", "S2")] == [0, 1, 2]
    assert "S1" not in index.slot_position


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacities=st.lists(st.integers(1, 3), min_size=2, max_size=5),
    commands=st.lists(st.tuples(st.sampled_from(("hold", "book", "withdraw")), st.integers(0, 4))),
    patients=st.integers(1, 6),
)
def test_plan_batch_over_live_state_stays_within_the_free_places(
    capacities: list[int], commands: list[tuple[str, int]], patients: int
) -> None:
    """However the live state was used, a batch never gives a slot more than its free places."""
    slots = [
        slot(f"S{i}", "a", DAYS[i % 2], f"{9 + i:02d}:00").model_copy(update={"capacity": c})
        for i, c in enumerate(capacities)
    ]
    live = LiveSlots.build([facility("F1")], slots)
    for op, i in commands:
        slot_id = f"S{i % len(slots)}"
        with contextlib.suppress(SlotStateError):
            live.book(slot_id, held=False) if op == "book" else getattr(live, op)(slot_id)
    before = live.snapshot()
    free = {s.id: live.state(s.id).free for s in slots}
    pathway = make_pathway([stage("a")])
    requests = [make_request(pathway, REFERRAL, request_id=f"R{i}") for i in range(patients)]
    result = plan_batch(
        (requests, live), time_limit=20, exact_max_patients=0, max_iterations=5, polish_share=0
    )
    used = [b.slot_id for r in result.routes for b in r.bookings]
    for slot_id, n in free.items():
        assert used.count(slot_id) <= n
    assert len(used) == min(patients, sum(free.values()))
    assert live.snapshot() == before


def test_added_slots_in_projected_years_count_as_projected() -> None:
    """A slot added in a projected calendar year counts in the index's projected slots."""
    live = _live(n=1)
    live.add(slot("P1", "a", "2030-03-12"))
    live.add(slot("P0", "a", DAYS[2]))
    assert live.index.projected_slots == 1
    rebuilt = SlotIndex.build([facility("F1")], [live.slot(i) for i in ("S0", "P1", "P0")])
    assert rebuilt.projected_slots == 1
    assert live.index.warnings == rebuilt.warnings


def test_a_copy_and_its_original_add_slots_independently() -> None:
    """Copies share the slot records until one adds a slot (copy on write): a slot added to
    either is unknown to the other, and both plan over their own slots."""
    original = _live(2)
    copy = original.copy()
    late = slot("S9", "a", DAYS[1], "09:00")
    assert copy.add(late) == 2
    assert len(copy) == 3
    assert len(original) == 2
    with pytest.raises(UnknownSlotError):
        original.state("S9")
    again = original.copy()
    other = slot("S8", "a", DAYS[1], "10:00")
    assert original.add(other) == 2
    assert original.slot("S8") == other
    with pytest.raises(UnknownSlotError):
        again.state("S8")
    with pytest.raises(UnknownSlotError):
        copy.state("S8")
    assert [s.id for s in copy.free_slots()] == ["S0", "S1", "S9"]
    assert [s.id for s in again.free_slots()] == ["S0", "S1"]
