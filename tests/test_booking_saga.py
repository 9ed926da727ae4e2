"""The booking saga over the in-memory reference back-end: all stages or none, compensation,
re-planning around a failed slot, idempotency keys, concurrent sagas."""

from __future__ import annotations

import doctest
import re
import threading
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking_helpers import two_stages
from routing.booking import (
    FailurePlan,
    Fault,
    MemoryBackend,
    SagaStatus,
    StepAction,
    StepOutcome,
    book_route,
    live_replanner,
)
from routing.exceptions import BookingError, SlotTakenError
from routing.live import LiveSlots
from routing.solve import plan_route


def _places(live: LiveSlots) -> dict[str, tuple[int, int]]:
    """(held, booked) of every slot with either."""
    return {s.slot_id: (s.held, s.booked) for s in live.snapshot().states if s.held or s.booked}


def _plan(faults: dict[int, Fault] | None = None, taken: set[str] | None = None) -> FailurePlan:
    return FailurePlan(calls=MappingProxyType(faults or {}), taken=frozenset(taken or ()))


def test_happy_path_holds_then_books_every_stage_in_order() -> None:
    """Every stage held, then booked, in start order, each call with its own key."""
    request, live = two_stages(["A0", "A1"], ["B0", "B1"])
    outcome = book_route(plan_route(request, live), MemoryBackend(live), key_prefix="R1")
    assert outcome.status is SagaStatus.BOOKED
    assert [b.slot_id for b in outcome.bookings] == ["A0", "B0"]
    assert _places(live) == {"A0": (0, 1), "B0": (0, 1)}
    assert [(s.action, s.slot_id, s.outcome) for s in outcome.steps] == [
        (StepAction.HOLD, "A0", StepOutcome.OK),
        (StepAction.HOLD, "B0", StepOutcome.OK),
        (StepAction.BOOK, "A0", StepOutcome.OK),
        (StepAction.BOOK, "B0", StepOutcome.OK),
    ]
    assert outcome.steps[0].key == "R1:1:a:A0:hold"
    assert len({s.key for s in outcome.steps}) == 4


def test_slot_taken_mid_route_is_compensated_and_replanned_around() -> None:
    """B0 taken meanwhile: A0's hold released, the re-plan books A0 and B1; no hold left."""
    request, live = two_stages(["A0", "A1"], ["B0", "B1"])
    backend = MemoryBackend(live, failures=_plan(taken={"B0"}))
    outcome = book_route(
        plan_route(request, live),
        backend,
        replan=live_replanner(request, live),
        key_prefix="R1",
    )
    assert outcome.status is SagaStatus.BOOKED
    assert outcome.attempts == 2
    assert outcome.failed_slots == ("B0",)
    assert [b.slot_id for b in outcome.bookings] == ["A0", "B1"]
    # B0 is booked by someone else; ours are A0 and B1; nothing held
    assert _places(live) == {"A0": (0, 1), "B0": (0, 1), "B1": (0, 1)}
    first = [(s.action, s.slot_id, s.outcome) for s in outcome.steps if s.attempt == 1]
    assert first == [
        (StepAction.HOLD, "A0", StepOutcome.OK),
        (StepAction.HOLD, "B0", StepOutcome.TAKEN),
        (StepAction.RELEASE, "A0", StepOutcome.OK),
    ]
    # the second attempt holds A0 again under a new key, not a replay of the released hold
    assert "R1:2:a:A0:hold" in {s.key for s in outcome.steps}


def test_without_replan_a_failure_leaves_nothing_booked_or_held() -> None:
    """No re-plan: the saga fails and every place it took is given back."""
    request, live = two_stages(["A0"], ["B0"])
    backend = MemoryBackend(live, failures=_plan(faults={4: Fault.CONFLICT}))
    outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.status is SagaStatus.FAILED
    assert outcome.bookings == ()
    assert _places(live) == {}
    actions = [(s.action, s.slot_id, s.outcome) for s in outcome.steps]
    assert actions[-2:] == [
        (StepAction.RELEASE, "B0", StepOutcome.OK),
        (StepAction.CANCEL, "A0", StepOutcome.OK),
    ]


