"""Tests of nosology.resolve: diagnosis codes to the most specific pathway."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.catalogue import Catalogue
from nosology.codes import parse_spec
from nosology.exceptions import InvalidCodeError, UnknownPathwayError
from nosology.pathway import Applicability, LocalizedText, Pathway, ServiceRef, Stage
from nosology.resolve import Resolution, pathway_for, resolve_code, resolve_codes


def _pathway(pathway_id: str, codes: tuple[str, ...], priority: int = 0) -> Pathway:
    text = LocalizedText(ru=pathway_id, en=pathway_id)
    return Pathway(
        id=pathway_id,
        title=text,
        applicability=Applicability(codes=codes, priority=priority),
        stages=(Stage(id="visit", title=text, services=(ServiceRef(system="fer", code="27"),)),),
    )


def _catalogue(*pathways: Pathway) -> Catalogue:
    return Catalogue((p, "test") for p in pathways)


@pytest.mark.parametrize(
    ("raw", "pathway_id", "spec"),
    [
        ("c341", "zno_lung", "C34"),
        ("C16.2", "zno_suspected", "C00-C97"),
        ("Z03.1", "zno_suspected", "Z03.1"),
        ("C18.7", "zno_colorectal", "C18-C20"),
        ("C20", "zno_colorectal", "C18-C20"),
        ("E11.3†", "diabetes_t2_dispensary", "E11"),
        ("D05.1", "zno_suspected", "D00-D09"),
    ],
)
def test_builtin_resolution(raw: str, pathway_id: str, spec: str) -> None:
    """Messy codes reach the expected built-in pathway through the expected entry."""
    resolution = resolve_code(raw)
    assert resolution.pathway_id == pathway_id
    assert resolution.matched_spec == spec
    assert resolution.candidates[0] == (pathway_id, spec)


def test_cyrillic_code_keeps_its_warning() -> None:
    """С34.1 with a Cyrillic С resolves to the lung pathway and keeps the normalisation warning."""
    resolution = resolve_code("С34.1")
    assert resolution.pathway_id == "zno_lung"
    assert resolution.code.code == "C34.1"
    assert any("Cyrillic" in w for w in resolution.code.warnings)


def test_specific_pathway_beats_the_generic_one() -> None:
    """C34.1 lies in C34 and in C00-C97: the narrower lung entry wins, as the explanation says."""
    resolution = resolve_code("C34.1")
    assert resolution.candidates == (("zno_lung", "C34"), ("zno_suspected", "C00-C97"))
    assert resolution.explanation == (
        "C34.1 lies within C34 (zno_lung); also lies within C00-C97 (zno_suspected), "
        "which is broader"
    )


def test_manifestation_code_is_explained() -> None:
    """An asterisk code resolves by its own code, and the explanation calls it a manifestation."""
    resolution = resolve_code("H36.0*")
    assert resolution.code.asterisk
    assert "manifestation (asterisk) code" in resolution.explanation
    assert resolution.pathway_id is None
    assert resolution.explanation.endswith("no pathway applies")


def test_uncovered_code_resolves_to_none() -> None:
    """A valid code that no pathway covers gives no pathway, no entry and no candidates."""
    resolution = resolve_code("J45.0")
    assert (resolution.pathway_id, resolution.matched_spec, resolution.candidates) == (
        None,
        None,
        (),
    )
    assert "no pathway applies" in resolution.explanation


@pytest.mark.parametrize("raw", ["Z99.99", "C34.1 C50.9", "", "Q"])
def test_invalid_code_raises(raw: str) -> None:
    """A code outside the registry, several codes or garbage is refused by resolve_code."""
    with pytest.raises(InvalidCodeError):
        resolve_code(raw)


def test_resolve_codes_splits_a_dagger_asterisk_pair() -> None:
    """A dagger/asterisk pair in one string gives one resolution per code, in order."""
    resolutions = resolve_codes(["E11.3† H36.0*", "C20"])
    assert [(r.code.code, r.pathway_id) for r in resolutions] == [
        ("E11.3", "diabetes_t2_dispensary"),
        ("H36.0", None),
        ("C20", "zno_colorectal"),
    ]


def test_resolve_codes_refuses_an_invalid_code() -> None:
    """One invalid code among valid ones raises InvalidCodeError naming it."""
    with pytest.raises(InvalidCodeError, match=r"Z99\.99"):
        resolve_codes(["C34.1", "Z99.99"])


def test_priority_breaks_ties_then_id() -> None:
    """Equally specific entries: the higher priority wins, then the smaller id."""
    catalogue = _catalogue(
        _pathway("alpha", ("C34",), priority=0),
        _pathway("gamma", ("C34",), priority=5),
        _pathway("beta", ("C34",), priority=5),
    )
    resolution = resolve_code("C34.1", catalogue)
    assert resolution.pathway_id == "beta"
    assert resolution.candidates == (("beta", "C34"), ("gamma", "C34"), ("alpha", "C34"))
    assert "(gamma), equally specific and of equal priority; beta comes first by id" in (
        resolution.explanation
    )
    assert "(alpha), equally specific but of lower priority (0 < 5)" in resolution.explanation


def test_specificity_beats_priority() -> None:
    """A subcategory entry beats a category entry whatever their priorities."""
    catalogue = _catalogue(
        _pathway("broad", ("C30-C39", "C34"), priority=100),
        _pathway("narrow", ("C34.1",), priority=-100),
    )
    assert resolve_code("C34.1", catalogue).pathway_id == "narrow"
    other = resolve_code("C34.2", catalogue)
    assert (other.pathway_id, other.matched_spec) == ("broad", "C34")


def test_narrower_range_wins() -> None:
    """Of two ranges, the one spanning fewer categories wins."""
    catalogue = _catalogue(_pathway("wide", ("C00-C97",)), _pathway("block", ("C15-C26",)))
    assert resolve_code("C16.2", catalogue).pathway_id == "block"


SAMPLE_CODES = (
    "C34.1", "C34", "C33", "C50.9", "C18.0", "C19", "C20", "C16.2", "D05.1", "Z03.1", "Z03.5",
    "E11.9", "E11.3", "I21.0", "I48", "I50.0", "H25.1", "H26.0", "Z34.0", "Z36", "J45.0", "K35.8",
)  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SAMPLE_CODES))
def test_winner_is_the_most_specific_candidate(raw: str) -> None:
    """Candidates are exactly the pathways whose entries contain the code, most specific first."""
    catalogue = Catalogue.builtin()
    resolution = resolve_code(raw, catalogue)
    expected = {
        p.id
        for p in catalogue
        if any(parse_spec(entry).contains(raw) for entry in p.applicability.codes)
    }
    assert {pid for pid, _ in resolution.candidates} == expected
    keys = [
        (parse_spec(spec).specificity, catalogue.get(pid).applicability.priority)
        for pid, spec in resolution.candidates
    ]
    assert keys == sorted(keys, reverse=True)
    winner = resolution.candidates[0] if resolution.candidates else (None, None)
    assert (resolution.pathway_id, resolution.matched_spec) == winner


def test_pathway_for_one_pathway() -> None:
    """Codes resolving to one pathway give that pathway itself."""
    catalogue = Catalogue.builtin()
    assert pathway_for(["C34.1", "c341", "C33"]) is catalogue.get("zno_lung")


def test_pathway_for_suspicion_coded_twice_takes_the_specific_pathway() -> None:
    """Z03.1 beside C34.1 gives the lung pathway alone: it refines the generic one."""
    assert pathway_for(["Z03.1", "C34.1"]) is Catalogue.builtin().get("zno_lung")
    assert pathway_for(["Z03.1"]) is Catalogue.builtin().get("zno_suspected")


def test_pathway_for_keeps_unrelated_pathways_merged() -> None:
    """A refined generic pathway is dropped, but an unrelated one is still merged in."""
    merged = pathway_for(["Z03.1", "C34.1", "I21.0"])
    assert merged.id == "cvd_suspected__and__zno_lung"


def test_pathway_for_ignores_codes_without_pathway() -> None:
    """In a dagger/asterisk pair, the asterisk code without pathway does not block the other."""
    assert pathway_for(["E11.3† H36.0*"]).id == "diabetes_t2_dispensary"


def test_pathway_for_nothing_applies() -> None:
    """No pathway for any code raises UnknownPathwayError giving the count, not the codes."""
    with pytest.raises(UnknownPathwayError) as info:
        pathway_for(["J45.0", "K35.8"])
    assert "2 diagnosis code(s)" in str(info.value)
    assert "J45" not in str(info.value)
    assert info.value.args[1] == ("J45.0", "K35.8")
    with pytest.raises(UnknownPathwayError, match="0 diagnosis"):
        pathway_for([])


def test_resolution_is_frozen() -> None:
    """A resolution cannot be changed after it is made."""
    resolution = resolve_code("C20")
    assert isinstance(resolution, Resolution)
    with pytest.raises(ValueError, match="frozen"):
        resolution.pathway_id = "zno_lung"  # type: ignore[misc]
