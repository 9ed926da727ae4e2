"""Which facility kinds offer which services, during which hours: the service table of the region.

The table covers every service of the built-in pathways. A service is offered by the kinds named in
its :class:`ServiceSpec`, each facility of a kind with the given probability (1.0: all of them);
when the draw leaves a service with no facility at all, the first facility of its most likely kind
offers it. The figures are the generator's assumptions, shaped on how Saint Petersburg is organised
(polyclinics for primary care; ЦАОП for the oncologist and first-line imaging; diagnostic centres
for imaging and cardiology; hospitals for endoscopy, surgery and admissions; the oncology dispensary
and hospitals with an oncology department for the tumour board and treatment).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from nosology.pathway import Pathway, VisitMode
from routing.region.geography import FacilityKind

__all__ = [
    "KIND_WEIGHTS",
    "SERVICES",
    "ServiceSpec",
    "StageService",
    "offered_services",
    "service_usage",
]

_K = FacilityKind


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How the region offers one service.

    Attributes
    ----------
    opens, closes
        Local hours: the first appointment starts at ``opens``, the last ends by ``closes``.
    primary
        A primary-care service (tests, ECG, therapist, ophthalmologist, endocrinologist): its
        supply is looser than that of the specialist services (see :mod:`.capacity`).
    offered_by
        Facility kind → probability that a facility of that kind offers the service.
    capacity
        Patients per slot (a tumour board session reviews several cases).
    """

    opens: int
    closes: int
    primary: bool
    offered_by: Mapping[FacilityKind, float]
    capacity: int = 1


def _spec(
    opens: int,
    closes: int,
    offered_by: dict[FacilityKind, float],
    *,
    primary: bool = False,
    capacity: int = 1,
) -> ServiceSpec:
    return ServiceSpec(opens, closes, primary, MappingProxyType(offered_by), capacity)


_PRIMARY = {_K.POLYCLINIC: 1.0, _K.POLYCLINIC_BRANCH: 1.0}
_CT = {
    _K.CAOP: 1.0,
    _K.DIAGNOSTIC_CENTRE: 1.0,
    _K.HOSPITAL: 1.0,
    _K.ONCOLOGY_HOSPITAL: 1.0,
    _K.ONCOLOGY_DISPENSARY: 1.0,
}
_CT_CONTRAST = {
    _K.CAOP: 0.5,
    _K.DIAGNOSTIC_CENTRE: 0.5,
    _K.HOSPITAL: 0.5,
    _K.ONCOLOGY_HOSPITAL: 1.0,
    _K.ONCOLOGY_DISPENSARY: 1.0,
}
_MRI = {
    _K.DIAGNOSTIC_CENTRE: 1.0,
    _K.HOSPITAL: 0.5,
    _K.ONCOLOGY_HOSPITAL: 1.0,
    _K.ONCOLOGY_DISPENSARY: 1.0,
}
_CARDIO = {_K.POLYCLINIC: 0.5, _K.DIAGNOSTIC_CENTRE: 1.0, _K.HOSPITAL: 1.0}
_BREAST = {_K.CAOP: 1.0, _K.DIAGNOSTIC_CENTRE: 1.0, _K.ONCOLOGY_DISPENSARY: 1.0}
_ONCO_3 = {_K.ONCOLOGY_HOSPITAL: 1.0, _K.ONCOLOGY_DISPENSARY: 1.0}