def test_a_retryable_failure_is_retried_with_the_same_key() -> None:
    """An unavailable source: the same call is sent again with the same key, then succeeds."""
    request, live = two_stages(["A0"], ["B0"])
    backend = MemoryBackend(live, failures=_plan(faults={2: Fault.UNAVAILABLE}))
    outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.booked
    second, third = outcome.steps[1], outcome.steps[2]
    assert (second.outcome, third.outcome) == (StepOutcome.UNAVAILABLE, StepOutcome.OK)
    assert second.key == third.key == "R1:1:b:B0:hold"
    assert _places(live) == {"A0": (0, 1), "B0": (0, 1)}


def test_a_lost_answer_is_reconciled_and_booked_once() -> None:
    """A booking made but its answer lost: reconciliation finds it; exactly one place booked."""
    request, live = two_stages(["A0"], ["B0"])
    backend = MemoryBackend(live, failures=_plan(faults={3: Fault.UNKNOWN}))
    outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.booked
    assert [(s.action, s.outcome) for s in outcome.steps if s.slot_id == "A0"] == [
        (StepAction.HOLD, StepOutcome.OK),
        (StepAction.BOOK, StepOutcome.UNKNOWN),
        (StepAction.RECONCILE, StepOutcome.FOUND),
    ]
    assert _places(live) == {"A0": (0, 1), "B0": (0, 1)}


def test_without_holds_stages_are_booked_one_by_one_and_cancelled_on_failure() -> None:
    """A back-end without holds: book A0, B0 taken, A0 cancelled."""
    request, live = two_stages(["A0"], ["B0"])
    backend = MemoryBackend(live, failures=_plan(taken={"B0"}), supports_hold=False)
    outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.status is SagaStatus.FAILED
    assert [(s.action, s.slot_id, s.outcome) for s in outcome.steps] == [
        (StepAction.BOOK, "A0", StepOutcome.OK),
        (StepAction.BOOK, "B0", StepOutcome.TAKEN),
        (StepAction.CANCEL, "A0", StepOutcome.OK),
    ]
    assert _places(live) == {"B0": (0, 1)}


def test_attempts_stop_at_the_limit() -> None:
    """Every route's second stage is taken: the saga stops after max_attempts routes."""
    request, live = two_stages(["A0"], ["B0", "B1", "B2", "B3"])
    backend = MemoryBackend(live, failures=_plan(taken={"B0", "B1", "B2", "B3"}))
    outcome = book_route(
        plan_route(request, live),
        backend,
        replan=live_replanner(request, live),
        max_attempts=2,
        key_prefix="R1",
    )
    assert outcome.status is SagaStatus.FAILED
    assert outcome.attempts == 2
    assert outcome.failed_slots == ("B0", "B1")
    assert _places(live) == {"B0": (0, 1), "B1": (0, 1)}  # taken by others


def test_no_route_left_books_nothing() -> None:
    """The re-plan finds no route: NO_ROUTE, nothing held or booked."""
    request, live = two_stages(["A0"], ["B0"])
    backend = MemoryBackend(live, failures=_plan(taken={"B0"}))
    outcome = book_route(
        plan_route(request, live), backend, replan=live_replanner(request, live), key_prefix="R"
    )
    assert outcome.status is SagaStatus.NO_ROUTE
    assert not outcome.route.has_route
    assert _places(live) == {"B0": (0, 1)}


