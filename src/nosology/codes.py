"""Diagnosis codes of МКБ-10 / ICD-10: normalise messy input, validate, walk the hierarchy, ranges.

Input codes arrive messy: Cyrillic look-alike letters (``С34.1`` with a Cyrillic ``С``), no dot
(``C341``), a comma for the dot, lower case, dagger/asterisk marks (``E11.3†``, ``E11.3+``,
``H36.0*``), several codes in one field (``E11.3† H36.0*``) and ranges in catalogues
(``C18–C20``). :func:`normalize_code` fixes the syntax and says, in words, each change it made;
:func:`parse_code` also checks the code against the shipped Russian registry
(:mod:`nosology.registry`), and :func:`parse_spec` reads the codes and ranges of catalogues.

Only the *look-alike* reading of a Cyrillic letter is ever applied. A letter typed on the Russian
(ЙЦУКЕН) keyboard layout may stand for the Latin letter on the same key (Cyrillic ``Е`` sits on
the ``T`` key); where that reading is also a valid code it is listed in ``alternatives`` with a
warning, never applied.
"""

from __future__ import annotations

import functools
import itertools
import re
from enum import StrEnum
from typing import Literal

from pydantic import model_validator

from nosology.exceptions import InvalidCodeError
from nosology.pathway import FrozenModel
from nosology.registry import (
    MKB10_REGISTRY_OID,
    MKB10_VERSION,
    load_registry,
    who_ancestors,
    who_is_valid,
    who_name,
)

__all__ = [
    "CodeKind",
    "CodeSpec",
    "DiagnosisCode",
    "NormalizedCode",
    "ancestors",
    "code_within",
    "is_valid_code",
    "normalize_code",
    "parse_code",
    "parse_spec",
    "split_codes",
]

Marker = Literal["dagger", "asterisk"]

_REGISTRY_LABEL = f"МКБ-10 (registry {MKB10_REGISTRY_OID} v{MKB10_VERSION})"

_LOOKALIKES = {
    "А": "A", "В": "B", "С": "C", "Е": "E", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "Т": "T", "Х": "X",
    "а": "A", "в": "B", "с": "C", "е": "E", "к": "K", "м": "M",
    "н": "H", "о": "O", "р": "P", "т": "T", "х": "X",
}  # fmt: skip
"""Cyrillic letters that look like a Latin capital, and that capital."""

_LAYOUT = dict(
    zip(
        "ЙЦУКЕНГШЩЗФЫВАПРОЛДЯЧСМИТЬ",
        "QWERTYUIOPASDFGHJKLZXCVBNM",
        strict=True,
    )
)
"""Cyrillic capital -> the Latin letter on the same key of the ЙЦУКЕН / QWERTY keyboards."""

_MARKS: dict[str, tuple[Marker, str | None]] = {
    "†": ("dagger", None),
    "+": ("dagger", "'+' read as the dagger mark '†'"),
    "*": ("asterisk", None),
}
_DASHES = {
    "-": None,
    "‐": "hyphen",
    "‑": "non-breaking hyphen",
    "‒": "figure dash",
    "–": "en dash",
    "—": "em dash",
    "−": "minus sign",
}
_SEPARATORS = frozenset(",;")

_CODE_RE = re.compile(r"([A-Z])([0-9]{2})(?:(\.?)([0-9]{1,2}))?")
_CHAPTERS = frozenset((
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI",
    "XII", "XIII", "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX", "XXI", "XXII",
))  # fmt: skip
"""The chapters of МКБ-10 by Roman numeral (XXII holds the U codes)."""
_CANONICAL_RE = re.compile(r"[A-Z][0-9]{2}(?:\.[0-9]{1,2})?")


class CodeKind(StrEnum):
    """The level of a code in the МКБ-10 hierarchy."""

    CHAPTER = "chapter"
    BLOCK = "block"
    CATEGORY = "category"
    SUBCATEGORY = "subcategory"


