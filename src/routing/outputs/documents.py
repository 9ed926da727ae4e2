"""The JSON documents the ``routing`` command prints with ``--json`` and writes with ``--output``.

Each document is a model built from the library's own models (a :class:`RouteResult` is a
:class:`RouteResult` here too, never a copy), so that the command prints exactly
``document.model_dump(mode="json")`` and the published JSON Schema is generated from the same
classes (:mod:`routing.outputs.schemas`).

==========================  ==========================================================
document                    printed or written by
==========================  ==========================================================
:class:`PathwayListing`     ``routing pathways list --json`` (a JSON array)
:class:`ShownPathway`       ``routing pathways show ID --json``
:class:`ResolveDocument`    ``routing pathways resolve CODE... --json``
:class:`PlanDocument`       ``routing plan --json`` and the file of ``plan --output``
:class:`BatchDocument`      ``routing batch --json``
``SlotImportDocument``      ``routing slots import --json``
                            (:mod:`routing.outputs.slots_document`: it needs the
                            ``fhir`` extra that the importer imports)
==========================  ==========================================================
"""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeInt, RootModel

from nosology.pathway import FrozenModel, LocalizedText, Pathway
from nosology.resolve import Resolution
from routing.batch.report import BatchReport
from routing.result import RouteResult

__all__ = [
    "BatchDocument",
    "InvalidCode",
    "PathwayListing",
    "PathwaySummary",
    "PlanDocument",
    "RegistryRef",
    "ResolveDocument",
    "ResolvedCode",
    "ShownPathway",
]


class PathwaySummary(FrozenModel):
    """One pathway of a catalogue, in brief."""

    id: str
    version: str
    title: LocalizedText
    codes: tuple[str, ...]
    """The МКБ-10 codes and ranges the pathway applies to."""
    priority: int
    stages: NonNegativeInt
    """The number of stages."""
    origin: str
    """Where the pathway comes from: ``built-in`` or the file it was read from."""


class PathwayListing(RootModel[tuple[PathwaySummary, ...]]):
    """The pathways of a catalogue, in catalogue order."""

    model_config = {"frozen": True}


class ShownPathway(Pathway):
    """A pathway with the place it comes from."""

    origin: str
    """``built-in`` or the file the pathway was read from."""


class ResolvedCode(Resolution):
    """A valid input code and the pathway it resolves to."""

    input: str
    """The code as given."""
    valid: Literal[True] = True


class InvalidCode(FrozenModel):
    """An input code that is not a valid МКБ-10 code."""

    input: str
    """The code as given."""
    valid: Literal[False] = False
    error: str
    """What is wrong with it."""


class ResolveDocument(FrozenModel):
    """The resolution of every input code, and of the valid ones together."""

    codes: tuple[ResolvedCode | InvalidCode, ...]
    combined_pathway: str | None
    """With two valid codes or more: the one pathway they lead to together, or ``none (why)``."""


class RegistryRef(FrozenModel):
    """The МКБ-10 registry the codes were checked against."""

    oid: str
    version: str


class PlanDocument(FrozenModel):
    """The routes of a problem's requests, each planned on its own."""

    generator: str
    """The program and its version."""
    mkb10_registry: RegistryRef
    results: tuple[RouteResult, ...]
    """One result per request planned, in the problem's order."""


class BatchDocument(FrozenModel):
    """A batch run: where its files are, and the report."""

    generator: str
    """The program and its version."""
    exit_status: int
    """The command's exit status (0 all planned, 1 some not, 3 the time limit cut the search)."""
    output_dir: str
    """The directory the files were written to."""
    files: tuple[str, ...]
    """The names of the files written in it."""
    report: BatchReport
