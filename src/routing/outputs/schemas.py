"""The published JSON Schemas (draft 2020-12) of the problem file and of every command's output.

The schemas are generated from the models (:mod:`routing.outputs.documents`), the problem's for
what is read and the documents' for what is printed; the same text is shipped as package data in
``routing/outputs/json_schemas/<name>.schema.json``, for clients in other languages.
``routing schema --of NAME`` prints one; after a model changes,
``python -m routing.outputs.schemas`` writes them all again (a test checks that they agree).

========================  ============================================================
name                      the document
========================  ============================================================
``problem``               the problem file (input of ``plan`` and ``batch``)
``plan``                  ``routing plan --json`` and the file of ``plan --output``
``batch``                 ``routing batch --json``
``slots-import``          ``routing slots import --json``
``pathways-list``         ``routing pathways list --json``
``pathways-show``         ``routing pathways show ID --json``
``pathways-resolve``      ``routing pathways resolve CODE... --json``
``event``                 ``routing event --json``
``state``                 ``routing state --json``
``book``                  ``routing book --json``
``whatif``                ``routing whatif --json``
``report``                ``routing report --json``, its ``figures.json``, ``GET /report``
========================  ============================================================
"""

from __future__ import annotations

import importlib
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from routing.outputs.atomic import write_files
from routing.problem import problem_json_schema

__all__ = ["SCHEMA_NAMES", "schema_of", "schema_text", "shipped_schema_text", "write_schemas"]

_SOURCES: dict[str, tuple[str, str]] = {
    "problem": ("routing.problem", "Problem"),
    "plan": ("routing.outputs.documents", "PlanDocument"),
    "batch": ("routing.outputs.documents", "BatchDocument"),
    "slots-import": ("routing.outputs.slots_document", "SlotImportDocument"),
    "pathways-list": ("routing.outputs.documents", "PathwayListing"),
    "pathways-show": ("routing.outputs.documents", "ShownPathway"),
    "pathways-resolve": ("routing.outputs.documents", "ResolveDocument"),
    "event": ("routing.outputs.lifecycle_documents", "EventDocument"),
    "state": ("routing.outputs.lifecycle_documents", "StateDocument"),
    "book": ("routing.outputs.lifecycle_documents", "BookDocument"),
    "whatif": ("routing.outputs.whatif_document", "WhatIfDocument"),
    "report": ("routing.manager.figures", "ManagerFigures"),
}

SCHEMA_NAMES: tuple[str, ...] = tuple(_SOURCES)
"""The names of the published schemas."""


def _model(name: str) -> type[BaseModel]:
    if name not in _SOURCES:
        known = ", ".join(SCHEMA_NAMES)
        raise ValueError(f"no schema named {name!r}; the schemas are {known}")
    module, attribute = _SOURCES[name]
    model: type[BaseModel] = getattr(importlib.import_module(module), attribute)
    return model


def schema_of(name: str) -> dict[str, Any]:
    """The JSON Schema of one document, generated from its model.

    The problem file's schema describes what is accepted (validation mode); the output
    documents' describe what is printed (serialization mode).

    Parameters
    ----------
    name
        One of :data:`SCHEMA_NAMES`.

    Raises
    ------
    ValueError
        If there is no schema of that name (the message lists the known ones).

    Examples
    --------
    >>> schema_of("plan")["properties"]["results"]["type"]
    'array'
    """
    model = _model(name)
    if name == "problem":
        return problem_json_schema()
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text(name: str) -> str:
    """The schema of ``name`` as the text that is shipped (indented JSON, one final newline)."""
    return json.dumps(schema_of(name), ensure_ascii=False, indent=2) + "\n"


def shipped_schema_text(name: str) -> str:
    """The schema file of ``name`` shipped with the package."""
    _model(name)  # the same error for an unknown name
    files = resources.files("routing.outputs").joinpath("json_schemas")
    return files.joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


def write_schemas(directory: Path | None = None) -> tuple[Path, ...]:
    """Write every schema to ``directory`` (the package's own by default), all or none.

    Returns
    -------
    tuple of Path
        The files written.
    """
    target = directory or Path(__file__).resolve().parent / "json_schemas"
    texts = {target / f"{name}.schema.json": schema_text(name) for name in SCHEMA_NAMES}
    write_files(texts)
    return tuple(texts)


if __name__ == "__main__":  # pragma: no cover - a maintainer's command, run by hand
    for written in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        sys.stdout.write(f"{written}\n")