class NormalizedCode(FrozenModel):
    """A code whose syntax has been put right; not yet checked against the registry.

    Attributes
    ----------
    raw
        The input exactly as given.
    code
        Canonical form: Latin capitals, a dot after three characters (``"C34.1"``, ``"C34"``), a
        range as ``"C18-C20"``, a chapter as its Roman numeral (``"II"``).
    marker
        The dagger or asterisk mark written in the input (``†`` or ``+``; ``*``), if any.
    warnings
        Each change made to the input, in words.
    alternatives
        Other plausible readings that are valid codes (keyboard layout), not applied.
    """

    raw: str
    code: str
    marker: Marker | None = None
    warnings: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()


class DiagnosisCode(FrozenModel):
    """A code validated against the registry, with its place and names.

    Attributes
    ----------
    raw, code, marker, warnings, alternatives
        As in :class:`NormalizedCode`; ``warnings`` also says when the code is retired, missing
        from the Russian registry, or marked against the registry's dagger/asterisk flag.
    kind
        Chapter, block, category or subcategory.
    name_ru
        The registry's Russian title (``""`` for a code only the WHO edition has).
    name_en
        The WHO ICD-10 2019 English title, or ``None`` if WHO lacks the code.
    actual
        ``False`` for a code the registry marks as no longer in use (``ACTUAL=0``).
    dagger, asterisk
        The registry's flags (``ADDL_CODE`` 1 and 2).
    """

    raw: str
    code: str
    kind: CodeKind
    name_ru: str
    name_en: str | None
    actual: bool
    dagger: bool
    asterisk: bool
    marker: Marker | None = None
    warnings: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Splitting and normalising
# ---------------------------------------------------------------------------------------------


def _is_letter(ch: str) -> bool:
    """Whether ``ch`` may start a code: a Latin or Cyrillic letter."""
    return ("A" <= ch <= "Z") or ("a" <= ch <= "z") or ("\u0400" <= ch <= "\u04ff")


def split_codes(text: str) -> list[str]:
    """Split a field holding several codes into the codes, as written.

    A new code starts at a letter that follows whitespace, a comma or a semicolon (or directly
    a dagger/asterisk mark), unless the separator follows a range dash. Anything else stays
    with the code before it, so ``"C34,1"`` and ``"C34 .1"`` are one code and ``"C18 - C20"`` is
    one range.

    Parameters
    ----------
    text
        The field, e.g. ``"E11.3† H36.0*"``.

    Returns
    -------
    list of str
        The pieces, stripped of surrounding separators; empty pieces are dropped.

    Examples
    --------
    >>> split_codes("E11.3† H36.0*")
    ['E11.3†', 'H36.0*']
    >>> split_codes("C34,1; С18 – С20, I10")
    ['C34,1', 'С18 – С20', 'I10']
    """
    starts = [0]
    last_solid = ""  # the last character before the current run of separators
    gap = False
    for i, ch in enumerate(text):
        if ch.isspace() or ch in _SEPARATORS:
            gap = True
            continue
        if i and _is_letter(ch) and last_solid not in _DASHES and (gap or last_solid in _MARKS):
            starts.append(i)
        gap = False
        last_solid = ch
    bounds = [*starts, len(text)]
    pieces = (text[a:b].strip().strip(",;").strip() for a, b in itertools.pairwise(bounds))
    return [p for p in pieces if p]


