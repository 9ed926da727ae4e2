"""Supply: how many slots each service gets, and the slot calendars that hold them.

How tight capacity is
---------------------
For every service ``s`` the cohort's demand ``D_s`` is counted from the pathways of its requests:
each stage of each request is one unit of demand, split equally among the stage's alternative
services that some facility of the region offers at the stage's level or above (a CT-or-MRI stage
with four alternatives adds 1/4 to each). A service no request needs counts as the demand of one
stage, so every pathway stays routable.

The supply of ``s`` over the first ``window_days`` working days is ``D_s / ratio_s`` units (a unit
is one patient's place in a slot), with::

    ratio_s = contention                     for specialist services (oncologist, imaging,
                                             endoscopy, biopsy, tumour board, treatment,
                                             admissions, cardiologist, echo, Holter, ...)
    ratio_s = contention * PRIMARY_SLACK     for primary-care services (blood draw, ECG,
                                             therapist, ophthalmologist, endocrinologist)

so ``contention`` is demand ÷ supply of the scarcest (specialist) services within the window.
The same daily rate ``D_s / (ratio_s * window_days)`` continues over every working day of the
horizon: the units of the first ``k`` working days are ``floor(k * rate)`` (so supply never rises
when ``contention`` rises). Each day's units are dealt to the facilities offering ``s`` at
random, in proportion to their weights (:func:`routing.region.generate.supply_weights`), and laid
on the facility's appointment grid for the service (its hours, one stage duration apart, as many
parallel resources as the count needs).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from nosology.pathway import Pathway, ServiceRef
from routing.domain import Facility, Slot
from routing.region.services import SERVICES, StageService

__all__ = ["PRIMARY_SLACK", "build_slots", "service_demand", "service_rates"]

PRIMARY_SLACK = 0.5
"""Primary-care services are this factor less tight than the specialist ones."""


def service_demand(pathways: Iterable[Pathway], facilities: Sequence[Facility]) -> dict[str, float]:
    """Units of demand per service: one per stage, split among the services that can serve it.

    Parameters
    ----------
    pathways
        The pathway of each request (repeated once per request).
    facilities
        The facilities of the region, with their levels and services.
    """
    by_level: dict[str, int] = {}
    for facility in facilities:
        for key in facility.service_keys:
            by_level[key] = max(by_level.get(key, 0), facility.level)
    demand: dict[str, float] = {}
    cache: dict[tuple[str, str], tuple[str, ...]] = {}
    for pathway in pathways:
        for stage in pathway.stages:
            usable = cache.get((pathway.id, stage.id))
            if usable is None:
                level = stage.facility_level or 1
                usable = tuple(k for k in sorted(stage.service_keys) if by_level.get(k, 0) >= level)
                cache[(pathway.id, stage.id)] = usable
            for key in usable:
                demand[key] = demand.get(key, 0.0) + 1.0 / len(usable)
    return demand


def service_rates(
    demand: Mapping[str, float], services: Iterable[str], contention: float, window_days: int
) -> dict[str, float]:
    """Units per working day of each service (see the module docstring)."""
    rates: dict[str, float] = {}
    for key in sorted(services):
        ratio = contention * (PRIMARY_SLACK if SERVICES[key].primary else 1.0)
        rates[key] = max(demand.get(key, 0.0), 1.0) / (ratio * window_days)
    return rates


def build_slots(
    rng: np.random.Generator,
    facilities: Sequence[Facility],
    weights: Sequence[float],
    days: Sequence[date],
    rates: Mapping[str, float],
    usage: Mapping[str, StageService],
    zone: ZoneInfo,
) -> list[Slot]:
    """The free slots of every service on every working day of ``days``, in a stable order.

    ``weights`` gives each facility's share of the supply of the services it offers, relative to
    the other facilities offering them. Order: service (sorted), then day, then facility, then
    start, then resource.
    """
    slots: list[Slot] = []
    for key in sorted(rates):
        spec = SERVICES[key]
        offering = [n for n, f in enumerate(facilities) if key in f.service_keys]
        if not offering:
            continue
        shares = np.array([weights[n] for n in offering])
        shares /= shares.sum()
        use = usage[key]
        service = ServiceRef.model_validate(key)
        grid = max(1, (spec.closes - spec.opens) * 60 // use.duration_minutes)
        rate = rates[key]
        for k, day in enumerate(days):
            units = math.floor(rate * (k + 1)) - math.floor(rate * k)
            if units <= 0:
                continue
            per_facility = rng.multinomial(units, shares)
            for n, count in zip(offering, per_facility.tolist(), strict=True):
                if count:
                    slots.extend(
                        _day_slots(rng, facilities[n], service, key, day, count, grid, use, zone)
                    )
    return slots


def _day_slots(
    rng: np.random.Generator,
    facility: Facility,
    service: ServiceRef,
    key: str,
    day: date,
    units: int,
    grid: int,
    use: StageService,
    zone: ZoneInfo,
) -> Iterable[Slot]:
    """``units`` places of one service at one facility on one day, on its appointment grid."""
    spec = SERVICES[key]
    capacities = [spec.capacity] * (units // spec.capacity)
    if units % spec.capacity:
        capacities.append(units % spec.capacity)
    count = len(capacities)
    resources = -(-count // grid)
    cells = np.sort(rng.choice(resources * grid, size=count, replace=False))
    opens = datetime.combine(day, time(spec.opens), zone)
    for cell, capacity in zip(cells.tolist(), capacities, strict=True):
        resource, step = divmod(cell, grid)
        start = opens + timedelta(minutes=step * use.duration_minutes)
        yield Slot(
            id=f"{facility.id}/{day:%Y%m%d}/{start:%H%M}/{key}/{resource + 1}",
            facility_id=facility.id,
            service=service,
            start=start,
            end=start + timedelta(minutes=use.duration_minutes),
            capacity=capacity,
            resource=f"{facility.id}/{key}/{resource + 1}",
            mode=use.mode,
        )