def test_a_compensation_that_cannot_be_made_is_reported_as_an_orphan() -> None:
    """The release keeps failing: ORPHANED, naming the hold left at the source."""
    request, live = two_stages(["A0"], ["B0"])
    faults = {2: Fault.CONFLICT} | {n: Fault.UNAVAILABLE for n in range(3, 20)}
    backend = MemoryBackend(live, failures=_plan(faults=faults))
    outcome = book_route(plan_route(request, live), backend, key_prefix="R1", call_attempts=2)
    assert outcome.status is SagaStatus.ORPHANED
    assert [o.slot_id for o in outcome.orphans] == ["A0"]
    releases = [s for s in outcome.steps if s.action is StepAction.RELEASE]
    assert len(releases) == 4
    assert {s.outcome for s in releases} == {StepOutcome.UNAVAILABLE}


def test_the_same_key_replays_the_first_result() -> None:
    """Memory back-end: a call sent twice with one key takes one place."""
    _, live = two_stages(["A0"], ["B0"])
    backend = MemoryBackend(live)
    first = backend.hold("A0", "k")
    assert backend.hold("A0", "k") == first
    assert backend.confirm(first, "c") == backend.confirm(first, "c")
    assert _places(live) == {"A0": (0, 1)}
    with pytest.raises(SlotTakenError, match="'A0'"):
        backend.hold("A0", "another key")


def test_invalid_limits_are_refused() -> None:
    """max_attempts and call_attempts below 1 are refused."""
    request, live = two_stages(["A0"], ["B0"])
    with pytest.raises(ValueError, match="at least 1"):
        book_route(plan_route(request, live), MemoryBackend(live), key_prefix="R", max_attempts=0)


def test_concurrent_sagas_for_the_last_place_exactly_one_wins() -> None:
    """Eight sagas in threads want the only A slot: one books, the others hold nothing."""
    request, live = two_stages(["A0"], ["B0", "B1", "B2", "B3", "B4", "B5", "B6", "B7"])
    backend = MemoryBackend(live)
    routes = []
    for i in range(8):
        route = plan_route(request, live)
        b = route.bookings[1].model_copy(update={"slot_id": f"B{i}"})
        routes.append(route.model_copy(update={"bookings": (route.bookings[0], b)}))
    barrier = threading.Barrier(8)
    outcomes: list[SagaStatus] = []

    def run(i: int) -> None:
        barrier.wait()
        outcomes.append(book_route(routes[i], backend, key_prefix=f"P{i}").status)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count(SagaStatus.BOOKED) == 1
    assert outcomes.count(SagaStatus.FAILED) == 7
    places = _places(live)
    assert places.pop("A0") == (0, 1)
    assert list(places.values()) == [(0, 1)]


@settings(max_examples=60, deadline=None)
@given(
    faults=st.dictionaries(
        st.integers(min_value=1, max_value=14), st.sampled_from(list(Fault)), max_size=5
    ),
    taken=st.sets(st.sampled_from(["A0", "A1", "B0", "B1", "B2"])),
    hold=st.booleans(),
    replan=st.booleans(),
)
def test_all_or_nothing_and_never_an_orphan_hold(
    faults: dict[int, Fault], taken: set[str], hold: bool, replan: bool
) -> None:
    """Any faults: all stages booked or none of ours, no place left held unless reported as an
    orphan (a compensation or settlement the source kept failing), one key per call."""
    request, live = two_stages(["A0", "A1"], ["B0", "B1", "B2"])
    backend = MemoryBackend(live, failures=_plan(faults, taken), supports_hold=hold)
    outcome = book_route(
        plan_route(request, live),
        backend,
        replan=live_replanner(request, live) if replan else None,
        key_prefix="R1",
        call_attempts=3,
    )
    places = _places(live)
    if set(faults.values()) <= {Fault.TAKEN}:  # compensations always go through then
        assert outcome.status is not SagaStatus.ORPHANED
    orphaned = {o.slot_id for o in outcome.orphans}
    assert all(held == 0 for s, (held, _) in places.items() if s not in orphaned)
    ours = {b.slot_id for b in outcome.bookings}
    others = set(backend.taken_by_others)
    if outcome.status is SagaStatus.BOOKED:
        assert len(outcome.bookings) == 2
        assert ours == {b.slot_id for b in outcome.route.bookings}
        assert set(places) == ours | others
        assert not ours & others
    elif outcome.status is not SagaStatus.ORPHANED:
        assert outcome.bookings == ()
        assert set(places) == others
    calls: dict[str, tuple[int, str, str, StepAction]] = {}
    for s in outcome.steps:  # a key names one call (a reconciliation names the call's own)
        action = s.action
        if action is StepAction.RECONCILE:
            action = StepAction(s.key.rsplit(":", 1)[1])
            assert action in (StepAction.HOLD, StepAction.BOOK)
        assert calls.setdefault(s.key, (s.attempt, s.stage_id, s.slot_id, action)) == (
            s.attempt,
            s.stage_id,
            s.slot_id,
            action,
        )


