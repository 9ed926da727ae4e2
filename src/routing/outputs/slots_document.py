"""The document ``routing slots import --json`` prints (apart: the importer needs ``fhir``)."""

from __future__ import annotations

from pydantic import NonNegativeInt

from nosology.pathway import FrozenModel
from routing.adapters.importer import ServiceSummary
from routing.adapters.source import SourceIssue

__all__ = ["SlotImportDocument"]


class SlotImportDocument(FrozenModel):
    """What an import read: counts, a summary per facility and service, the issues met."""

    facilities: NonNegativeInt
    """The number of facilities read."""
    slots: NonNegativeInt
    """The number of free slots in the window."""
    services: tuple[ServiceSummary, ...]
    issues: tuple[SourceIssue, ...]
    """Records or whole sources that could not be read (the exit status is then 1)."""
    output: str | None
    """The slots file written, if any."""