def _normalize_part(part: str, raw: str, notes: list[str]) -> tuple[str, str | None]:
    """Normalise one code (no marks, no dashes, no spaces) and return it with its first letter.

    The second value is the Cyrillic letter the code started with, if any (for alternatives).
    """
    chars: list[str] = []
    lower = False
    cyrillic_first: str | None = None
    for pos, ch in enumerate(part):
        if "A" <= ch <= "Z" or "0" <= ch <= "9" or ch == ".":
            chars.append(ch)
        elif "a" <= ch <= "z":
            chars.append(ch.upper())
            lower = True
        elif ch in _LOOKALIKES:
            chars.append(_LOOKALIKES[ch])
            notes.append(f"Cyrillic {ch!r} read as Latin {_LOOKALIKES[ch]!r}")
            if pos == 0:
                cyrillic_first = ch
        elif ch == ",":
            chars.append(".")
            notes.append("comma read as the decimal dot")
        elif "\u0400" <= ch <= "\u04ff":
            key = _LAYOUT.get(ch.upper())
            hint = f"; on the Russian keyboard layout it shares a key with {key!r}" if key else ""
            raise InvalidCodeError(
                raw,
                f"Cyrillic letter {ch!r} does not look like a Latin letter of МКБ-10{hint}: "
                "retype the code in Latin letters",
            )
        else:
            raise InvalidCodeError(
                raw, f"unexpected character {ch!r}: expected a Latin letter, digits and a dot"
            )
    if lower:
        notes.append("lower-case letters read as capitals")
    text = "".join(chars)
    if text in _CHAPTERS:
        return text, cyrillic_first
    match = _CODE_RE.fullmatch(text)
    if match is None:
        raise InvalidCodeError(
            raw,
            f"{text!r} is not shaped like an МКБ-10 code: expected a letter and two digits, "
            "optionally a dot and one or two digits (C34, C34.1, S02.00), or a range (C18-C20)",
        )
    letter, digits, dot, sub = match.groups()
    if sub is None:
        return f"{letter}{digits}", cyrillic_first
    if not dot:
        notes.append(f"missing dot inserted after {letter}{digits}")
    return f"{letter}{digits}.{sub}", cyrillic_first


def _layout_alternatives(
    parts: list[tuple[str, str | None]], applied: str, notes: list[str]
) -> tuple[str, ...]:
    """Readings of a code's Cyrillic first letters by keyboard key, kept if valid codes."""
    options: list[list[str]] = []
    for code, cyrillic in parts:
        readings = [code]
        if cyrillic is not None:
            key = _LAYOUT.get(cyrillic.upper())
            if key is not None and key != code[0]:
                readings.append(key + code[1:])
        options.append(readings)
    found: list[str] = []
    for combo in itertools.product(*options):
        candidate = "-".join(combo)
        if candidate != applied and _is_known(candidate):
            found.append(candidate)
    if found:
        notes.append(
            f"ambiguous input: typed on the Russian keyboard layout it may mean "
            f"{', '.join(found)} (not applied; the look-alike reading {applied} was used)"
        )
    return tuple(found)