def test_booking_errors_name_the_slot_only() -> None:
    """A booking error's text is the slot id and the reason."""
    error = SlotTakenError("S1", "taken meanwhile")
    assert str(error) == "slot 'S1': taken meanwhile"
    assert isinstance(error, BookingError)


def test_readme_booking_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Booking a route example runs as written and books every stage."""
    from test_readme import code_blocks, section

    (block,) = code_blocks(section("Booking a route"), "python")
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert re.fullmatch(r"BOOKED [1-9]\d* \['hold', 'hold'\]\n", capsys.readouterr().out)


def test_docstring_examples_run() -> None:
    """The Examples sections of the booking modules and the booking errors run as written."""
    import routing.booking.fhir
    import routing.booking.memory
    import routing.booking.portal
    import routing.booking.saga
    import routing.exceptions

    modules = (
        routing.booking.memory,
        routing.booking.saga,
        routing.booking.portal,
        routing.booking.fhir,
        routing.exceptions,
    )
    for module in modules:
        failed, tried = doctest.testmod(module, raise_on_error=False)
        assert failed == 0
        assert tried > 0, module.__name__


@pytest.mark.parametrize("last", [Fault.UNKNOWN, Fault.UNAVAILABLE])
def test_a_hold_left_without_an_answer_is_settled_and_released(last: Fault) -> None:
    """A0's hold loses its answer, and its last attempt fails too (unknown or unavailable): the
    saga sends the key once more, gets the hold the source made, and releases it."""
    request, live = two_stages(["A0"], ["B0"])
    faults = {1: Fault.UNKNOWN, 2: Fault.UNKNOWN, 3: last}
    backend = MemoryBackend(live, failures=_plan(faults=faults))
    outcome = book_route(plan_route(request, live), backend, key_prefix="R1")
    assert outcome.status is SagaStatus.FAILED
    assert [(s.action, s.outcome) for s in outcome.steps] == [
        (StepAction.HOLD, StepOutcome.UNKNOWN),
        (StepAction.HOLD, StepOutcome.UNKNOWN),
        (StepAction.HOLD, StepOutcome(last.value)),
        (StepAction.RECONCILE, StepOutcome.FOUND),
        (StepAction.RELEASE, StepOutcome.OK),
    ]
    assert _places(live) == {}


def test_a_hold_that_cannot_be_settled_is_reported_as_an_orphan() -> None:
    """The hold's answer is lost and the source stays unavailable: ORPHANED, naming A0."""
    request, live = two_stages(["A0"], ["B0"])
    faults = {1: Fault.UNKNOWN, 2: Fault.UNAVAILABLE, 3: Fault.UNAVAILABLE}
    backend = MemoryBackend(live, failures=_plan(faults=faults))
    outcome = book_route(plan_route(request, live), backend, key_prefix="R1", call_attempts=2)
    assert outcome.status is SagaStatus.ORPHANED
    assert [(o.slot_id, o.key) for o in outcome.orphans] == [("A0", "R1:1:a:A0:hold")]
    assert _places(live) == {"A0": (1, 0)}  # truly held at the source, and reported
