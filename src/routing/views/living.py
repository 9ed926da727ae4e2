"""A living route (the lifecycle's :class:`~routing.lifecycle.model.RouteState`) as a planned
:class:`~routing.result.RouteResult`, so that the patient's views show it as it now stands."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from routing.lifecycle.model import RouteState
from routing.live import LiveSlots
from routing.result import Booking, RouteResult, SolveStatus

__all__ = ["route_result_of"]


def route_result_of(
    route: RouteState,
    live: LiveSlots,
    *,
    referral: datetime | None = None,
    stages: Collection[str] | None = None,
    slots: dict[str, str] | None = None,
) -> RouteResult | None:
    """The route's stages on their slots as a result (``None`` when no stage has a slot).

    Parameters
    ----------
    route
        The living route.
    live
        Its slots (published in the journal).
    referral
        The request's referral; the first appointment's start when unknown.
    stages
        Only these stages (e.g. those the current pathway has); all by default.
    slots
        Stage id → slot id to show instead of the stage's own (e.g. the slot it left).
    """
    bookings = []
    for stage in route.stages:
        if stages is not None and stage.stage_id not in stages:
            continue
        slot_id = (slots or {}).get(stage.stage_id, stage.slot_id)
        if slot_id is None:
            continue
        slot = live.slot(slot_id)
        bookings.append(
            Booking(
                stage_id=stage.stage_id,
                slot_id=slot.id,
                facility_id=slot.facility_id,
                service=slot.service,
                start=slot.start,
                end=slot.end,
                mode=slot.mode,
            )
        )
    if not bookings:
        return None
    return RouteResult(
        request_id=route.request_id,
        patient_id=route.patient_id,
        pathway_id=route.pathway_id,
        status=SolveStatus.FEASIBLE,
        referral=referral if referral is not None else min(b.start for b in bookings),
        bookings=tuple(bookings),
    )
