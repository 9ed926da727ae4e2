"""Slot adapters: read facilities and free slots from the systems that hold them.

Every adapter is a :class:`SlotSource` returning a :class:`SlotBatch`; :func:`combine` merges the
batches of several sources. Sources: CSV files (:class:`CsvSource`), the Saint Petersburg city
appointment portal (:class:`GorzdravSource`; records and mapping in
:mod:`routing.adapters.gorzdrav`), HL7 FHIR bundles and servers (:class:`FhirBundleSource`,
:class:`FhirRestSource`) and several at once (:func:`import_sources`). The live clients share
one HTTP policy (:mod:`routing.adapters.http`: :class:`HttpClient`, :class:`HttpPolicy`).

The FHIR adapters and the importer need the optional ``fhir.resources`` package (the ``fhir``
extra); their names are imported on first use, so the other adapters work without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from routing.adapters.csv_source import CsvSource, read_facilities_csv, read_slots_csv
from routing.adapters.gorzdrav import (
    GorzdravError,
    GorzdravFormatError,
    MappingOptions,
    PortalError,
    PortalRetryableError,
)
from routing.adapters.gorzdrav_client import (
    ClientConfig,
    CrawlResult,
    FailureKind,
    GorzdravClient,
    GorzdravSource,
    crawl,
)
from routing.adapters.http import HttpClient, HttpError, HttpFailureKind, HttpPolicy
from routing.adapters.source import (
    CombinedSource,
    SlotBatch,
    SlotSource,
    SourceIssue,
    check_window,
    combine,
    select_slots,
)

if TYPE_CHECKING:
    from routing.adapters.fhir import FhirBundleSource, FhirOptions, parse_bundle
    from routing.adapters.fhir_rest import FhirRestSource
    from routing.adapters.importer import ProblemFileSource, import_sources

__all__ = [
    "ClientConfig",
    "CombinedSource",
    "CrawlResult",
    "CsvSource",
    "FailureKind",
    "FhirBundleSource",
    "FhirOptions",
    "FhirRestSource",
    "GorzdravClient",
    "GorzdravError",
    "GorzdravFormatError",
    "GorzdravSource",
    "HttpClient",
    "HttpError",
    "HttpFailureKind",
    "HttpPolicy",
    "MappingOptions",
    "PortalError",
    "PortalRetryableError",
    "ProblemFileSource",
    "SlotBatch",
    "SlotSource",
    "SourceIssue",
    "check_window",
    "combine",
    "crawl",
    "import_sources",
    "parse_bundle",
    "read_facilities_csv",
    "read_slots_csv",
    "select_slots",
]

_LAZY = {
    "FhirBundleSource": "routing.adapters.fhir",
    "FhirOptions": "routing.adapters.fhir",
    "parse_bundle": "routing.adapters.fhir",
    "FhirRestSource": "routing.adapters.fhir_rest",
    "ProblemFileSource": "routing.adapters.importer",
    "import_sources": "routing.adapters.importer",
}
"""Names from modules that need ``fhir.resources``, imported on first use."""


def __getattr__(name: str) -> object:
    """A FHIR adapter or importer name, imported on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
