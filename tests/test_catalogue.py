"""Tests of the built-in pathway catalogue and its loader (nosology.catalogue)."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
import tempfile
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.catalogue import BUILTIN, Catalogue, load_pathway_file
from nosology.exceptions import CatalogueError, UnknownPathwayError
from nosology.pathway import LagUnit, Pathway

BUILTIN_DIR = resources.files("nosology").joinpath("pathways")
BUILTIN_FILES = sorted(
    (item for item in BUILTIN_DIR.iterdir() if item.name.endswith(".toml")),
    key=lambda item: item.name,
)
REGISTRY = resources.files("nosology").joinpath(
    "data", "mkb10_1.2.643.5.1.13.13.11.1005_v2.27.csv.gz"
)
PORTAL_FER_IDS = {"27", "145", "8", "10", "19", "20", "91", "30"}
"""The ferId values in the city portal's recorded specialty list (SpecialtyListResponse_example)."""

EXPECTED_IDS = {
    "cataract_planned_surgery",
    "cvd_suspected",
    "diabetes_t2_dispensary",
    "pregnancy_first_trimester_screening",
    "zno_breast",
    "zno_colorectal",
    "zno_lung",
    "zno_suspected",
}


def pathway_toml(
    pathway_id: str = "user_route",
    *,
    codes: str = '["K35"]',
    unit: str = "working_days",
    stage_extra: str = "",
    to_event: str = "b.start",
) -> str:
    """A small valid pathway file, with hooks to break one field."""
    return f"""
id = "{pathway_id}"
title = {{ ru = "Маршрут", en = "Route" }}

[applicability]
codes = {codes}

[[stages]]
id = "a"
title = {{ ru = "А", en = "A" }}
services = ["nmu:B01.047.001"]
{stage_extra}

[[stages]]
id = "b"
title = {{ ru = "Б", en = "B" }}
services = ["fer:27"]
after = ["a"]

[[constraints]]
from_event = "a.end"
to_event = "{to_event}"
min = 1
unit = "{unit}"
source = "Test source"
"""


