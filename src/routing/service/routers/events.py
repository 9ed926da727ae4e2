"""Events: apply one lifecycle event to the journal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from routing.lifecycle import Event, RouteState
from routing.service.auth import Caller, clinician
from routing.service.deps import Context

__all__ = ["router"]

router = APIRouter(tags=["events"])


@router.post("/events", response_model=RouteState | None)
def apply_event(
    event: Annotated[Event, Body()],
    context: Context,
    _caller: Annotated[Caller, Depends(clinician)],
) -> RouteState | None:
    """Append one event; the route it touches as it now stands (``null`` for slot events)."""
    with context.lock:
        state = context.service.apply(event)
    route_id = getattr(event, "route_id", None)
    return state.routes.get(route_id) if isinstance(route_id, str) else None
