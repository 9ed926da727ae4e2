"""What the service serves: the lifecycle journal and the pathways.

One :class:`ServiceContext` per application. Journal writes are serialised by a lock (the
journal object is not shared between threads otherwise); several service processes over one
PostgreSQL journal are kept apart by the journal's own optimistic concurrency.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from nosology.catalogue import Catalogue
from nosology.pathway import Pathway
from routing.domain import RouteRequest
from routing.exceptions import InvalidInputError, InvalidTransitionError
from routing.lifecycle import RouteState, Service, State
from routing.lifecycle.events import StageBooked
from routing.live import LiveSlots
from routing.problem import load_problem
from routing.result import RouteResult
from routing.slot_index import SlotIndex
from routing.solve import SolveOptions, plan_route, prepare_index
from routing.views.i18n import Language
from routing.views.living import route_result_of
from routing.views.proposals import Proposal, propose
from routing.views.timeline import Timeline, build_timeline

if TYPE_CHECKING:
    from routing.manager.journal import JournalReport

__all__ = ["ServiceContext", "publish_event_id"]

logger = logging.getLogger(__name__)


def publish_event_id(text: bytes) -> str:
    """The id of the event that publishes a problem file: the same for the same content."""
    return "publish:" + hashlib.sha256(text).hexdigest()[:24]


class ServiceContext:
    """The journal, catalogue and problem pathways behind the endpoints.

    Parameters
    ----------
    service
        The lifecycle over the journal.
    catalogue
        Where pathways come from.
    pathways
        Pathways of the problem files, looked up before the catalogue.
    options
        Search limits of every plan.
    """

    def __init__(
        self,
        service: Service,
        *,
        catalogue: Catalogue,
        pathways: Mapping[str, Pathway],
        options: SolveOptions,
    ) -> None:
        self.service = service
        self.catalogue = catalogue
        self.pathways = dict(pathways)
        self.options = options
        self.lock = threading.Lock()
        self._requests: dict[str, RouteRequest] = {}
        self._report: tuple[tuple[object, ...], JournalReport] | None = None
        """The last report and what it was made of (it is made again when the journal grows)."""

    @classmethod
    def open(
        cls, db_url: str | None, problems: Iterable[Path], *, time_limit: float
    ) -> ServiceContext:
        """Open the journal and publish each problem file's facilities and slots once.

        Raises
        ------
        InvalidInputError
            A problem file is not a valid problem.
        OSError
            A problem file cannot be read.
        """
        service = Service.open(db_url)
        pathways: dict[str, Pathway] = {}
        for path in problems:
            text = Path(path).read_bytes()
            problem = load_problem(Path(path))
            pathways.update({p.id: p for p in problem.pathways})
            event_id = publish_event_id(text)
            if event_id not in service.state().event_ids:
                service.publish(
                    problem.facilities, problem.slots, event_id=event_id, at=datetime.now(UTC)
                )
                logger.info("published %d slots as %s", len(problem.slots), event_id)
        catalogue = Catalogue.builtin()
        live = service.state().live
        if live is not None:  # the index serves every request: prepared once, up front
            prepare_index(live, catalogue=catalogue, pathways=pathways)
        return cls(
            service,
            catalogue=catalogue,
            pathways=pathways,
            options=SolveOptions(time_limit=time_limit),
        )

    def close(self) -> None:
        """Release the journal."""
        self.service.close()

    def state(self) -> State:
        """The journal's state, other writers' events taken in."""
        with self.lock:
            return self.service.state()

    def _live(self, record: str) -> LiveSlots:
        live = self.service.state().live
        if live is None:
            raise InvalidInputError(record, "", "no slots are published")
        return live

    def plan(self, request: RouteRequest) -> RouteResult:
        """Plan the fastest route over the free places and enter it as proposed.

        A result without a route is returned and nothing is entered.

        Raises
        ------
        LifecycleError, ConflictError
            The journal refuses the proposal (a route of that id exists already, say).
        """
        with self.lock:
            live = self._live(f"request {request.id!r}")
            result = plan_route(
                request,
                live,
                catalogue=self.catalogue,
                pathways=self.pathways,
                options=self.options,
            )
            if result.has_route:
                self.service.propose(result, at=request.referral)
                self._requests[result.request_id] = request
            return result

    def propose(self, request: RouteRequest) -> Proposal:
        """The fastest route and its alternatives over the slots with a free place (nothing is
        entered)."""
        with self.lock:
            live = self._live(f"request {request.id!r}")
            index = live.index
            free = SlotIndex.build(
                index.facilities, live.free_slots(), calendar=index.calendar, travel=index.travel
            )
        return propose(
            request,
            free,
            catalogue=self.catalogue,
            pathways=self.pathways,
            options=self.options,
        )

    def route(self, route_id: str) -> RouteState:
        """A route of the journal.

        Raises
        ------
        KeyError
            No route has that id.
        """
        return self.state().routes[route_id]

    def book(self, route_id: str, *, at: datetime) -> RouteState:
        """Book every proposed stage of a route, all in one transaction or none.

        Raises
        ------
        KeyError
            No route has that id.
        LifecycleError
            A stage cannot be booked (no free place left), or no stage is proposed.
        ConflictError
            Another writer took a place of the route first.
        """
        with self.lock:
            route = self.service.state().routes[route_id]
            events = [
                StageBooked(
                    event_id=f"{route_id}:r{route.revision}:{stage.stage_id}:booked",
                    at=at,
                    route_id=route_id,
                    stage_id=stage.stage_id,
                )
                for stage in route.stages
                if stage.status.value == "proposed"
            ]
            if not events:
                raise InvalidTransitionError(
                    f"{route_id}:book", "stages", "no stage is proposed", route_id=route_id
                )
            return self.service.journal.append_all(events).routes[route_id]

    def report(
        self,
        *,
        patient: str | None = None,
        facility: str | None = None,
        day: date | None = None,
    ) -> JournalReport:
        """The manager's report over the journal (:func:`~routing.manager.journal.journal_report`).

        Routes this process planned are measured from their request's referral; the others
        from the time they were proposed (the service proposes at the referral). The report is
        kept until the journal holds a new event (replaying a large journal takes a while).

        Raises
        ------
        InvalidInputError
            ``patient``, ``facility`` or ``day`` names nothing in the journal.
        """
        from routing.manager.journal import journal_report

        with self.lock:
            self.service.state()  # other writers' events taken in
            journal = self.service.journal
            # Events are only appended: their number says whether the journal changed.
            key = (len(journal), len(self._requests), patient, facility, day)
            if self._report is not None and self._report[0] == key:
                return self._report[1]
            events = list(journal.events())
            requests = tuple(self._requests.values())
        report = journal_report(
            events,
            requests=requests,
            pathways=self.pathways,
            catalogue=self.catalogue,
            patient=patient,
            facility=facility,
            day=day,
        )
        with self.lock:
            self._report = (key, report)
        return report

    def _pathway(self, route: RouteState) -> Pathway:
        request = self._requests.get(route.route_id)
        if request is not None and request.pathway is not None:
            return request.pathway
        if route.pathway_id is None:
            raise KeyError(route.route_id)
        if route.pathway_id in self.pathways:
            return self.pathways[route.pathway_id]
        return self.catalogue.get(route.pathway_id)

    def timeline(self, route_id: str, language: Language) -> Timeline:
        """The patient's timeline of a route as it now stands (its current slots).

        Stages without a slot (a failed booking waiting for a new one) are left out. The
        timeline is issued at the request's referral when this process planned the route, else
        at the route's first appointment.

        Raises
        ------
        KeyError
            No route has that id, no stage of it has a slot, or its pathway is unknown.
        """
        with self.lock:
            state = self.service.state()
            route = state.routes[route_id]
            live = self._live(f"route {route_id!r}")
            request = self._requests.get(route_id)
        result = route_result_of(
            route, live, referral=request.referral if request is not None else None
        )
        if result is None:
            raise KeyError(route_id)
        pathway = self._pathway(route)
        return build_timeline(result, live.index, pathway, language=language)
