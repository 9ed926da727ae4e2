"""Diagnosis codes (МКБ-10 / ICD-10) and the care pathways they lead to.

This package never imports :mod:`routing`.
"""

from nosology.exceptions import (
    CatalogueError,
    InconsistentPathwayError,
    InvalidCodeError,
    MergeConflictError,
    NosologyError,
    UnknownPathwayError,
)
from nosology.pathway import (
    REFERRAL,
    Applicability,
    Deadline,
    EventPoint,
    LagUnit,
    LocalizedText,
    Pathway,
    ServiceRef,
    Stage,
    TemporalConstraint,
    VisitMode,
    Window,
    parse_event,
)

__all__ = [
    "REFERRAL",
    "Applicability",
    "CatalogueError",
    "Deadline",
    "EventPoint",
    "InconsistentPathwayError",
    "InvalidCodeError",
    "LagUnit",
    "LocalizedText",
    "MergeConflictError",
    "NosologyError",
    "Pathway",
    "ServiceRef",
    "Stage",
    "TemporalConstraint",
    "UnknownPathwayError",
    "VisitMode",
    "Window",
    "parse_event",
]
