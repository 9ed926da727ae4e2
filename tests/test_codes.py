"""Tests of nosology.codes and nosology.registry: normalising, validating and ranges of МКБ-10."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nosology.codes import (
    CodeKind,
    CodeSpec,
    ancestors,
    code_within,
    is_valid_code,
    normalize_code,
    parse_code,
    parse_spec,
    split_codes,
)
from nosology.exceptions import InvalidCodeError
from nosology.registry import (
    MKB10_DATA_FILE,
    MKB10_REGISTRY_OID,
    MKB10_VERSION,
    load_registry,
)

REGISTRY = load_registry()
ALL_CODES = sorted(REGISTRY.codes)
LEAF_CODES = sorted(c for c in REGISTRY.codes if re.fullmatch(r"[A-Z]\d\d(\.\d{1,2})?", c))
CANONICAL = re.compile(r"(?:[A-Z]\d\d(?:\.\d{1,2})?(?:-[A-Z]\d\d(?:\.\d{1,2})?)?|[IVX]+)")

# Written out here, independently of the module's own table.
LOOKALIKES = {
    "А": "A", "В": "B", "С": "C", "Е": "E", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "Т": "T", "Х": "X",
}  # fmt: skip
TO_CYRILLIC = {latin: cyr for cyr, latin in LOOKALIKES.items()}


# --- registry -------------------------------------------------------------------------------


def test_registry_snapshot_identity() -> None:
    """The shipped snapshot is the ФРНСИ МКБ-10 registry, version 2.27, with all its rows."""
    assert MKB10_REGISTRY_OID == "1.2.643.5.1.13.13.11.1005"
    assert MKB10_VERSION == "2.27"
    assert MKB10_VERSION in MKB10_DATA_FILE
    assert len(REGISTRY) == 15038
    assert sum(not e.actual for e in REGISTRY.codes.values()) == 101


def test_registry_loads_once() -> None:
    """Later calls return the same index as the first load."""
    load_registry.cache_clear()
    fresh = load_registry()
    assert load_registry() is fresh
    assert fresh.get("C34.1") is not None


def test_registry_flags_dagger_and_asterisk() -> None:
    """ADDL_CODE 1 and 2 become the dagger and asterisk flags of an entry."""
    e11 = REGISTRY.get("E11.3")
    h36 = REGISTRY.get("H36.0")
    assert e11 is not None
    assert e11.dagger
    assert not e11.asterisk
    assert h36 is not None
    assert h36.asterisk
    assert not h36.dagger


# --- normalisation --------------------------------------------------------------------------


def test_cyrillic_c_is_read_as_latin_with_a_warning() -> None:
    """'С34.1' with a Cyrillic С becomes C34.1 and the change is reported; raw is kept."""
    n = normalize_code("С34.1")
    assert n.code == "C34.1"
    assert n.raw == "С34.1"
    assert n.warnings == ("Cyrillic 'С' read as Latin 'C'",)
    assert n.marker is None


@pytest.mark.parametrize(("cyrillic", "latin"), sorted(LOOKALIKES.items()))
def test_every_lookalike_letter_is_mapped(cyrillic: str, latin: str) -> None:
    """Each Cyrillic look-alike, either case, reads as its Latin capital and is reported."""
    for letter in (cyrillic, cyrillic.lower()):
        n = normalize_code(f"{letter}00")
        assert n.code == f"{latin}00"
        assert f"Cyrillic {letter!r} read as Latin {latin!r}" in n.warnings


def test_lower_case_without_dot() -> None:
    """'c341' becomes C34.1 with warnings for the case and the inserted dot."""
    n = normalize_code("c341")
    assert n.code == "C34.1"
    assert any("lower-case" in w for w in n.warnings)
    assert any("dot inserted" in w for w in n.warnings)


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ("C34,1", "C34.1", "comma"),
        ("C34 .1", "C34.1", "spaces"),
        ("S0200", "S02.00", "dot inserted"),
        ("с18–с20", "C18-C20", "en dash"),
    ],
)
def test_comma_spaces_dot_and_dashes(raw: str, code: str, fragment: str) -> None:
    """A comma decimal, inner spaces, a missing dot and an en dash are each fixed and reported."""
    n = normalize_code(raw)
    assert n.code == code
    assert any(fragment in w for w in n.warnings)


def test_clean_input_gives_no_warnings() -> None:
    """Canonical input with surrounding spaces changes nothing worth a warning."""
    n = normalize_code("  C34.1 ")
    assert (n.code, n.warnings, n.alternatives) == ("C34.1", (), ())


@pytest.mark.parametrize(
    ("raw", "marker"),
    [("E11.3†", "dagger"), ("E11.3+", "dagger"), ("E11.3 +", "dagger"), ("H36.0*", "asterisk")],
)
def test_marks_set_the_marker(raw: str, marker: str) -> None:
    """†, the Russian '+' and * set the marker and leave the code bare."""
    n = normalize_code(raw)
    assert n.marker == marker
    assert n.code == raw[:5]


def test_plus_as_dagger_is_reported() -> None:
    """Reading '+' as the dagger is recorded; writing † itself is not a change."""
    assert any("'+'" in w for w in normalize_code("E11.3+").warnings)
    assert normalize_code("E11.3†").warnings == ()


def test_pair_of_codes_is_refused_and_split() -> None:
    """'E11.3† H36.0*' is two codes: normalize_code refuses it, split_codes separates it."""
    with pytest.raises(InvalidCodeError, match=r"several codes.*split_codes") as info:
        normalize_code("E11.3† H36.0*")
    assert info.value.raw == "E11.3† H36.0*"
    assert split_codes("E11.3† H36.0*") == ["E11.3†", "H36.0*"]
    assert [parse_code(c).marker for c in split_codes("E11.3+H36.0*")] == ["dagger", "asterisk"]


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("C34,1", ["C34,1"]),
        ("C34, C35", ["C34", "C35"]),
        ("C34,C35;I10", ["C34", "C35", "I10"]),
        ("C34 .1", ["C34 .1"]),
        ("C18 - C20, D09", ["C18 - C20", "D09"]),
        ("  ;, ", []),
    ],
)
def test_split_codes(text: str, pieces: list[str]) -> None:
    """Separators split codes, but a comma decimal, inner spaces and a range stay whole."""
    assert split_codes(text) == pieces


def test_layout_ambiguity_is_listed_not_applied() -> None:
    """Cyrillic 'Е' (the T key on ЙЦУКЕН) reads as E; the valid T reading is only an alternative."""
    n = normalize_code("Е11.3")
    assert n.code == "E11.3"
    assert n.alternatives == ("T11.3",)
    assert any("ambiguous" in w and "T11.3" in w for w in n.warnings)


def test_layout_alternative_must_be_a_valid_code() -> None:
    """Cyrillic 'Т' sits on the N key, but N11.3 is no code, so no alternative is offered."""
    n = normalize_code("Т11.3")
    assert (n.code, n.alternatives) == ("T11.3", ())
    assert not any("ambiguous" in w for w in n.warnings)


def test_non_lookalike_cyrillic_is_never_read_as_its_key() -> None:
    """'Ф00' (Ф on the A key) is refused with a hint, never silently read as A00."""
    with pytest.raises(InvalidCodeError, match=r"'Ф'.*'A'"):
        normalize_code("Ф00")


@pytest.mark.parametrize(
    "raw", ["", "   ", "C3", "341", "C34.123", "C34.", "CC34", "C18-C20-C22", "C18-", "†", "C34†*"]
)
def test_malformed_input_is_refused(raw: str) -> None:
    """Input that cannot be shaped into a code raises InvalidCodeError naming the input."""
    with pytest.raises(InvalidCodeError) as info:
        normalize_code(raw)
    assert info.value.raw == raw
    assert repr(raw) in str(info.value)


def test_range_with_mark_is_refused() -> None:
    """A range carries no dagger/asterisk mark."""
    with pytest.raises(InvalidCodeError, match="range"):
        normalize_code("C18-C20*")


# --- validation -----------------------------------------------------------------------------


def test_unknown_subcategory_suggests_its_parent() -> None:
    """'Z99.99' is not in the registry; the error names it and suggests Z99.9."""
    with pytest.raises(InvalidCodeError) as info:
        parse_code("Z99.99")
    assert info.value.raw == "Z99.99"
    assert "'Z99.99' is not in МКБ-10 (registry 1.2.643.5.1.13.13.11.1005 v2.27)" in str(info.value)
    assert "did you mean Z99.9?" in info.value.reason
    assert not is_valid_code("Z99.99")


def test_unknown_subcategory_suggests_siblings() -> None:
    """'C34.5' does not exist; the error offers C34 and its real subcategories."""
    with pytest.raises(InvalidCodeError, match=r"did you mean C34 or one of C34\.0, C34\.1"):
        parse_code("C34.5")


def test_parse_code_fills_registry_fields() -> None:
    """A valid code carries its kind, Russian and English names and registry flags."""
    d = parse_code("с341")
    assert d.code == "C34.1"
    assert d.kind is CodeKind.SUBCATEGORY
    assert d.name_ru.startswith("Злокачественное новообразование верхней доли")
    assert d.name_en is not None
    assert "Upper lobe" in d.name_en
    assert d.actual
    assert not d.dagger
    assert not d.asterisk
    assert d.warnings == normalize_code("с341").warnings


def test_dagger_and_asterisk_agree_with_registry() -> None:
    """E11.3† is a registry dagger code and H36.0* a registry asterisk code: no extra warning."""
    e11 = parse_code("E11.3+")
    h36 = parse_code("H36.0*")
    assert (e11.marker, e11.dagger, e11.asterisk) == ("dagger", True, False)
    assert (h36.marker, h36.dagger, h36.asterisk) == ("asterisk", False, True)
    assert not any("flag" in w for w in e11.warnings + h36.warnings)


def test_mark_contradicting_registry_is_warned() -> None:
    """H36.0 written with a dagger is accepted, with a warning that the registry says otherwise."""
    d = parse_code("H36.0†")
    assert d.marker == "dagger"
    assert d.asterisk
    assert any("does not flag it as a dagger" in w for w in d.warnings)


def test_retired_code_is_accepted_with_warning() -> None:
    """A90 (ACTUAL=0 in v2.27) parses with actual=False and a retirement warning."""
    d = parse_code("A90")
    assert not d.actual
    assert any("retired" in w for w in d.warnings)
    assert is_valid_code("A90")


def test_every_retired_code_is_flagged() -> None:
    """Every registry row with ACTUAL=0 parses as not actual."""
    retired = [c for c, e in REGISTRY.codes.items() if not e.actual]
    assert retired
    assert all(not parse_code(c).actual for c in retired)


def test_who_only_code_is_accepted_with_warning() -> None:
    """B18.00 is in WHO 2019 but not in the registry: accepted, English name only, warned."""
    d = parse_code("B18.00")
    assert (d.name_ru, d.actual) == ("", True)
    assert d.name_en is not None
    assert any("not in the Russian registry" in w for w in d.warnings)


def test_russian_only_code_has_no_english_name() -> None:
    """S02.00 exists only in the Russian registry: valid, with name_en None."""
    d = parse_code("S02.00")
    assert d.name_en is None
    assert d.name_ru


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("II", CodeKind.CHAPTER),
        ("ХХ", CodeKind.CHAPTER),
        ("C30-C39", CodeKind.BLOCK),
        ("C34", CodeKind.CATEGORY),
        ("C34.1", CodeKind.SUBCATEGORY),
    ],
)
def test_kinds(raw: str, kind: CodeKind) -> None:
    """Chapters, registry blocks, categories and subcategories are told apart."""
    assert parse_code(raw).kind is kind


def test_catalogue_range_is_not_a_code() -> None:
    """C18-C20 is not a registry block: parse_code refuses it and points to parse_spec."""
    with pytest.raises(InvalidCodeError, match="parse_spec"):
        parse_code("C18-C20")


def test_every_registry_code_parses_to_itself() -> None:
    """Every code of the snapshot is valid and canonical already."""
    assert all(parse_code(c).code == c for c in ALL_CODES)


def test_ancestors_follow_registry_chain() -> None:
    """C34.1 climbs to its category, block, two super-blocks and chapter II, nearest first."""
    expected = ("C34", "C30-C39", "C00-C75", "C00-C97", "II")
    assert ancestors("C34.1") == expected
    assert ancestors("с34,1") == expected
    assert ancestors("II") == ()


def test_ancestors_of_who_only_code_join_registry() -> None:
    """B18.00 reaches the registry through its WHO parent B18.0."""
    assert ancestors("B18.00") == ("B18.0", "B18", "B15-B19", "I")


# --- specs and ranges -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical", "first", "last"),
    [
        ("C34", "C34", "C34", "C34"),
        ("c34.1", "C34.1", "C34.1", "C34.1"),
        ("C18–C20", "C18-C20", "C18", "C20"),
        ("с18-с20", "C18-C20", "C18", "C20"),
        ("C00 - D09", "C00-D09", "C00", "D09"),
        ("C34-C34", "C34", "C34", "C34"),
    ],
)
def test_parse_spec(text: str, canonical: str, first: str, last: str) -> None:
    """Codes and ranges in messy forms become canonical specs."""
    spec = parse_spec(text)
    assert (spec.text, spec.first, spec.last) == (canonical, first, last)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("C20-C18", "backwards"), ("II", "C00-D48"), ("C34†", "mark"), ("C00-C99", "'C99'")],
)
def test_bad_specs(text: str, fragment: str) -> None:
    """Backwards ranges, chapters, marks and unknown endpoints are refused with a reason."""
    with pytest.raises(InvalidCodeError, match=re.escape(fragment)):
        parse_spec(text)


@pytest.mark.parametrize(
    ("code", "spec", "inside"),
    [
        ("C34.1", "C34", True),
        ("C34.1", "C30-C39", True),
        ("C34.1", "C00-D09", True),
        ("D09.9", "C00-D09", True),
        ("D10", "C00-D09", False),
        ("C34", "C34", True),
        ("C34", "C34.1", False),
        ("C34.1", "C34.1", True),
        ("C34.2", "C34.1", False),
        ("C30-C39", "C00-C97", True),
        ("C00-C97", "C30-C39", False),
        ("С19", "C18–C20", True),
        ("C21.0", "C18-C20", False),
        ("C39", "C30-C39.8", False),
        ("II", "C00-D48", True),
    ],
)
def test_containment(code: str, spec: str, inside: bool) -> None:
    """A code lies within a spec iff everything it covers does; messy forms are normalised."""
    assert code_within(code, spec) is inside
    assert parse_spec(spec).contains(code) is inside


def test_containment_refuses_garbage() -> None:
    """An unreadable code raises InvalidCodeError rather than answering False."""
    with pytest.raises(InvalidCodeError):
        code_within("not a code", "C34")


def test_specificity_orders_narrow_last() -> None:
    """Subcategory > category > narrow range > wide range."""
    specs = ["C00-D09", "C34.1", "C18-C20", "C34", "C30-C39"]
    ordered = sorted(specs, key=lambda s: parse_spec(s).specificity)
    assert ordered == ["C00-D09", "C30-C39", "C18-C20", "C34", "C34.1"]
    assert parse_spec("C34.1").specificity == (4, -1)
    assert parse_spec("C34").specificity == (3, -1)
    assert parse_spec("C18-C20").specificity == (2, -3)
    assert parse_spec("C00-D09").specificity == (2, -110)


def test_codespec_checks_its_fields() -> None:
    """A hand-built CodeSpec must be canonical and in order, and is immutable."""
    spec = CodeSpec(text="C18-C20", first="C18", last="C20")
    with pytest.raises(ValidationError):
        CodeSpec(text="C20-C18", first="C20", last="C18")
    with pytest.raises(ValidationError):
        CodeSpec(text="C18", first="C18", last="C20")
    with pytest.raises(ValidationError):
        CodeSpec(text="c18", first="c18", last="c18")
    with pytest.raises(ValidationError):
        spec.first = "C00"  # type: ignore[misc]


# --- properties -----------------------------------------------------------------------------


def _mess(code: str, lower: bool, cyrillic: bool, drop_dot: bool, comma: bool) -> str:
    """Write a canonical code the way people do."""
    text = code
    if cyrillic and text[0] in TO_CYRILLIC:
        text = TO_CYRILLIC[text[0]] + text[1:]
    if lower:
        text = text.lower()
    if drop_dot:
        text = text.replace(".", "")
    elif comma:
        text = text.replace(".", ",")
    return text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_CODES))
def test_normalisation_is_idempotent_on_registry_codes(code: str) -> None:
    """Registry codes are canonical already: normalising changes nothing and warns of nothing."""
    n = normalize_code(code)
    assert n.code == code
    assert normalize_code(n.code).code == n.code
    assert not any("read as" in w or "dot" in w for w in n.warnings)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(LEAF_CODES), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_messy_forms_return_to_the_code(
    code: str, lower: bool, cyrillic: bool, drop_dot: bool, comma: bool
) -> None:
    """Lower case, Cyrillic look-alikes, missing dots and commas all normalise back to the code."""
    n = normalize_code(_mess(code, lower, cyrillic, drop_dot, comma))
    assert n.code == code
    assert normalize_code(n.code).code == n.code
    assert code not in n.alternatives


CODE_ALPHABET = "CcСсEЕeZzФI0123456789.,- –†*+ ;"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=CODE_ALPHABET, max_size=12)))
def test_arbitrary_text_normalises_or_raises_invalid_code(text: str) -> None:
    """Any text either normalises to a canonical, idempotent code or raises InvalidCodeError."""
    try:
        n = normalize_code(text)
    except InvalidCodeError as exc:
        refused: InvalidCodeError | None = exc
    else:
        refused = None
        assert CANONICAL.fullmatch(n.code)
        assert normalize_code(n.code).code == n.code
    if refused is not None:
        assert refused.raw == text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet=CODE_ALPHABET, max_size=12)))
def test_arbitrary_text_parses_or_raises_invalid_code(text: str) -> None:
    """parse_code and parse_spec never raise anything but InvalidCodeError."""
    try:
        d = parse_code(text)
    except InvalidCodeError:
        pass
    else:
        assert d.code in REGISTRY or d.name_en is not None
    try:
        spec = parse_spec(text)
    except InvalidCodeError:
        pass
    else:
        assert spec.contains(spec.first)
        assert spec.contains(spec.last)
