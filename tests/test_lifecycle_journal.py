"""The journal: replay equals the live state, migrations equal the ORM, refused events leave it
unchanged, and two writers racing for the last place (SQLite and PostgreSQL): one wins."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from lifecycle_workers import book_last_place
from lifecycle_world import START, generated, published, route_proposed, world
from routing.exceptions import ConflictError, LifecycleError
from routing.lifecycle import Journal, Service, StageStatus, State, apply_all
from routing.lifecycle.events import SlotWithdrawn, StageBooked, StageHeld
from routing.lifecycle.journal import DEFAULT_FILE
from routing.lifecycle.tables import Base, SlotPlacesRow

ONE_PLACE = next(s.id for s in world()[1] if s.capacity == 1)


def sqlite_url(tmp_path: Path) -> str:
    """A journal file in the test's directory."""
    return f"sqlite:///{tmp_path / 'journal.db'}"


def places(journal: Journal, slot_id: str) -> tuple[int, int, int]:
    """The slot's (held, booked, version) as stored."""
    with journal.engine.connect() as connection:
        row = connection.execute(
            select(SlotPlacesRow.held, SlotPlacesRow.booked, SlotPlacesRow.version).where(
                SlotPlacesRow.slot_id == slot_id
            )
        ).one()
    return (row[0], row[1], row[2])


def test_replay_of_10000_events_equals_the_live_state(tmp_path: Path) -> None:
    """10,000 generated events: the journal's replay from SQLite equals the fold in memory."""
    events = generated(10_000)
    live = apply_all(State(), events)
    journal = Journal.open(sqlite_url(tmp_path))
    for chunk in range(0, len(events), 500):  # 500 events a transaction
        journal.append_all(events[chunk : chunk + 500])
    assert len(journal) == 10_000
    assert journal.state() == live
    journal.close()
    reopened = Journal.open(sqlite_url(tmp_path))
    replayed = reopened.replay()
    assert replayed == live
    assert reopened.state() == live
    assert live.live is not None
    stored = {s.slot_id: s for s in live.live.snapshot().states}
    busy = [s for s in stored.values() if s.held or s.booked]
    assert busy  # the stream holds and books places
    for state in busy[:50]:
        held, booked, _ = places(reopened, state.slot_id)
        assert (held, booked) == (state.held, state.booked)
    reopened.close()


def test_migrated_schema_equals_the_orm_metadata(tmp_path: Path) -> None:
    """Alembic's migrations create exactly the tables the ORM declares."""
    journal = Journal.open(sqlite_url(tmp_path))
    with journal.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    journal.close()


def test_default_url_is_a_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Journal.open() without a URL keeps its file in the working directory."""
    monkeypatch.chdir(tmp_path)
    journal = Journal.open()
    journal.append(published())
    journal.close()
    assert (tmp_path / DEFAULT_FILE).is_file()
    assert len(Journal.open()) == 1


BAD: list[Callable[[], object]] = [
    lambda: StageHeld(event_id="x1", at=START, route_id="R9", stage_id="s0"),
    lambda: StageHeld(event_id="x2", at=START, route_id="R1", stage_id="nope"),
    lambda: SlotWithdrawn(event_id="x3", at=START, slot_id="nope"),
    lambda: StageHeld(event_id="R1:proposed", at=START, route_id="R1", stage_id="s0"),
    lambda: route_proposed("R3", ("nope",)),
]


@pytest.mark.parametrize("make", BAD)
def test_refused_events_leave_the_journal_unchanged(
    tmp_path: Path, make: Callable[[], object]
) -> None:
    """An unknown route, stage or slot, or a duplicate id: refused, nothing written."""
    journal = Journal.open(sqlite_url(tmp_path))
    apply_events = [published(), route_proposed("R1", (ONE_PLACE,))]
    for event in apply_events:
        journal.append(event)
    before = list(journal.events())
    state = journal.state()
    with pytest.raises(LifecycleError):
        journal.append(make())  # type: ignore[arg-type]
    assert list(journal.events()) == before
    assert journal.replay() == state
    journal.close()


def race(url: str) -> list[str]:
    """Two processes book the last place of one slot for two routes: their outcomes."""
    with Journal.open(url) as journal:
        journal.append(published())
        journal.append(route_proposed("R1", (ONE_PLACE,)))
        journal.append(route_proposed("R2", (ONE_PLACE,)))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with ProcessPoolExecutor(2, mp_context=context) as pool:
            futures = [pool.submit(book_last_place, url, r, barrier) for r in ("R1", "R2")]
            return sorted(f.result(timeout=180) for f in futures)


def check_race(url: str) -> None:
    """Exactly one writer won; the other got a conflict; the journal holds one booking."""
    assert race(url) == ["conflict", "won"]
    with Journal.open(url) as journal:
        booked = [
            r.route_id
            for r in journal.state().routes.values()
            if r.stages[0].status == StageStatus.BOOKED
        ]
        assert len(booked) == 1
        assert places(journal, ONE_PLACE)[:2] == (0, 1)
        assert journal.replay() == journal.state()


def test_two_processes_race_for_the_last_place_sqlite(tmp_path: Path) -> None:
    """SQLite: one writer books the last place, the other gets ConflictError (not 'locked')."""
    check_race(sqlite_url(tmp_path))


def test_two_processes_race_for_the_last_place_postgres(postgres_url: str) -> None:
    """PostgreSQL: one writer books the last place, the other gets ConflictError."""
    check_race(postgres_url)


def test_stale_writer_conflicts_then_replans(tmp_path: Path) -> None:
    """A writer whose view is stale gets ConflictError; after a refresh the slot is full."""
    url = sqlite_url(tmp_path)
    first = Journal.open(url)
    for event in (
        published(),
        route_proposed("R1", (ONE_PLACE,)),
        route_proposed("R2", (ONE_PLACE,)),
    ):
        first.append(event)
    second = Journal.open(url)
    first.append(StageBooked(event_id="b1", at=START, route_id="R1", stage_id="s0"))
    with pytest.raises(ConflictError) as caught:
        second.append(StageBooked(event_id="b2", at=START, route_id="R2", stage_id="s0"))
    assert ONE_PLACE in str(caught.value)
    assert len(second) == 4  # it read the winner's event, and wrote nothing
    state = second.state()
    assert state.live is not None
    assert state.live.state(ONE_PLACE).free == 0
    first.close()
    second.close()


def test_postgres_journal_replays_and_refuses(postgres_url: str) -> None:
    """PostgreSQL: a generated stream replays to the live state; a bad event writes nothing."""
    events = generated(400, seed=3)
    with Service.open(postgres_url) as service:
        state = service.apply_all(events)
        assert state == apply_all(State(), events)
        with pytest.raises(LifecycleError):
            service.apply(StageHeld(event_id="bad", at=START, route_id="nope", stage_id="s0"))
        assert service.journal.replay() == state
        with service.journal.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
