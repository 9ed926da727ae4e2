"""The slot-source interface: combining batches, duplicates, conflicts and overlaps."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.pathway import ServiceRef
from routing.adapters.source import (
    CombinedSource,
    SlotBatch,
    SlotSource,
    SourceIssue,
    check_window,
    combine,
    select_slots,
)
from routing.domain import Facility, Slot
from routing.exceptions import InvalidInputError

T0 = datetime(2026, 5, 12, 9, tzinfo=UTC)


def make_slot(
    sid: str, minutes: int = 0, length: int = 30, resource: str | None = "doc1", **extra: object
) -> Slot:
    """A slot at facility F1 of nmu:A, ``minutes`` after T0."""
    start = T0 + timedelta(minutes=minutes)
    fields: dict[str, object] = {
        "id": sid,
        "facility_id": "F1",
        "service": "nmu:A",
        "start": start,
        "end": start + timedelta(minutes=length),
        "resource": resource,
        **extra,
    }
    return Slot.model_validate(fields)


F1 = Facility(id="F1", name="One", level=1)


def test_same_slot_from_two_sources_counts_once() -> None:
    """Same facility, service, times and resource under other ids: kept once, no issue."""
    merged = combine(
        [SlotBatch(facilities=(F1,), slots=(make_slot("a"),)), SlotBatch(slots=(make_slot("b"),))]
    )
    assert [s.id for s in merged.slots] == ["a"]
    assert merged.issues == ()
    assert merged.facilities == (F1,)


def test_same_slot_with_other_capacity_is_an_issue() -> None:
    """The same slot with a different capacity keeps the first and reports the conflict."""
    merged = combine(
        [SlotBatch(slots=(make_slot("a"),)), SlotBatch(slots=(make_slot("b", capacity=3),))]
    )
    assert [s.id for s in merged.slots] == ["a"]
    assert [(i.record, i.field) for i in merged.issues] == [("slot 'b'", "capacity")]


def test_same_id_with_different_content_is_an_issue() -> None:
    """Two different slots with one id: the first is kept, the second reported."""
    merged = combine(
        [SlotBatch(slots=(make_slot("a"),)), SlotBatch(slots=(make_slot("a", minutes=60),))]
    )
    assert [s.start for s in merged.slots] == [T0]
    assert [(i.record, i.field, i.source) for i in merged.issues] == [("slot 'a'", "id", "combine")]


def test_conflicting_facilities_are_an_issue_naming_the_id() -> None:
    """Two different records of one facility id: one kept, an issue names the id."""
    other = F1.model_copy(update={"level": 2})
    merged = combine([SlotBatch(facilities=(F1,)), SlotBatch(facilities=(other, F1))])
    assert merged.facilities == (F1,)
    assert [i.record for i in merged.issues] == ["facility 'F1'"]


def test_overlapping_slots_of_one_resource_are_kept_and_flagged() -> None:
    """Intersecting slots of one resource are all kept; each later one is an issue."""
    batch = SlotBatch(
        slots=(
            make_slot("a", 0, 60),
            make_slot("b", 30, 30),
            make_slot("c", 60, 30),  # touches a's end: no overlap
            make_slot("d", 10, 10, resource="doc2"),  # another resource
            make_slot("e", 40, 10, resource=None),  # no resource: not checked
        )
    )
    merged = combine([batch])
    assert len(merged.slots) == 5
    assert [(i.record, i.field) for i in merged.issues] == [("slot 'b'", "start")]
    assert "'a'" in merged.issues[0].reason


def test_issues_of_batches_are_kept_first() -> None:
    """Each batch's own issues come first, in order, before the conflicts found by combine."""
    issue = SourceIssue(source="x", record="line 3", field="start", reason="bad")
    merged = combine(
        [SlotBatch(issues=(issue,)), SlotBatch(slots=(make_slot("a"), make_slot("b", 10)))]
    )
    assert merged.issues[0] == issue
    assert merged.issues[1].record == "slot 'b'"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 6)), max_size=12))
def test_overlap_issues_match_brute_force(spans: list[tuple[int, int]]) -> None:
    """A slot is flagged iff it intersects an earlier-sorted slot of the same resource."""
    slots = [make_slot(f"s{i}", 10 * a, 10 * n) for i, (a, n) in enumerate(spans)]
    merged = combine([SlotBatch(slots=tuple(slots))])
    kept = merged.slots
    order = sorted(kept, key=lambda s: (s.start, s.end, s.id))
    expected = {
        s.id
        for i, s in enumerate(order)
        if any(o.start < s.end and s.start < o.end for o in order[:i])
    }
    flagged = {i.record.split("'")[1] for i in merged.issues if i.field == "start"}
    assert flagged == expected


@dataclass(frozen=True)
class FixedSource:
    """A source returning a fixed batch, or raising a fixed error."""

    name: str
    batch: SlotBatch = field(default_factory=SlotBatch)
    error: Exception | None = None

    def fetch(
        self, start: datetime, end: datetime, services: Collection[ServiceRef] | None = None
    ) -> SlotBatch:
        """The batch (or the error)."""
        if self.error is not None:
            raise self.error
        return self.batch


def test_combined_source_turns_failures_into_issues() -> None:
    """A failing source becomes an issue (retryable for network errors); the others load."""
    good = FixedSource("good", SlotBatch(facilities=(F1,), slots=(make_slot("a"),)))
    combined = CombinedSource(
        (
            good,
            FixedSource("down", error=TimeoutError()),
            FixedSource("bad", error=InvalidInputError("bad", "start", "naive")),
        )
    )
    assert isinstance(combined, SlotSource)
    batch = combined.fetch(T0, T0 + timedelta(days=1))
    assert [s.id for s in batch.slots] == ["a"]
    assert [(i.source, i.retryable) for i in batch.issues] == [("down", True), ("bad", False)]


def test_check_window_and_select() -> None:
    """Windows must be aware and ordered; select keeps starts in [start, end) of the services."""
    with pytest.raises(InvalidInputError, match="start"):
        check_window(T0.replace(tzinfo=None), T0)
    with pytest.raises(InvalidInputError, match="end"):
        check_window(T0, T0)
    slots = [make_slot("a"), make_slot("b", 60), make_slot("c", 30, service="nmu:B")]
    chosen = select_slots(
        slots, T0, T0 + timedelta(minutes=60), [ServiceRef(system="nmu", code="A")]
    )
    assert [s.id for s in chosen] == ["a"]
