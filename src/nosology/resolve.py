"""Resolution of diagnosis codes to the most specific care pathway that applies.

A code applies to a pathway when it lies within one of the pathway's applicability entries
(``C34``, ``C34.1``, ``C18-C20``, ``Z03.1``). Of the pathways that apply, the one whose matched
entry is the most specific wins (:attr:`~nosology.codes.CodeSpec.specificity`: a subcategory beats a
category, a category beats a range, a narrower range beats a wider one); ties go to the higher
:attr:`~nosology.pathway.Applicability.priority`, then to the smaller pathway id. A suspicion of
cancer coded by its localisation (``C34.1``) reaches the lung pathway, one coded ``Z03.1`` the
generic suspected-cancer pathway. A manifestation (asterisk) code resolves by its own code like any
other; the explanation says that it is one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from nosology.catalogue import Catalogue
from nosology.codes import DiagnosisCode, parse_code, parse_spec, split_codes
from nosology.exceptions import UnknownPathwayError
from nosology.merge import merge_pathways
from nosology.pathway import FrozenModel, Pathway

__all__ = ["Resolution", "pathway_for", "resolve_code", "resolve_codes"]

logger = logging.getLogger(__name__)


class Resolution(FrozenModel):
    """The pathway one diagnosis code resolves to, and why.

    Attributes
    ----------
    code
        The parsed code, with its normalisation warnings.
    pathway_id
        The winning pathway, or ``None`` when no pathway applies.
    matched_spec
        The winner's applicability entry that the code lies within, in canonical form (``"C34"``),
        or ``None``.
    explanation
        Why, in one sentence: the winning entry and each other candidate with the reason it lost.
    candidates
        Every pathway that applies as ``(pathway id, matched entry)``, most specific first (the
        winner first); for each pathway its most specific matching entry.
    """

    code: DiagnosisCode
    pathway_id: str | None
    matched_spec: str | None
    explanation: str
    candidates: tuple[tuple[str, str], ...]


def resolve_code(raw: str, catalogue: Catalogue | None = None) -> Resolution:
    """Resolve one diagnosis code to the most specific pathway of a catalogue.

    Parameters
    ----------
    raw
        One code as typed: Cyrillic look-alikes, no dot, lower case and a dagger or asterisk are
        accepted (see :func:`nosology.codes.parse_code`).
    catalogue
        The pathways to choose from; the built-in catalogue by default.

    Returns
    -------
    Resolution
        The winner (``pathway_id`` is ``None`` when no pathway applies) and the explanation.

    Raises
    ------
    InvalidCodeError
        If the code is malformed or not in the МКБ-10 registry.

    Examples
    --------
    >>> resolve_code("c341").pathway_id
    'zno_lung'
    """
    code = parse_code(raw)
    return _resolve(code, Catalogue.builtin() if catalogue is None else catalogue)


def resolve_codes(
    raws: Iterable[str], catalogue: Catalogue | None = None
) -> tuple[Resolution, ...]:
    """Resolve several diagnosis codes, one resolution per code, in input order.

    Each string may hold several codes (a dagger/asterisk pair ``"E11.3† H36.0*"``); they are split
    with :func:`nosology.codes.split_codes`.

    Raises
    ------
    InvalidCodeError
        If any code is malformed or not in the registry.
    """
    chosen = Catalogue.builtin() if catalogue is None else catalogue
    return tuple(_resolve(parse_code(part), chosen) for raw in raws for part in split_codes(raw))


def pathway_for(raws: Iterable[str], catalogue: Catalogue | None = None) -> Pathway:
    """The one pathway a patient with these diagnoses follows.

    The single pathway the codes resolve to, or the merge (:func:`nosology.merge.merge_pathways`)
    of the distinct pathways they resolve to. A pathway that another one resolved here
    ``refines`` is left out (Z03.1 "suspected cancer" beside C34.1 gives the lung pathway alone).
    Codes that no pathway applies to add nothing; use :func:`resolve_codes` to see which they are.

    Raises
    ------
    InvalidCodeError
        If any code is malformed or not in the registry.
    UnknownPathwayError
        If no pathway applies to any of the codes (the message gives their number; the second
        argument of the error holds the normalised codes).
    MergeConflictError
        If the pathways cannot be merged.
    """
    chosen = Catalogue.builtin() if catalogue is None else catalogue
    codes = tuple(raws)
    # The same diagnoses give the same pathway (the merged one too, so that what is cached per
    # pathway downstream is found again).
    pathway, unresolved, total = chosen.memoised(
        ("pathway_for", codes), lambda: _pathway_for(codes, chosen)
    )
    if unresolved:
        logger.info("%d of %d diagnosis codes lead to no pathway", unresolved, total)
    return pathway


def _pathway_for(raws: tuple[str, ...], chosen: Catalogue) -> tuple[Pathway, int, int]:
    """:func:`pathway_for`'s pathway, with how many codes led to none and how many there were."""
    resolutions = resolve_codes(raws, chosen)
    ids = list(dict.fromkeys(r.pathway_id for r in resolutions if r.pathway_id is not None))
    if not ids:
        codes = tuple(r.code.code for r in resolutions)
        raise UnknownPathwayError(
            f"no pathway applies to any of the {len(codes)} diagnosis code(s) given", codes
        )
    unresolved = sum(1 for r in resolutions if r.pathway_id is None)
    pathways = [chosen.get(i) for i in ids]
    refined = {generic for p in pathways for generic in p.refines}
    merged = merge_pathways([p for p in pathways if p.id not in refined])
    return merged, unresolved, len(resolutions)