SERVICES: Mapping[str, ServiceSpec] = MappingProxyType(
    {
        # Primary care, level 1.
        "nmu:A11.12.009": _spec(8, 11, {**_PRIMARY, _K.WOMENS_CONSULTATION: 1.0}, primary=True),
        "nmu:A05.10.006": _spec(8, 15, _PRIMARY, primary=True),  # ECG
        "fer:27": _spec(9, 20, _PRIMARY, primary=True),  # therapist (portal specialty)
        "nmu:B01.047.001": _spec(9, 17, {_K.POLYCLINIC: 0.5}, primary=True),  # therapist
        "nmu:B01.058.001": _spec(
            9, 17, {_K.POLYCLINIC: 0.6, _K.DIAGNOSTIC_CENTRE: 1.0}, primary=True
        ),  # endocrinologist
        "fer:20": _spec(9, 17, {_K.POLYCLINIC: 1.0}, primary=True),  # ophthalmologist (portal)
        "nmu:B01.029.001": _spec(
            9, 17, {_K.POLYCLINIC: 0.3, _K.DIAGNOSTIC_CENTRE: 1.0}, primary=True
        ),  # ophthalmologist
        # Cardiology: polyclinics (some), diagnostic centres, hospitals.
        "nmu:B01.015.001": _spec(9, 17, _CARDIO),  # cardiologist, first visit
        "nmu:B01.015.002": _spec(9, 17, _CARDIO),  # cardiologist, follow-up
        "nmu:A04.10.002": _spec(9, 15, {**_CARDIO, _K.POLYCLINIC: 0.3}),  # echocardiography
        "nmu:A05.10.008": _spec(9, 15, {**_CARDIO, _K.POLYCLINIC: 0.4}),  # Holter
        # Oncology and imaging, level 2 and up.
        "nmu:B01.027.001": _spec(9, 17, {_K.CAOP: 1.0, **_ONCO_3}),  # oncologist
        "nmu:A06.09.005": _spec(8, 20, _CT),  # chest CT
        "nmu:A06.09.005.002": _spec(8, 20, _CT_CONTRAST),
        "nmu:A06.30.005": _spec(8, 20, _CT),  # abdominal CT
        "nmu:A06.30.005.002": _spec(8, 20, _CT_CONTRAST),
        "nmu:A05.30.005": _spec(8, 20, _MRI),  # abdominal MRI
        "nmu:A05.23.009": _spec(8, 20, {**_MRI, _K.ONCOLOGY_HOSPITAL: 0.5}),  # brain MRI
        "nmu:A06.20.004": _spec(9, 17, _BREAST),  # mammography
        "nmu:A04.20.002": _spec(9, 17, _BREAST),  # breast ultrasound
        "nmu:A11.20.010": _spec(9, 15, {_K.CAOP: 1.0, _K.ONCOLOGY_DISPENSARY: 1.0}),  # core biopsy
        "catalogue:biopsy": _spec(9, 15, {_K.CAOP: 1.0, **_ONCO_3}),
        "nmu:A03.18.001": _spec(
            9, 15, {_K.CAOP: 0.5, _K.DIAGNOSTIC_CENTRE: 1.0, _K.HOSPITAL: 1.0, **_ONCO_3}
        ),  # colonoscopy
        "nmu:A04.30.001": _spec(
            9, 17, {_K.DIAGNOSTIC_CENTRE: 1.0, _K.HOSPITAL: 0.5}
        ),  # obstetric US
        # Level 3.
        "nmu:A03.09.001": _spec(9, 15, {_K.HOSPITAL: 0.5, **_ONCO_3}),  # bronchoscopy
        "catalogue:oncology_tumour_board": _spec(14, 17, _ONCO_3, capacity=5),
        "catalogue:oncology_specialised_treatment": _spec(8, 16, _ONCO_3),
        "catalogue:cardiology_specialised_care": _spec(
            8, 16, {_K.HOSPITAL: 1.0, _K.ONCOLOGY_HOSPITAL: 1.0}
        ),
        "nmu:A16.26.093.002": _spec(8, 16, {_K.HOSPITAL: 0.5}),  # cataract surgery
    }
)
"""Service key → how the region offers it."""

KIND_WEIGHTS: Mapping[FacilityKind, float] = MappingProxyType(
    {
        _K.POLYCLINIC: 1.0,
        _K.POLYCLINIC_BRANCH: 0.4,
        _K.WOMENS_CONSULTATION: 0.5,
        _K.CAOP: 1.0,
        _K.DIAGNOSTIC_CENTRE: 1.0,
        _K.HOSPITAL: 1.0,
        _K.ONCOLOGY_HOSPITAL: 1.5,
        _K.ONCOLOGY_DISPENSARY: 3.0,
    }
)
"""The share of a service's supply a facility of each kind gets, relative to the others."""


@dataclass(frozen=True, slots=True)
class StageService:
    """How the pathways use a service: the longest stage duration and the stage mode."""

    duration_minutes: int
    mode: VisitMode


def service_usage(pathways: Iterable[Pathway]) -> dict[str, StageService]:
    """Service key → its longest stage duration and mode over ``pathways``.

    Raises
    ------
    ValueError
        If a service is used both in person and remotely, or is missing from :data:`SERVICES`.
    """
    found: dict[str, StageService] = {}
    for pathway in pathways:
        for stage in pathway.stages:
            for key in sorted(stage.service_keys):
                if key not in SERVICES:
                    raise ValueError(f"pathway {pathway.id!r}: service {key!r} has no region entry")
                old = found.get(key)
                # The region's own slots of a stage that may be either are in person.
                mode = VisitMode.IN_PERSON if stage.mode is VisitMode.EITHER else stage.mode
                if old is not None and old.mode is not mode:
                    raise ValueError(f"service {key!r} is used both in person and remotely")
                minutes = max(stage.duration_minutes, old.duration_minutes if old else 0)
                found[key] = StageService(minutes, mode)
    return found


def offered_services(
    rng: np.random.Generator, kinds: list[FacilityKind], services: Iterable[str]
) -> list[list[str]]:
    """For each facility (given by kind, in order), the sorted services it offers.

    Draws happen service by service in sorted order, then facility by facility, so the result
    depends only on ``rng``, ``kinds`` and the set of ``services``.
    """
    offered: list[list[str]] = [[] for _ in kinds]
    for key in sorted(services):
        spec = SERVICES[key]
        chances = np.array([spec.offered_by.get(kind, 0.0) for kind in kinds])
        draws = rng.random(len(kinds))
        takers = np.flatnonzero(draws < chances)
        if len(takers) == 0 and chances.max() > 0:
            takers = np.array([int(np.argmax(chances))])
        for n in takers.tolist():
            offered[n].append(key)
    return offered
