"""The catalogue of care pathways: the built-in data files and the user's own, loaded and validated.

A pathway is one TOML file (read with :mod:`tomllib`), whose tables and keys are the fields of
:class:`nosology.pathway.Pathway`. The built-in files ship in ``nosology/pathways/``; a user
directory of ``*.toml`` files can be laid beside them, and a user pathway with the id of a built-in
one replaces it.

Loading is all-or-nothing: every file is read and validated before a catalogue is built, and a
:class:`~nosology.exceptions.CatalogueError` reports every bad file at once (see
:meth:`Catalogue.from_paths`).

Examples
--------
>>> catalogue = Catalogue.builtin()
>>> "zno_lung" in catalogue, catalogue.origin("zno_lung")
(True, 'builtin')
>>> [s.id for s in catalogue.get("zno_lung").stages][:2]
['consultation', 'chest_ct']
"""

from __future__ import annotations

import functools
import logging
import re
import tomllib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import suppress
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar, cast

from pydantic import ValidationError

from nosology.exceptions import CatalogueError, InvalidCodeError, UnknownPathwayError
from nosology.pathway import Pathway

__all__ = ["BUILTIN", "Catalogue", "load_pathway_file"]

logger = logging.getLogger(__name__)

BUILTIN = "builtin"
"""The origin of a pathway shipped with the package."""
MEMO_ENTRIES = 4096
"""Results a catalogue keeps of what is derived from it alone (see :meth:`Catalogue.memoised`)."""

_T = TypeVar("_T")

_ITEM_RE = re.compile(r"\b(constraint|deadline|window) (\d+):")
_STAGE_RE = re.compile(
    r"\bstage '([a-z][a-z0-9_]*)': 'after'|cycle through stages ([a-z][a-z0-9_]*)"
)


def load_pathway_file(path: Path | str) -> Pathway:
    """Read and validate one pathway file.

    Parameters
    ----------
    path
        A TOML file holding one pathway.

    Returns
    -------
    Pathway

    Raises
    ------
    CatalogueError
        If the file cannot be read, is not valid UTF-8 TOML (the reason gives the line), fails
        validation (``field`` is the dotted location of the first error, e.g.
        ``stages.2.services``; input values are never echoed) or lists an applicability code or
        range that is not in the МКБ-10 registry.
    """
    label = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CatalogueError(label, "", f"cannot read the file: {exc.strerror or exc}") from None
    return _parse(data, label)


def _parse(data: bytes, label: str) -> Pathway:
    """Validate the bytes of a pathway file; ``label`` names it in errors."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CatalogueError(label, "", f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(label, "", f"TOML syntax error: {exc}") from None
    except RecursionError:
        raise CatalogueError(label, "", "TOML nested too deeply") from None
    except ValueError:  # an integer of more digits than Python converts
        raise CatalogueError(label, "", "TOML with a number too large to read") from None
    try:
        pathway = Pathway.model_validate(raw)
    except ValidationError as exc:
        _raise_validation(label, raw, exc)
    _check_applicability(label, pathway)
    return pathway


def _raise_validation(label: str, raw: Mapping[str, Any], exc: ValidationError) -> NoReturn:
    """Turn the first pydantic error into a :class:`CatalogueError` naming the field."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or _locate(raw, first["msg"])
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    raise CatalogueError(label, field, f"{first['msg']}{more}") from None


def _locate(raw: Mapping[str, Any], message: str) -> str:
    """The field of a cross-reference error that the pathway reports as a whole.

    :class:`Pathway` checks cross-references in one model validator, so pydantic gives no
    location; its messages name the item (``"constraint 2: ..."``, ``"stage 'ct': 'after' ..."``,
    a cycle through stages), which is mapped back to a dotted field here (the first stage of a
    cycle). ``""`` when the message names none.
    """
    if match := _ITEM_RE.search(message):
        return f"{match.group(1)}s.{match.group(2)}"
    if match := _STAGE_RE.search(message):
        named = {group for group in match.groups() if group}
        stages = raw.get("stages")
        if isinstance(stages, list):
            for n, stage in enumerate(stages):
                if isinstance(stage, dict) and stage.get("id") in named:
                    return f"stages.{n}.after"
    if "stage id" in message:
        return "stages"
    if "deadline id" in message:
        return "deadlines"
    return ""


