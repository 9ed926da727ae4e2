"""Diagnosis codes (МКБ-10 / ICD-10) and the care pathways they lead to.

Codes are normalised and validated against the shipped МКБ-10 registry
(:data:`MKB10_REGISTRY_OID`, version :data:`MKB10_VERSION`, loaded lazily on first use), resolved
to the most specific pathway of a :class:`Catalogue`, merged when a patient has several, and
compiled into a :class:`TemporalGraph`. This package never imports :mod:`routing`.

Examples
--------
>>> from nosology import pathway_for, resolve_code
>>> resolve_code("С34.1").pathway_id  # a Cyrillic С
'zno_lung'
>>> [s.id for s in pathway_for(["c341"]).stages][:2]
['consultation', 'chest_ct']
"""

from nosology.catalogue import BUILTIN, Catalogue, load_pathway_file
from nosology.codes import (
    CodeKind,
    CodeSpec,
    DiagnosisCode,
    NormalizedCode,
    ancestors,
    code_within,
    is_valid_code,
    normalize_code,
    parse_code,
    parse_spec,
    split_codes,
)
from nosology.exceptions import (
    CatalogueError,
    InconsistentPathwayError,
    InvalidCodeError,
    MergeConflictError,
    NosologyError,
    UnknownPathwayError,
)
from nosology.merge import merge_pathways
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
from nosology.registry import MKB10_REGISTRY_OID, MKB10_VERSION
from nosology.resolve import Resolution, pathway_for, resolve_code, resolve_codes
from nosology.temporal import TemporalGraph, compile_pathway

__all__ = [
    "BUILTIN",
    "MKB10_REGISTRY_OID",
    "MKB10_VERSION",
    "REFERRAL",
    "Applicability",
    "Catalogue",
    "CatalogueError",
    "CodeKind",
    "CodeSpec",
    "Deadline",
    "DiagnosisCode",
    "EventPoint",
    "InconsistentPathwayError",
    "InvalidCodeError",
    "LagUnit",
    "LocalizedText",
    "MergeConflictError",
    "NormalizedCode",
    "NosologyError",
    "Pathway",
    "Resolution",
    "ServiceRef",
    "Stage",
    "TemporalConstraint",
    "TemporalGraph",
    "UnknownPathwayError",
    "VisitMode",
    "Window",
    "ancestors",
    "code_within",
    "compile_pathway",
    "is_valid_code",
    "load_pathway_file",
    "merge_pathways",
    "normalize_code",
    "parse_code",
    "parse_event",
    "parse_spec",
    "pathway_for",
    "resolve_code",
    "resolve_codes",
    "split_codes",
]
