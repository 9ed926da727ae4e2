"""The lifecycle as a Python API: propose planned routes, apply events, read the state.

Examples
--------
>>> from routing.examples import load_example
>>> from routing.solve import plan_route
>>> problem = load_example()
>>> request = problem.requests[0]
>>> service = Service.open("sqlite://")  # in memory; a file or PostgreSQL URL persists
>>> state = service.publish(problem.facilities, problem.slots, event_id="P1", at=request.referral)
>>> result = plan_route(request, state.live)
>>> route = service.propose(result, at=result.referral)
>>> {s.status.value for s in route.stages}
{'proposed'}
>>> service.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from routing.domain import Facility, RouteRequest, Slot
from routing.exceptions import InvalidInputError
from routing.lifecycle.apply import apply
from routing.lifecycle.events import (
    Event,
    PlannedStage,
    ResultArrived,
    RouteProposed,
    SlotsPublished,
)
from routing.lifecycle.journal import Journal
from routing.lifecycle.model import RouteState, State
from routing.lifecycle.repair import Repair, RepairPolicy, repair
from routing.result import RouteResult

__all__ = ["Service"]


class Service:
    """Living routes over a journal: the operations of ``routing event`` and ``routing state``.

    Parameters
    ----------
    journal
        The journal to append to and read from.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @classmethod
    def open(cls, url: str | None = None) -> Service:
        """A service over the journal at ``url`` (see :meth:`Journal.open`)."""
        return cls(Journal.open(url))

    def close(self) -> None:
        """Release the journal's connections."""
        self.journal.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def state(self, *, refresh: bool = True) -> State:
        """The state, with other writers' events taken in first (unless ``refresh`` is off)."""
        return self.journal.refresh() if refresh else self.journal.state()

    def apply(self, event: Event) -> State:
        """Append one event (see :meth:`Journal.append` for what it raises)."""
        return self.journal.append(event)

    def apply_and_repair(
        self,
        event: Event,
        requests: Mapping[str, RouteRequest],
        policy: RepairPolicy | None = None,
    ) -> tuple[State, tuple[Repair, ...]]:
        """Append ``event`` and the repairs of every route it put on the waitlist, in one
        transaction (see :func:`~routing.lifecycle.repair.repair`; ``now`` is the event's time).

        A result that arrives early (before it was due or expected) lets the stages that need
        it move earlier: its route is repaired for a gain too (the policy's minimum gain and
        freeze window apply). A route for which no plan is found stays on the waitlist; its
        :class:`Repair` says so.
        """
        before = self.journal.refresh()
        state = apply(before, event)
        touched = sorted(r for r in state.waitlist if before.routes.get(r) != state.routes.get(r))
        if (
            isinstance(event, ResultArrived)
            and _early(before, event)
            and event.route_id not in touched
        ):
            touched.append(event.route_id)
        events: list[Event] = [event]
        repairs: list[Repair] = []
        for route_id in touched:
            found = repair(state, requests, route_id, event.at, policy)
            repairs.append(found)
            for revised in found.events:
                state = apply(state, revised)
                events.append(revised)
        return self.journal.append_all(events), tuple(repairs)

    def apply_all(self, events: Iterable[Event]) -> State:
        """Append events in order; the first refused one raises, those before it stay."""
        state = self.journal.state()
        for event in events:
            state = self.journal.append(event)
        return state

    def publish(
        self,
        facilities: Iterable[Facility],
        slots: Iterable[Slot],
        *,
        event_id: str,
        at: datetime,
    ) -> State:
        """Publish slots (and the facilities that give them) as one event."""
        event = SlotsPublished(
            event_id=event_id, at=at, facilities=tuple(facilities), slots=tuple(slots)
        )
        return self.journal.append(event)

    def propose(
        self,
        result: RouteResult,
        *,
        at: datetime,
        route_id: str | None = None,
        event_id: str | None = None,
    ) -> RouteState:
        """Enter a planned route into the lifecycle, every stage proposed.

        Only ids go into the journal: the request's, the patient's pseudonym, the pathway's,
        and each booking's stage and slot.

        Parameters
        ----------
        result
            A result with a route (:attr:`RouteResult.has_route`).
        at
            When it is proposed.
        route_id
            The route's id; the request's id by default.
        event_id
            The event's id; ``"<route id>:proposed"`` by default.

        Raises
        ------
        InvalidInputError
            If the result holds no route.
        LifecycleError, ConflictError
            As :meth:`Journal.append`.
        """
        route = route_id or result.request_id
        if not result.has_route:
            raise InvalidInputError(
                f"request {result.request_id!r}", "status", "the result holds no route"
            )
        event = RouteProposed(
            event_id=event_id or f"{route}:proposed",
            at=at,
            route_id=route,
            request_id=result.request_id,
            patient_id=result.patient_id,
            pathway_id=result.pathway_id,
            stages=tuple(
                PlannedStage(stage_id=b.stage_id, slot_id=b.slot_id) for b in result.bookings
            ),
        )
        return self.journal.append(event).routes[route]


def _early(before: State, event: ResultArrived) -> bool:
    """Whether the result arrives before it was due (or expected, when delayed)."""
    stage = before.routes[event.route_id].stage(event.stage_id)
    until = None if stage is None else stage.result_pending_until
    return until is not None and event.at < until