def _check_applicability(label: str, pathway: Pathway) -> None:
    """Every applicability entry must be a registry code or a range of them."""
    from nosology.codes import parse_spec  # lazy: importing codes loads the registry

    for n, text in enumerate(pathway.applicability.codes):
        try:
            parse_spec(text)
        except InvalidCodeError as exc:
            raise CatalogueError(label, f"applicability.codes.{n}", exc.reason) from None


class Catalogue:
    """An immutable set of pathways by id, each with its origin.

    Iteration is in sorted id order. Build one with :meth:`builtin` or :meth:`from_paths`.

    Parameters
    ----------
    pathways
        The pathways and their origins (``"builtin"`` or a file path).

    Raises
    ------
    CatalogueError
        If two pathways share an id (naming both origins).
    """

    __slots__ = ("_memo", "_origins", "_pathways")

    _pathways: Mapping[str, Pathway]
    _origins: Mapping[str, str]
    _memo: dict[Hashable, object]

    def __init__(self, pathways: Iterable[tuple[Pathway, str]]) -> None:
        by_id: dict[str, Pathway] = {}
        origins: dict[str, str] = {}
        for pathway, origin in pathways:
            if pathway.id in by_id:
                raise CatalogueError(
                    origin,
                    "id",
                    f"pathway id {pathway.id!r} is also defined in {origins[pathway.id]}",
                )
            by_id[pathway.id] = pathway
            origins[pathway.id] = origin
        ordered = sorted(by_id)
        object.__setattr__(self, "_pathways", MappingProxyType({i: by_id[i] for i in ordered}))
        object.__setattr__(self, "_origins", MappingProxyType({i: origins[i] for i in ordered}))
        object.__setattr__(self, "_memo", {})

    def memoised(self, key: Hashable, make: Callable[[], _T]) -> _T:
        """``make()``, kept on the catalogue under ``key`` (the catalogue never changes, so
        neither does what is derived from it); at most :data:`MEMO_ENTRIES` entries, the
        oldest dropped first. ``make`` raising stores nothing."""
        memo = self._memo
        if key in memo:
            return cast(_T, memo[key])
        value = make()
        if len(memo) >= MEMO_ENTRIES:
            with suppress(KeyError, StopIteration, RuntimeError):
                del memo[next(iter(memo))]
        memo[key] = value
        return value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Catalogue is immutable: cannot set {name!r}")

    @classmethod
    def builtin(cls) -> Catalogue:
        """The pathways shipped with the package (loaded once, then cached).

        Raises
        ------
        CatalogueError
            If a built-in file is broken (a packaging error).
        """
        return _builtin()

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str], *, include_builtin: bool = True) -> Catalogue:
        """Load user pathway files, beside the built-in ones or alone.

        Parameters
        ----------
        paths
            Files, or directories whose ``*.toml`` files (not recursive) are read.
        include_builtin
            Start from the built-in pathways; a user pathway with a built-in id replaces it (logged
            at INFO).

        Returns
        -------
        Catalogue

        Raises
        ------
        CatalogueError
            If any file is missing, unreadable or invalid, a directory holds no ``*.toml`` file,
            or two user files define the same id. Every file is loaded before any is used: with
            several errors, the one raised is the first (its ``path``, ``field`` and ``reason``),
            its message lists the others, and its ``__cause__`` is an :class:`ExceptionGroup` of
            all of them.
        """
        errors: list[CatalogueError] = []
        loaded: list[tuple[Pathway, str]] = []
        for file in _expand(paths, errors):
            try:
                loaded.append((load_pathway_file(file), str(file)))
            except CatalogueError as exc:
                errors.append(exc)
        first_origin: dict[str, str] = {}
        for pathway, origin in loaded:
            if pathway.id in first_origin:
                errors.append(
                    CatalogueError(
                        origin,
                        "id",
                        f"pathway id {pathway.id!r} is also defined in {first_origin[pathway.id]}",
                    )
                )
            else:
                first_origin[pathway.id] = origin
        if errors:
            _raise_all(errors)
        entries: dict[str, tuple[Pathway, str]] = {}
        if include_builtin:
            base = _builtin()
            entries = {p.id: (p, base.origin(p.id)) for p in base}
        for pathway, origin in loaded:
            if pathway.id in entries:
                logger.info("pathway %r from %s replaces the built-in one", pathway.id, origin)
            entries[pathway.id] = (pathway, origin)
        return cls(entries.values())

    def get(self, pathway_id: str) -> Pathway:
        """The pathway with this id.

        Raises
        ------
        UnknownPathwayError
            If there is none (the message lists the known ids).
        """
        if pathway_id not in self._pathways:
            self._unknown(pathway_id)
        return self._pathways[pathway_id]

    def origin(self, pathway_id: str) -> str:
        """Where the pathway came from: ``"builtin"`` or the path of its file.

        Raises
        ------
        UnknownPathwayError
            If there is no such pathway.
        """
        if pathway_id not in self._origins:
            self._unknown(pathway_id)
        return self._origins[pathway_id]

    def ids(self) -> tuple[str, ...]:
        """The pathway ids, sorted."""
        return tuple(self._pathways)

    def __iter__(self) -> Iterator[Pathway]:
        return iter(self._pathways.values())

    def __len__(self) -> int:
        return len(self._pathways)

    def __contains__(self, pathway_id: object) -> bool:
        return isinstance(pathway_id, str) and pathway_id in self._pathways

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} pathways: {', '.join(self._pathways)})"

    def _unknown(self, pathway_id: str) -> NoReturn:
        known = ", ".join(self._pathways) or "none"
        raise UnknownPathwayError(f"unknown pathway {pathway_id!r}; known pathways: {known}")


