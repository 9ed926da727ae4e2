"""Which FHIR version a bundle is, and whether the FHIR adapter can read it.

The adapter reads R4, R4B (both with the R4B models) and R5. Another version is named in an
:class:`InvalidInputError` on ``Bundle.fhirVersion``: the version the sender declared (the
``fhirVersion`` mime-type parameter, ``major.minor`` such as ``3.0``, or a CapabilityStatement's
``fhirVersion`` such as ``3.0.2``), else a shape only that version has:

- DSTU2: a Slot with ``freeBusyType``, or a Schedule whose ``actor`` is a single reference;
- STU3: a Slot's or Schedule's ``serviceCategory``, a HealthcareService's ``category`` or a
  Location's ``type`` that is a single CodeableConcept (lists from R4 on).

Without a declaration R4 and R5 are told apart by serviceType (CodeableConcept in R4,
CodeableReference in R5) and appointmentType (one CodeableConcept in R4, a list in R5).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from routing.exceptions import InvalidInputError

__all__ = ["choose_version", "declared_release", "detect_version", "structural_version"]

_READ_VERSIONS = ("R4", "R4B", "R5")
_VERSION_NAMES = {
    "1.0": "DSTU2",
    "3.0": "STU3",
    "4.0": "R4",
    "4.3": "R4B",
    "5.0": "R5",
}
"""``major.minor`` of a declared ``fhirVersion`` → release name."""


def detect_version(entries: Sequence[Any]) -> str:
    """R4B when serviceType / appointmentType have the R4 shape in most resources, else R5."""
    r4 = r5 = 0
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            continue
        if resource.get("resourceType") not in ("Slot", "Schedule"):
            continue
        items = resource.get("serviceType")
        for item in items if isinstance(items, list) else ():
            if isinstance(item, Mapping):
                r5 += "concept" in item or "reference" in item
                r4 += "coding" in item or "text" in item
        appointment_type = resource.get("appointmentType")
        r4 += isinstance(appointment_type, Mapping)
        r5 += isinstance(appointment_type, list)
    return "R4B" if r4 > r5 else "R5"


_SINGLE_IN_STU3 = {
    "Slot": "serviceCategory",
    "Schedule": "serviceCategory",
    "HealthcareService": "category",
    "Location": "type",
}
"""Elements that are one CodeableConcept in STU3 and a list from R4 on."""


def structural_version(entries: Sequence[Any]) -> tuple[str, str] | None:
    """``(release, evidence)`` when an entry has a shape only DSTU2 or STU3 has."""
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping):
            continue
        kind = resource.get("resourceType")
        where = f"Bundle.entry[{index}]"
        if kind == "Slot" and "freeBusyType" in resource:
            return "DSTU2", f"{where}: a Slot with freeBusyType"
        if kind == "Schedule" and isinstance(resource.get("actor"), Mapping):
            return "DSTU2", f"{where}: a Schedule whose actor is a single reference"
        name = _SINGLE_IN_STU3.get(kind) if isinstance(kind, str) else None
        if name is not None and isinstance(resource.get(name), Mapping):
            return "STU3", f"{where}: {kind}.{name} is a single CodeableConcept"
    return None


def declared_release(version: str) -> str:
    """The release of a declared ``fhirVersion`` (``"3.0"``, ``"4.0.1"``, ``"R4"``, ...).

    Raises
    ------
    InvalidInputError
        On ``Bundle.fhirVersion`` for a version that is none of DSTU2, STU3, R4, R4B, R5.

    Examples
    --------
    >>> declared_release("3.0.2"), declared_release("4.0"), declared_release("5.0.0")
    ('STU3', 'R4', 'R5')
    """
    text = version.strip()
    if text.upper() in ("DSTU2", "STU3", "R3", "R4", "R4B", "R5"):
        return {"R3": "STU3"}.get(text.upper(), text.upper())
    match = re.match(r"^(\d+)\.(\d+)(?:\.\d+)?(?:-\S+)?$", text)
    if match is not None:
        name = _VERSION_NAMES.get(f"{match.group(1)}.{match.group(2)}")
        if name is not None:
            return name
    shown = repr(text) if len(text) <= 20 and text.isprintable() else "the value given"
    raise InvalidInputError(
        "Bundle", "fhirVersion", f"declared FHIR version {shown} is not one this reader knows"
    )


def _unreadable(release: str, evidence: str) -> InvalidInputError:
    reason = (
        f"a FHIR {release} bundle ({evidence}); this reader reads R4, R4B and R5: convert it "
        "or ask the server for R4 (mime type fhirVersion=4.0)"
    )
    return InvalidInputError("Bundle", "fhirVersion", reason)


def choose_version(
    entries: Sequence[Any], version: str, declared_version: str | None
) -> tuple[str, bool]:
    """The models to read with (``"R5"`` or ``"R4B"``) and whether the choice was a guess.

    Parameters
    ----------
    entries
        The bundle's entries, as parsed JSON.
    version
        The caller's choice: ``"auto"``, ``"R4"``, ``"R4B"`` or ``"R5"``.
    declared_version
        The version the sender declared, if any; wins over ``version``.

    Raises
    ------
    InvalidInputError
        On ``Bundle.fhirVersion`` when the declaration or a DSTU2/STU3 shape names a version
        the adapter does not read (the message names it and what showed it).
    """
    if declared_version is not None:
        release = declared_release(declared_version)
        if release not in _READ_VERSIONS:
            raise _unreadable(release, f"declared fhirVersion {declared_version.strip()[:20]}")
    found = structural_version(entries)
    if found is not None:
        raise _unreadable(*found)
    if declared_version is not None:
        release = declared_release(declared_version)
        return ("R5" if release == "R5" else "R4B"), False
    if version != "auto":
        return ("R5" if version == "R5" else "R4B"), False
    return detect_version(entries), True