def write(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``folder/name`` and return the path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def registry_codes() -> set[str]:
    """Current codes and blocks of the shipped МКБ-10 registry, read independently of codes.py."""
    with gzip.open(io.BytesIO(REGISTRY.read_bytes()), "rt", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter=";")
        return {row["MKB_CODE"] for row in rows if row["ACTUAL"] == "1"}


# --- the built-in catalogue ----------------------------------------------------------------------


def test_builtin_holds_every_file_once() -> None:
    """Every built-in file loads, its id is its file name, and no two share an id."""
    catalogue = Catalogue.builtin()
    assert set(catalogue.ids()) == EXPECTED_IDS
    assert len(catalogue) == len(BUILTIN_FILES)
    for item in BUILTIN_FILES:
        pathway = Pathway.model_validate(tomllib.loads(item.read_text(encoding="utf-8")))
        assert pathway.id == item.name.removesuffix(".toml")
        assert catalogue.get(pathway.id) == pathway
        assert catalogue.origin(pathway.id) == BUILTIN


def test_builtin_is_cached() -> None:
    """builtin() returns the same object each time."""
    assert Catalogue.builtin() is Catalogue.builtin()


@pytest.mark.parametrize("pathway", list(Catalogue.builtin()), ids=lambda p: p.id)
def test_builtin_figures_are_sourced(pathway: Pathway) -> None:
    """Every built-in constraint, window and deadline names a source; assumptions say so."""
    items = [*pathway.constraints, *pathway.windows, *pathway.deadlines]
    assert items, "a built-in pathway carries at least one rule"
    for item in items:
        assert len(item.source) >= 10
        if "assumption" in item.source.lower():
            assert item.assumption, f"{pathway.id}: {item.source}"
    for deadline in pathway.deadlines:
        assert deadline.region in ("RU", "RU-SPE")
        assert not deadline.hard, "regulatory deadlines are soft"


@pytest.mark.parametrize("pathway", list(Catalogue.builtin()), ids=lambda p: p.id)
def test_builtin_codes_are_in_registry(pathway: Pathway) -> None:
    """Both ends of every applicability code or range are current codes of the shipped registry."""
    known = registry_codes()
    for text in pathway.applicability.codes:
        for end in text.split("-"):
            assert end in known, f"{pathway.id}: {end}"


@pytest.mark.parametrize("pathway", list(Catalogue.builtin()), ids=lambda p: p.id)
def test_builtin_services_are_well_formed(pathway: Pathway) -> None:
    """Services use nmu codes of the nomenclature's shape, portal ferIds, or catalogue slugs."""
    nmu = re.compile(r"^[AB]\d{2}\.\d{2,3}\.\d{3}(\.\d{3})?$")
    for stage in pathway.stages:
        for service in stage.services:
            if service.system == "nmu":
                assert nmu.match(service.code), f"{pathway.id}.{stage.id}: {service}"
            elif service.system == "fer":
                assert service.code in PORTAL_FER_IDS, f"{pathway.id}.{stage.id}: {service}"
            else:
                assert service.system == "catalogue"
                assert re.match(r"^[a-z][a-z0-9_]*$", service.code)


def test_specific_cancer_pathways_outrank_generic() -> None:
    """The generic suspected-cancer pathway has the lowest priority of the cancer pathways."""
    catalogue = Catalogue.builtin()
    generic = catalogue.get("zno_suspected").applicability
    assert "Z03.1" in generic.codes
    for pathway_id in ("zno_lung", "zno_breast", "zno_colorectal"):
        assert catalogue.get(pathway_id).applicability.priority > generic.priority


def test_first_trimester_window() -> None:
    """First-trimester screening is bounded to 11+0 .. 13+6 weeks after the last period."""
    pathway = Catalogue.builtin().get("pregnancy_first_trimester_screening")
    assert {(w.reference, w.min_days, w.max_days) for w in pathway.windows} == {
        ("last_menstrual_period", 11 * 7, 13 * 7 + 6)
    }
    assert {w.event for w in pathway.windows} == {"ultrasound.start", "serum_markers.start"}


# --- the catalogue object ------------------------------------------------------------------------


def test_catalogue_is_immutable_and_sorted() -> None:
    """A catalogue refuses new attributes and iterates in sorted id order."""
    catalogue = Catalogue.builtin()
    with pytest.raises(AttributeError):
        catalogue._pathways = {}
    assert [p.id for p in catalogue] == sorted(EXPECTED_IDS)
    assert catalogue.ids() == tuple(sorted(EXPECTED_IDS))
    assert "zno_lung" in catalogue
    assert 42 not in catalogue
    assert "no_such" not in catalogue


def test_unknown_id_names_the_known_ones() -> None:
    """get() and origin() of an unknown id raise UnknownPathwayError listing the known ids."""
    catalogue = Catalogue.builtin()
    with pytest.raises(UnknownPathwayError, match=r"no_such.*zno_lung"):
        catalogue.get("no_such")
    with pytest.raises(KeyError):
        catalogue.origin("no_such")


def test_duplicate_ids_in_constructor() -> None:
    """Building a catalogue from two pathways with one id is a CatalogueError naming both."""
    pathway = Catalogue.builtin().get("zno_lung")
    with pytest.raises(CatalogueError, match=r"first\.toml") as info:
        Catalogue([(pathway, "first.toml"), (pathway, "second.toml")])
    assert info.value.path == "second.toml"


# --- user files ----------------------------------------------------------------------------------


def test_user_directory_beside_builtins(tmp_path: Path) -> None:
    """A user directory adds its pathways to the built-in ones, with the file as origin."""
    path = write(tmp_path, "user.toml", pathway_toml())
    write(tmp_path, "README.md", "not a pathway")
    catalogue = Catalogue.from_paths([tmp_path])
    assert set(catalogue.ids()) == EXPECTED_IDS | {"user_route"}
    assert catalogue.origin("user_route") == str(path)
    assert catalogue.origin("zno_lung") == BUILTIN
    assert catalogue.get("user_route").stage("b").after == ("a",)


def test_user_files_alone(tmp_path: Path) -> None:
    """include_builtin=False gives only the user's pathways; a file and its directory count once."""
    path = write(tmp_path, "user.toml", pathway_toml())
    catalogue = Catalogue.from_paths([tmp_path, str(path)], include_builtin=False)
    assert catalogue.ids() == ("user_route",)


def test_user_pathway_replaces_builtin(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A user pathway with a built-in id replaces it, and the replacement is logged at INFO."""
    path = write(tmp_path, "lung.toml", pathway_toml("zno_lung"))
    with caplog.at_level(logging.INFO, logger="nosology.catalogue"):
        catalogue = Catalogue.from_paths([path])
    assert catalogue.origin("zno_lung") == str(path)
    assert [s.id for s in catalogue.get("zno_lung").stages] == ["a", "b"]
    assert len(catalogue) == len(EXPECTED_IDS)
    assert any("zno_lung" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)
    assert Catalogue.builtin().origin("zno_lung") == BUILTIN


def test_two_user_files_with_one_id(tmp_path: Path) -> None:
    """Two user files defining the same id are a CatalogueError naming both paths."""
    first = write(tmp_path, "a.toml", pathway_toml())
    second = write(tmp_path, "b.toml", pathway_toml())
    with pytest.raises(CatalogueError) as info:
        Catalogue.from_paths([tmp_path])
    assert info.value.path == str(second)
    assert info.value.field == "id"
    assert str(first) in str(info.value)


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (pathway_toml().replace('id = "user_route"', 'id = "user_route'), "", r"line 2"),
        (pathway_toml(stage_extra='colour = "red"'), "stages.0.colour", "Extra inputs"),
        (pathway_toml(to_event="c.start"), "constraints.0", "unknown stage 'c'"),
        (pathway_toml(unit="fortnights"), "constraints.0.unit", "working_days"),
        (pathway_toml(codes='["C34", "Q99.99"]'), "applicability.codes.1", "МКБ-10|normal"),
        (pathway_toml(stage_extra='after = ["b"]'), "stages.0.after", "cycle"),
        (pathway_toml().replace('services = ["fer:27"]', "services = []"), "stages.1.services", ""),
    ],
    ids=[
        "toml-syntax",
        "unknown-field",
        "missing-stage",
        "bad-unit",
        "bad-code",
        "after-cycle",
        "no-service",
    ],
)
def test_broken_file(tmp_path: Path, text: str, field: str, reason: str) -> None:
    """Each kind of broken file raises CatalogueError with the file's path and the field."""
    path = write(tmp_path, "broken.toml", text)
    with pytest.raises(CatalogueError) as info:
        load_pathway_file(path)
    assert info.value.path == str(path)
    assert info.value.field == field
    assert re.search(reason, info.value.reason)
    with pytest.raises(CatalogueError):
        Catalogue.from_paths([tmp_path])


def test_after_naming_unknown_stage_points_at_the_stage(tmp_path: Path) -> None:
    """An 'after' naming an unknown stage is reported at that stage's 'after' field."""
    text = pathway_toml().replace('after = ["a"]', 'after = ["zz"]')
    with pytest.raises(CatalogueError) as info:
        load_pathway_file(write(tmp_path, "p.toml", text))
    assert info.value.field == "stages.1.after"


def test_unreadable_inputs(tmp_path: Path) -> None:
    """A missing file, an empty directory and non-UTF-8 bytes are CatalogueErrors."""
    missing = tmp_path / "missing.toml"
    with pytest.raises(CatalogueError, match="cannot read") as info:
        load_pathway_file(missing)
    assert info.value.path == str(missing)
    with pytest.raises(CatalogueError, match="no such file"):
        Catalogue.from_paths([missing])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CatalogueError, match=r"no \*\.toml"):
        Catalogue.from_paths([empty])
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'id = "\xff"')
    with pytest.raises(CatalogueError, match="UTF-8"):
        load_pathway_file(binary)