def _expand(paths: Iterable[Path | str], errors: list[CatalogueError]) -> list[Path]:
    """The files named by ``paths`` (directories expanded), each once; problems go to ``errors``."""
    files: dict[Path, None] = {}
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.toml") if p.is_file())
            if not found:
                errors.append(CatalogueError(str(path), "", "the directory holds no *.toml file"))
            files.update(dict.fromkeys(found))
        elif path.is_file():
            files[path] = None
        else:
            errors.append(CatalogueError(str(path), "", "no such file or directory"))
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def _raise_all(errors: list[CatalogueError]) -> NoReturn:
    """Raise the first error, listing the others in its message and as its cause."""
    first = errors[0]
    if len(errors) == 1:
        raise first
    others = "; ".join(str(e) for e in errors[1:])
    raise CatalogueError(
        first.path, first.field, f"{first.reason} [and {len(errors) - 1} more: {others}]"
    ) from ExceptionGroup("invalid pathway files", errors)


@functools.cache
def _builtin() -> Catalogue:
    """Load the package's own pathway files."""
    folder = resources.files("nosology").joinpath("pathways")
    entries = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".toml") and item.is_file()),
        key=lambda item: item.name,
    )
    pathways: list[tuple[Pathway, str]] = []
    files: dict[str, str] = {}
    for item in entries:
        label = f"{BUILTIN}:{item.name}"
        pathway = _parse(item.read_bytes(), label)
        if pathway.id in files:
            raise CatalogueError(
                label, "id", f"pathway id {pathway.id!r} is also defined in {files[pathway.id]}"
            )
        files[pathway.id] = label
        pathways.append((pathway, BUILTIN))
    logger.debug("loaded %d built-in pathways", len(pathways))
    return Catalogue(pathways)
