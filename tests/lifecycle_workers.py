"""Worker processes for the lifecycle's concurrency tests (importable by spawned children)."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier

from lifecycle_world import START
from routing.exceptions import ConflictError
from routing.lifecycle.events import StageBooked
from routing.lifecycle.journal import Journal


def book_last_place(url: str, route_id: str, barrier: Barrier) -> str:
    """Open the journal, wait for the other writer, book ``route_id``'s first stage: the outcome
    (``"won"``, ``"conflict"``, or the unexpected error's type and message)."""
    journal = Journal.open(url)
    try:
        assert journal.state().routes[route_id].stages[0].status.value == "proposed"
        barrier.wait(timeout=60)
        try:
            journal.append(
                StageBooked(event_id=f"{route_id}:book", at=START, route_id=route_id, stage_id="s0")
            )
        except ConflictError:
            return "conflict"
        except Exception as exc:  # reported to the test, which fails on it
            return f"{type(exc).__name__}: {exc}"
        return "won"
    finally:
        journal.close()