def test_nothing_half_loaded(tmp_path: Path) -> None:
    """A directory with one good and one bad file raises and gives no catalogue."""
    write(tmp_path, "a_good.toml", pathway_toml("good_one"))
    bad = write(tmp_path, "b_bad.toml", pathway_toml("bad_one", unit="weeks"))
    catalogue: Catalogue | None = None
    with pytest.raises(CatalogueError) as info:
        catalogue = Catalogue.from_paths([tmp_path])
    assert catalogue is None
    assert info.value.path == str(bad)
    assert "good_one" not in Catalogue.builtin()


def test_every_bad_file_is_reported(tmp_path: Path) -> None:
    """With several bad files, the first is raised, the rest listed and grouped in the cause."""
    first = write(tmp_path, "a.toml", pathway_toml("one", unit="weeks"))
    second = write(tmp_path, "b.toml", "id = ")
    with pytest.raises(CatalogueError) as info:
        Catalogue.from_paths([tmp_path])
    assert info.value.path == str(first)
    assert str(second) in str(info.value)
    cause = info.value.__cause__
    assert isinstance(cause, ExceptionGroup)
    paths = [e.path for e in cause.exceptions if isinstance(e, CatalogueError)]
    assert paths == [str(first), str(second)]


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=12))
def test_bad_values_are_not_echoed(word: str) -> None:
    """A rejected unit value never appears in the error message."""
    value = f"qq{word}"
    assert value not in {u.value for u in LagUnit}
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), "p.toml", pathway_toml(unit=value))
        with pytest.raises(CatalogueError) as info:
            load_pathway_file(path)
    assert value not in str(info.value)
    assert info.value.field == "constraints.0.unit"
