"""The route's iCalendar: parses back, round-trips, stable UIDs, SEQUENCE, CANCEL, VTIMEZONE."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from routing.views.ics import cancellation_ics, timeline_ics
from routing.views.timeline import build_timeline, stage_uid
from view_helpers import choice_problem, example_timeline, planned


def _events(ics: bytes) -> list[Calendar]:
    return list(Calendar.from_ical(ics).walk("VEVENT"))


def test_one_event_per_stage_in_moscow_time_with_vtimezone() -> None:
    """Each stage is one VEVENT at its booked time in Europe/Moscow, with the VTIMEZONE."""
    timeline = example_timeline("R-0001")
    calendar = Calendar.from_ical(timeline_ics(timeline))
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert [str(t["TZID"]) for t in calendar.walk("VTIMEZONE")] == ["Europe/Moscow"]
    events = list(calendar.walk("VEVENT"))
    assert len(events) == len(timeline.stages) == 5
    for event, stage in zip(events, timeline.stages, strict=True):
        start = event.decoded("DTSTART")
        assert start == stage.start
        assert start.tzinfo.key == "Europe/Moscow"  # type: ignore[union-attr]
        assert event.decoded("DTEND") == stage.end
        assert str(event["UID"]) == stage.uid
        assert str(event["SUMMARY"]).startswith(stage.label)


def test_in_person_events_have_location_and_remote_ones_do_not() -> None:
    """A visit's LOCATION names facility, address and room; a remote stage has none and says so."""
    result, index, pathway = planned(choice_problem())
    timeline = build_timeline(result, index, pathway, language="ru")
    consult, scan, review = _events(timeline_ics(timeline))
    location = str(consult["LOCATION"])
    assert "Дальняя поликлиника № 1 имени Ю. А. Гагарина" in location
    assert "Выборгское шоссе, д. 200" in location
    assert "кабинет Кабинет 101" in location
    assert "LOCATION" in scan
    assert "LOCATION" not in review
    assert "(дистанционно)" in str(review["SUMMARY"])
    assert "приходить в медицинскую организацию не нужно" in str(review["DESCRIPTION"])
    assert str(review["X-PATIENT-ROUTING-MODE"]) == "remote"
    assert "Приходите заранее." in str(consult["DESCRIPTION"])


def test_uids_are_stable_across_renders_and_languages() -> None:
    """Two renders (and both languages) give the same UIDs; another request gives other UIDs."""
    first = [str(e["UID"]) for e in _events(timeline_ics(example_timeline("R-0001", "ru")))]
    again = [str(e["UID"]) for e in _events(timeline_ics(example_timeline("R-0001", "en")))]
    other = [str(e["UID"]) for e in _events(timeline_ics(example_timeline("R-0002", "ru")))]
    assert first == again
    assert len(set(first)) == len(first)
    assert not set(first) & set(other)
    assert all(uid.endswith("@patient-routing") for uid in first)


def test_sequence_follows_the_revision() -> None:
    """SEQUENCE is the revision passed in, on every event, and increments with it."""
    timeline = example_timeline("R-0003")
    for revision in (0, 1, 7):
        events = _events(timeline_ics(timeline, revision=revision))
        assert {int(e["SEQUENCE"]) for e in events} == {revision}
    with pytest.raises(ValueError, match="revision"):
        timeline_ics(timeline, revision=-1)


def test_cancel_variant_cancels_the_same_uids_with_a_higher_sequence() -> None:
    """METHOD:CANCEL with STATUS:CANCELLED events for exactly the UIDs asked for."""
    timeline = example_timeline("R-0001")
    published = _events(timeline_ics(timeline, revision=1))
    wanted = [str(published[2]["UID"])]
    calendar = Calendar.from_ical(cancellation_ics(timeline, wanted, revision=2))
    assert str(calendar["METHOD"]) == "CANCEL"
    events = list(calendar.walk("VEVENT"))
    assert [str(e["UID"]) for e in events] == wanted
    assert str(events[0]["STATUS"]) == "CANCELLED"
    assert int(events[0]["SEQUENCE"]) > int(published[2]["SEQUENCE"])
    everything = _events(cancellation_ics(timeline, revision=2))
    assert len(everything) == len(published)
    with pytest.raises(ValueError, match="not stages"):
        cancellation_ics(timeline, ["nope@patient-routing"], revision=2)


def test_round_trip_through_icalendar_is_lossless() -> None:
    """Parsing and serialising again gives the same bytes, and the times stay the same instants."""
    timeline = example_timeline("R-0002", "ru")
    ics = timeline_ics(timeline, revision=3)
    assert Calendar.from_ical(ics).to_ical() == ics
    assert b"\r\n" in ics
    moscow = ZoneInfo("Europe/Moscow")
    for event, stage in zip(_events(ics), timeline.stages, strict=True):
        assert event.decoded("DTSTART").astimezone(moscow) == stage.start.astimezone(moscow)


def test_same_input_same_calendar_bytes() -> None:
    """Determinism: DTSTAMP is the timeline's issue moment, so two renders are byte-identical."""
    assert timeline_ics(example_timeline("R-0001")) == timeline_ics(example_timeline("R-0001"))


_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)


@given(a=st.tuples(_IDS, _IDS), b=st.tuples(_IDS, _IDS))
def test_stage_uids_are_deterministic_and_distinct(a: tuple[str, str], b: tuple[str, str]) -> None:
    """A (request, stage) pair always gets the same UID, and two different pairs different ones."""
    assert stage_uid(*a) == stage_uid(*a)
    assert (stage_uid(*a) == stage_uid(*b)) == (a == b)
    assert re.fullmatch(r"[0-9a-f]{32}@patient-routing", stage_uid(*a))


@settings(max_examples=20, deadline=None)
@given(revision=st.integers(min_value=0, max_value=10_000))
def test_any_revision_is_every_event_sequence(revision: int) -> None:
    """Whatever revision is passed, every event's SEQUENCE is exactly it."""
    events = _events(timeline_ics(_TIMELINE, revision=revision))
    assert [int(e["SEQUENCE"]) for e in events] == [revision] * len(_TIMELINE.stages)


_TIMELINE = example_timeline("R-0002")
