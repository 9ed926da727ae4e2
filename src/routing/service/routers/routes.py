"""Routes: plan, propose alternatives, book, read, the patient's timeline and calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from nosology.pathway import FrozenModel
from routing.domain import RouteRequest
from routing.lifecycle import RouteState
from routing.result import RouteResult
from routing.service.auth import Caller, clinician, link_token, route_reader
from routing.service.deps import Context, Settings
from routing.service.errors import NotFoundError
from routing.views.i18n import DEFAULT_LANGUAGE, Language
from routing.views.ics import timeline_ics
from routing.views.proposals import Proposal
from routing.views.timeline import Timeline

__all__ = ["PatientLink", "router"]

router = APIRouter(prefix="/routes", tags=["routes"])

Clinician = Annotated[Caller, Depends(clinician)]
Reader = Annotated[Caller, Depends(route_reader)]


class PatientLink(FrozenModel):
    """The token a patient reads one route with (``Authorization: Bearer <token>``)."""

    route_id: str
    token: str


@router.post("/plan", response_model=RouteResult)
def plan(request: RouteRequest, context: Context, _caller: Clinician) -> RouteResult:
    """Plan the fastest route over the free places; a route found is entered as proposed
    (its id is the request's)."""
    return context.plan(request)


@router.post("/propose", response_model=Proposal)
def propose(request: RouteRequest, context: Context, _caller: Clinician) -> Proposal:
    """The fastest route and its alternatives (fewer visit days, closer, preferred places)."""
    return context.propose(request)


def _route(context: Context, route_id: str) -> RouteState:
    try:
        return context.route(route_id)
    except KeyError:
        raise NotFoundError(f"route {route_id!r}") from None


@router.post("/{route_id}/book", response_model=RouteState)
def book(route_id: str, context: Context, _caller: Clinician) -> RouteState:
    """Book every proposed stage of the route, all or none (409 when a place is gone)."""
    _route(context, route_id)
    try:
        return context.book(route_id, at=datetime.now(UTC))
    except KeyError:
        raise NotFoundError(f"route {route_id!r}") from None


@router.get("/{route_id}", response_model=RouteState)
def read(route_id: str, context: Context, _caller: Reader) -> RouteState:
    """The route's stages, statuses and history."""
    return _route(context, route_id)


@router.get("/{route_id}/link", response_model=PatientLink)
def link(route_id: str, context: Context, settings: Settings, _caller: Clinician) -> PatientLink:
    """The patient link of the route, to give to the patient."""
    _route(context, route_id)
    token = link_token(settings.link_secret.get_secret_value(), route_id)
    return PatientLink(route_id=route_id, token=token)


def _timeline(context: Context, route_id: str, lang: Language) -> Timeline:
    _route(context, route_id)
    try:
        return context.timeline(route_id, lang)
    except KeyError:
        raise NotFoundError(f"timeline of route {route_id!r}") from None


@router.get("/{route_id}/timeline", response_model=Timeline)
def timeline(
    route_id: str,
    context: Context,
    _caller: Reader,
    lang: Annotated[Language, Query()] = DEFAULT_LANGUAGE,
) -> Timeline:
    """The patient's timeline of a route this service planned."""
    return _timeline(context, route_id, lang)


@router.get(
    "/{route_id}/route.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def calendar(
    route_id: str,
    context: Context,
    _caller: Reader,
    lang: Annotated[Language, Query()] = DEFAULT_LANGUAGE,
) -> Response:
    """The route as an iCalendar file, one event per stage (sequence = the route's revision)."""
    revision = _route(context, route_id).revision
    body = timeline_ics(_timeline(context, route_id, lang), revision=revision)
    return Response(body, media_type="text/calendar; charset=utf-8")