@functools.lru_cache(maxsize=8192)
def normalize_code(raw: str) -> NormalizedCode:
    """Put the syntax of one diagnosis code right, saying what was changed.

    Only the syntax is checked: the result may still be absent from the registry (see
    :func:`parse_code`).

    Parameters
    ----------
    raw
        One code as written: ``"С34.1"`` (Cyrillic С), ``"c341"``, ``"C34,1"``, ``"E11.3+"``,
        ``"H36.0*"``, ``"C18–C20"``.

    Returns
    -------
    NormalizedCode
        The canonical code, the mark, the warnings and the alternatives.

    Raises
    ------
    InvalidCodeError
        If the input is empty, holds several codes (use :func:`split_codes`), or cannot be read
        as a code or range.

    Examples
    --------
    >>> n = normalize_code("с341+")
    >>> n.code, n.marker
    ('C34.1', 'dagger')
    >>> n.warnings[1]
    "Cyrillic 'с' read as Latin 'C'"
    >>> normalize_code(n.code).code
    'C34.1'
    """
    text = raw.strip()
    if not text:
        raise InvalidCodeError(raw, "empty: expected a code such as C34.1")
    if len(split_codes(text)) > 1:
        raise InvalidCodeError(
            raw, "holds several codes: split it first with nosology.codes.split_codes"
        )
    notes: list[str] = []
    marker: Marker | None = None
    if text[-1] in _MARKS:
        marker, note = _MARKS[text[-1]]
        if note:
            notes.append(note)
        text = text[:-1].rstrip()
        if not text:
            raise InvalidCodeError(raw, "a dagger/asterisk mark without a code")
        if text[-1] in _MARKS:
            raise InvalidCodeError(raw, "carries two dagger/asterisk marks: expected at most one")
    if any(ch.isspace() for ch in text):
        notes.append("spaces inside the code removed")
        text = "".join(text.split())
    dashes = [ch for ch in text if ch in _DASHES]
    if len(dashes) > 1:
        raise InvalidCodeError(raw, "more than one dash: expected a range like C18-C20")
    if dashes and marker is not None:
        raise InvalidCodeError(raw, "a range cannot carry a dagger/asterisk mark")
    if dashes and _DASHES[dashes[0]] is not None:
        notes.append(f"{_DASHES[dashes[0]]} read as '-'")
    pieces = re.split("|".join(map(re.escape, _DASHES)), text) if dashes else [text]
    if not all(pieces):
        raise InvalidCodeError(raw, "a range needs a code on each side of the dash (C18-C20)")
    parts = [_normalize_part(piece, raw, notes) for piece in pieces]
    if len(parts) == 2 and any(code in _CHAPTERS for code, _ in parts):
        raise InvalidCodeError(raw, "a range runs between codes, not chapters (e.g. C00-D48)")
    code = "-".join(c for c, _ in parts)
    alternatives = _layout_alternatives(parts, code, notes)
    return NormalizedCode(
        raw=raw,
        code=code,
        marker=marker,
        warnings=tuple(dict.fromkeys(notes)),
        alternatives=alternatives,
    )


# ---------------------------------------------------------------------------------------------
# Validation against the registry
# ---------------------------------------------------------------------------------------------


def _kind(code: str) -> CodeKind:
    """The kind of a canonical code, from its shape."""
    if code in _CHAPTERS:
        return CodeKind.CHAPTER
    if "-" in code:
        return CodeKind.BLOCK
    return CodeKind.CATEGORY if len(code) == 3 else CodeKind.SUBCATEGORY


def _is_known(code: str) -> bool:
    """Whether a canonical code (or range of known codes) is in the registry or the WHO edition."""
    if code in load_registry() or who_is_valid(code):
        return True
    first, sep, last = code.partition("-")
    return bool(sep) and _is_known(first) and _is_known(last) and _dotless(first) <= _dotless(last)


def _suggestions(code: str) -> list[str]:
    """Registry codes near an unknown canonical code: its existing parent, or its siblings."""
    registry = load_registry()
    if "-" in code or code in _CHAPTERS:
        return []
    if len(code) == 6 and code[:5] in registry:
        return [code[:5]]
    category = code[:3]
    if category not in registry:
        return []
    if len(code) == 3:
        return []
    return [category, *registry.children(category)]


