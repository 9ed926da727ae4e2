"""What ``routing slots import`` writes and prints (apart: the importer needs ``fhir``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from pydantic import NonNegativeInt

from nosology.pathway import FrozenModel
from routing.adapters.importer import ServiceSummary, slots_problem
from routing.adapters.source import SlotBatch, SourceIssue
from routing.outputs.atomic import write_text
from routing.problem import Problem, dump_problem

__all__ = ["SlotImportDocument", "write_slots_file"]

logger = logging.getLogger(__name__)


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


def write_slots_file(batch: SlotBatch | Iterable[SlotBatch], path: Path | str) -> Problem:
    """Write the facilities and slots as a problem document with no requests.

    The document is :func:`~routing.adapters.importer.slots_problem`'s, so the same batch always
    gives the same bytes. The file is replaced atomically, and missing parent directories are
    created (:func:`routing.outputs.atomic.write_text`).

    Returns
    -------
    Problem
        The problem written (``load_problem(path)`` gives it back).

    Raises
    ------
    InvalidProblemError
        If the records do not form a valid problem (e.g. a slot at a facility not in the batch).
    """
    problem = slots_problem(batch)
    write_text(path, dump_problem(problem))
    logger.info("wrote %d facilities and %d slots", len(problem.facilities), len(problem.slots))
    return problem
