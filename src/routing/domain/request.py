"""Route requests: route this patient, for these diagnoses or this pathway, from the referral."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Annotated, Any, Self

from pydantic import Field, Strict, StringConstraints, model_validator

from nosology.pathway import FrozenModel, Pathway
from routing.domain.common import Instant, LowerId, RecordId, Region, record_name
from routing.domain.patient import Patient
from routing.exceptions import InvalidInputError

__all__ = ["RouteRequest"]

DiagnosisCode = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""A raw diagnosis code as given: checked against the registry later, never echoed."""


class RouteRequest(FrozenModel):
    """A request to route one patient through a pathway, starting at the referral.

    The diagnoses never appear in the repr or in any message.

    Attributes
    ----------
    id
        Unique in a problem.
    patient
        Who is routed.
    diagnoses
        Raw diagnosis codes as given (resolved to a pathway later).
    pathway_id
        A pathway chosen explicitly by id (built-in or from the problem file).
    pathway
        A pathway given inline. At least one of ``diagnoses``, ``pathway_id`` and ``pathway``.
    referral
        The event ``"referral"``: the earliest moment any stage may start.
    reference_dates
        Dates that pathway windows refer to, e.g. ``"last_menstrual_period"``.
    region
        The ISO 3166-2 region whose rules apply.
    horizon_days
        How far after the referral slots are searched (at most ten years).
    priority
        Higher is planned first when patients compete for slots.
    existing_bookings
        Stage id → slot id already booked (kept by batch planning and re-planning).
    not_before
        Stage id → the earliest moment the stage may start, later than the referral (e.g. the
        result of an earlier test it needs is expected then; re-planning a living route sets it).
    """

    id: RecordId
    patient: Patient
    diagnoses: tuple[DiagnosisCode, ...] = ()
    pathway_id: LowerId | None = None
    pathway: Pathway | None = None
    referral: Instant
    reference_dates: dict[LowerId, date] = Field(default_factory=dict)
    region: Region = "RU-SPE"
    horizon_days: Annotated[int, Strict(), Field(ge=1, le=3660)] = 90
    priority: Annotated[int, Strict(), Field(ge=-1_000_000, le=1_000_000)] = 0
    existing_bookings: dict[LowerId, RecordId] = Field(default_factory=dict)
    not_before: dict[LowerId, Instant] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_pathway(self) -> Self:
        record = record_name("request", self.id)
        if not self.diagnoses and self.pathway_id is None and self.pathway is None:
            reason = "give diagnoses, a pathway_id or a pathway"
            raise InvalidInputError(record, "diagnoses", reason)
        if self.pathway is not None and self.pathway_id not in (None, self.pathway.id):
            reason = "differs from the id of the pathway given"
            raise InvalidInputError(record, "pathway_id", reason)
        if self.pathway is not None:
            stage_ids = {s.id for s in self.pathway.stages}
            for field, named in (
                ("existing_bookings", self.existing_bookings),
                ("not_before", self.not_before),
            ):
                for stage_id in named:
                    if stage_id not in stage_ids:
                        raise InvalidInputError(
                            record, f"{field}.{stage_id}", "names no stage of the pathway"
                        )
        return self

    def __hash__(self) -> int:
        return hash((self.id, self.patient, self.diagnoses, self.pathway_id, self.referral))

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        return [
            ("id", self.id),
            ("patient", self.patient),
            ("pathway_id", self.pathway_id if self.pathway is None else self.pathway.id),
            ("referral", self.referral),
            ("region", self.region),
        ]