def parse_code(raw: str) -> DiagnosisCode:
    """Normalise one code and validate it against the shipped МКБ-10 registry.

    A code the registry marks as retired is accepted with ``actual=False`` and a warning; a code
    only the WHO ICD-10 2019 edition has is accepted with a warning.

    Parameters
    ----------
    raw
        One code as written (see :func:`normalize_code`); a chapter (``"II"``) or a registry block
        (``"C30-C39"``) is accepted too.

    Returns
    -------
    DiagnosisCode

    Raises
    ------
    InvalidCodeError
        If the input cannot be normalised, or the code is in neither the registry nor the WHO
        edition; the reason suggests near codes that exist.

    Examples
    --------
    >>> d = parse_code("E11.3+")
    >>> d.code, d.kind.value, d.marker, d.dagger
    ('E11.3', 'subcategory', 'dagger', True)
    """
    norm = normalize_code(raw)
    code = norm.code
    notes = list(norm.warnings)
    entry = load_registry().get(code)
    if entry is not None:
        name_ru, actual, dagger, asterisk = (
            entry.name_ru,
            entry.actual,
            entry.dagger,
            entry.asterisk,
        )
        if not actual:
            dated = f", dated {entry.date}" if entry.date else ""
            notes.append(f"{code} is retired (ACTUAL=0{dated}) in {_REGISTRY_LABEL}")
    elif who_is_valid(code):
        name_ru, actual, dagger, asterisk = "", True, False, False
        notes.append(f"{code} is not in the Russian registry {_REGISTRY_LABEL}; WHO 2019 has it")
    else:
        reason = f"{code!r} is not in {_REGISTRY_LABEL}"
        if "-" in code:
            reason += "; for a catalogue range use nosology.codes.parse_spec"
        near = _suggestions(code)
        if len(near) == 1:
            reason += f"; did you mean {near[0]}?"
        elif near:
            reason += f"; did you mean {near[0]} or one of {', '.join(near[1:])}?"
        if norm.alternatives:
            reason += f"; typed on the Russian layout it may be {', '.join(norm.alternatives)}"
        raise InvalidCodeError(raw, reason)
    if norm.marker == "dagger" and not dagger:
        notes.append(f"{code} is marked † but the registry does not flag it as a dagger code")
    if norm.marker == "asterisk" and not asterisk:
        notes.append(f"{code} is marked * but the registry does not flag it as an asterisk code")
    return DiagnosisCode(
        raw=raw,
        code=code,
        kind=_kind(code),
        name_ru=name_ru,
        name_en=who_name(code),
        actual=actual,
        dagger=dagger,
        asterisk=asterisk,
        marker=norm.marker,
        warnings=tuple(dict.fromkeys(notes)),
        alternatives=norm.alternatives,
    )


def is_valid_code(raw: str) -> bool:
    """Whether :func:`parse_code` accepts ``raw`` (retired and WHO-only codes count as valid)."""
    try:
        parse_code(raw)
    except InvalidCodeError:
        return False
    return True


def ancestors(code: str) -> tuple[str, ...]:
    """Return the ancestors of a code, nearest first, along the registry's ``ID_PARENT`` chain.

    For a code only the WHO edition has, the WHO ancestors lead to the nearest one the registry
    has, and the registry's chain continues from there.

    Parameters
    ----------
    code
        Any form :func:`parse_code` accepts.

    Raises
    ------
    InvalidCodeError
        If :func:`parse_code` rejects ``code``.

    Examples
    --------
    >>> ancestors("С34.1")
    ('C34', 'C30-C39', 'C00-C75', 'C00-C97', 'II')
    """
    canonical = parse_code(code).code
    registry = load_registry()
    if canonical in registry:
        return registry.ancestors(canonical)
    chain: list[str] = []
    for parent in who_ancestors(canonical):
        chain.append(parent)
        if parent in registry:
            return (*chain, *registry.ancestors(parent))
    return tuple(chain)


# ---------------------------------------------------------------------------------------------
# Catalogue specs: a code or a range
# ---------------------------------------------------------------------------------------------


def _dotless(code: str) -> str:
    """The canonical code without its dot: in this form a descendant extends its ancestor."""
    return code.replace(".", "")


_TOP = "\uffff"  # sorts after every digit: "C34" + _TOP bounds all descendants of C34


def _span(code: str) -> tuple[str, str]:
    """The dotless interval ``[lo, hi]`` of every code that a canonical code or range covers."""
    if code in _CHAPTERS:
        blocks = load_registry().children(code)
        first, last = blocks[0].partition("-")[0], blocks[-1].partition("-")[2]
    else:
        first, _, last = code.partition("-")
        last = last or first
    return _dotless(first), _dotless(last) + _TOP


def _category_index(code: str) -> int:
    """Position of the 3-character category of ``code`` in the sequence A00..Z99."""
    return (ord(code[0]) - ord("A")) * 100 + int(code[1:3])