def _resolve(code: DiagnosisCode, catalogue: Catalogue) -> Resolution:
    found: list[tuple[tuple[int, int], int, str, str]] = []
    for pathway in catalogue:
        specs = [parse_spec(entry) for entry in pathway.applicability.codes]
        matches = [spec for spec in specs if spec.contains(code.code)]
        if matches:
            best = max(matches, key=lambda spec: spec.specificity)
            found.append((best.specificity, pathway.applicability.priority, pathway.id, best.text))
    found.sort(key=lambda f: (_negate(f[0]), -f[1], f[2]))
    candidates = tuple((pid, entry) for _, _, pid, entry in found)
    explanation = _explain(code, found)
    if not found:
        return Resolution(
            code=code, pathway_id=None, matched_spec=None, explanation=explanation, candidates=()
        )
    _, _, winner, entry = found[0]
    return Resolution(
        code=code,
        pathway_id=winner,
        matched_spec=entry,
        explanation=explanation,
        candidates=candidates,
    )


def _negate(specificity: tuple[int, int]) -> tuple[int, int]:
    return (-specificity[0], -specificity[1])


def _explain(code: DiagnosisCode, found: list[tuple[tuple[int, int], int, str, str]]) -> str:
    prefix = ""
    if code.asterisk or code.marker == "asterisk":
        prefix = f"{code.code}* is a manifestation (asterisk) code, resolved by its own code; "
    if not found:
        return f"{prefix}{code.code} lies within no pathway's codes: no pathway applies"
    specificity, priority, winner, entry = found[0]
    parts = [f"{code.code} {_relation(code, entry)} {entry} ({winner})"]
    for other_specificity, other_priority, other, other_entry in found[1:]:
        if other_specificity != specificity:
            why = "which is broader"
        elif other_priority != priority:
            why = f"equally specific but of lower priority ({other_priority} < {priority})"
        else:
            why = f"equally specific and of equal priority; {winner} comes first by id"
        parts.append(f"also {_relation(code, other_entry)} {other_entry} ({other}), {why}")
    return prefix + "; ".join(parts)


def _relation(code: DiagnosisCode, spec: str) -> str:
    return "equals" if spec == code.code else "lies within"