class CodeSpec(FrozenModel):
    """A single code or a range of codes, as catalogues list them.

    Attributes
    ----------
    text
        Canonical form: ``"C34"``, ``"C34.1"``, ``"C18-C20"``, ``"C00-D09"``.
    first, last
        The endpoints; equal for a single code.
    """

    text: str
    first: str
    last: str

    @model_validator(mode="after")
    def _check(self) -> CodeSpec:
        """Endpoints canonical, in order, and ``text`` made of them."""
        for name, value in (("first", self.first), ("last", self.last)):
            if not _CANONICAL_RE.fullmatch(value):
                raise ValueError(f"CodeSpec.{name}: expected a canonical code such as C34.1")
        if _dotless(self.first) > _dotless(self.last):
            raise ValueError("CodeSpec.last: expected a code not before CodeSpec.first")
        expected = self.first if self.first == self.last else f"{self.first}-{self.last}"
        if self.text != expected:
            raise ValueError(f"CodeSpec.text: expected {expected!r} for these endpoints")
        return self

    def contains(self, code: str) -> bool:
        """Whether every code that ``code`` covers lies within this spec.

        Parameters
        ----------
        code
            A code or range in any form :func:`normalize_code` accepts, or a chapter.

        Raises
        ------
        InvalidCodeError
            If ``code`` cannot be normalised.

        Examples
        --------
        >>> spec = parse_spec("C00-D09")
        >>> spec.contains("с34.1"), spec.contains("D10")
        (True, False)
        >>> parse_spec("C34.1").contains("C34")
        False
        """
        lo, hi = _span(normalize_code(code).code)
        spec_lo, spec_hi = _span(self.text)
        return spec_lo <= lo and hi <= spec_hi

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key, larger is narrower: level, then minus the 3-character categories spanned.

        The level is 4 for a subcategory, 3 for a category and 2 for a range.

        Examples
        --------
        >>> sorted(["C00-D09", "C34", "C34.1", "C30-C39"], key=lambda t: parse_spec(t).specificity)
        ['C00-D09', 'C30-C39', 'C34', 'C34.1']
        """
        spanned = _category_index(self.last) - _category_index(self.first) + 1
        if self.first != self.last:
            level = 2
        elif len(self.first) == 3:
            level = 3
        else:
            level = 4
        return level, -spanned


@functools.lru_cache(maxsize=4096)
def parse_spec(text: str) -> CodeSpec:
    """Read a catalogue entry: one code or a range of codes.

    Parameters
    ----------
    text
        ``"C34"``, ``"C34.1"``, ``"C18-C20"``, ``"C18–C20"`` (en dash), ``"с18-с20"``.

    Returns
    -------
    CodeSpec

    Raises
    ------
    InvalidCodeError
        If ``text`` cannot be normalised, carries a dagger/asterisk mark, is a chapter, names an
        endpoint in neither the registry nor the WHO edition, or runs backwards.

    Examples
    --------
    >>> parse_spec("с18 – с20").text
    'C18-C20'
    """
    norm = normalize_code(text)
    if norm.marker is not None:
        raise InvalidCodeError(text, "a catalogue code or range carries no dagger/asterisk mark")
    if norm.code in _CHAPTERS:
        lo, hi = _span(norm.code)
        raise InvalidCodeError(
            text, f"a chapter is not a catalogue spec: write its range of codes ({lo}-{hi[:-1]})"
        )
    first, _, last = norm.code.partition("-")
    last = last or first
    for end in dict.fromkeys((first, last)):
        if not _is_known(end):
            raise InvalidCodeError(text, f"{end!r} is not in {_REGISTRY_LABEL}")
    if _dotless(first) > _dotless(last):
        raise InvalidCodeError(text, f"the range runs backwards: {last} comes before {first}")
    return CodeSpec(text=first if first == last else f"{first}-{last}", first=first, last=last)


def code_within(code: str, spec: str) -> bool:
    """Whether ``code`` lies within the catalogue ``spec`` (both in any messy form).

    Raises
    ------
    InvalidCodeError
        If either cannot be read.

    Examples
    --------
    >>> code_within("C34.1", "C30-C39"), code_within("C34", "C34.1")
    (True, False)
    """
    return parse_spec(spec).contains(code)
