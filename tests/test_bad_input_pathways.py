"""Bad pathway files and bad diagnosis codes: named by file or record and field, never a crash.

A pathway file is the catalogue author's: any bad field raises a :class:`CatalogueError` naming
the file and the field, and ``routing`` exits with status 2 and one message. Diagnosis codes of a
request are the patient's: a bad one is named by request, field and position, never echoed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bad_input_helpers import good_document
from nosology.catalogue import Catalogue, load_pathway_file
from nosology.exceptions import CatalogueError
from routing.calendar import calendar_for
from routing.cli import main
from routing.reading import read_problem
from routing.slot_index import SlotIndex
from routing.solve.plan import plan_route

HEAD = """
id = "local_visit"
title = { ru = "Приём", en = "A visit" }
[applicability]
codes = ["J45"]
"""
STAGE = """
[[stages]]
id = "visit"
title = { ru = "Приём", en = "Visit" }
services = ["fer:27"]
"""

# (case id, the file's TOML, the field named: None when the file as a whole is named)
TOML_CASES: list[tuple[str, str, str | None]] = [
    ("no-stages", HEAD, "stages"),
    ("duration-bool", HEAD + STAGE + "duration_minutes = true\n", "stages.0.duration_minutes"),
    ("duration-float", HEAD + STAGE + "duration_minutes = 30.0\n", "stages.0.duration_minutes"),
    ("duration-nan", HEAD + STAGE + "duration_minutes = nan\n", "stages.0.duration_minutes"),
    ("duration-inf", HEAD + STAGE + "duration_minutes = inf\n", "stages.0.duration_minutes"),
    (
        "duration-huge",
        HEAD + STAGE + "duration_minutes = 1" + "0" * 30 + "\n",
        "stages.0.duration_minutes",
    ),
    ("duration-digits", HEAD + STAGE + "duration_minutes = " + "9" * 5000 + "\n", None),
    ("level-bool", HEAD + STAGE + "facility_level = true\n", "stages.0.facility_level"),
    ("level-string", HEAD + STAGE + 'facility_level = "2"\n', "stages.0.facility_level"),
    ("stage-id-nul", HEAD + STAGE.replace('"visit"', '"vi\\u0000sit"'), "stages.0.id"),
    ("service-nul", HEAD + STAGE.replace("fer:27", "fer:2\\u00007"), "stages.0.services.0.code"),
    ("title-nul", HEAD.replace("A visit", "A vi\\u0000sit") + STAGE, "title.en"),
    ("priority-bool", HEAD + "priority = true\n" + STAGE, "applicability.priority"),
    ("code-not-in-registry", HEAD.replace("J45", "Q99.99") + STAGE, "applicability.codes.0"),
    (
        "constraint-min-bool",
        HEAD + STAGE + '[[constraints]]\nfrom_event = "referral"\nto_event = "visit.start"\n'
        'min = true\nunit = "hours"\nsource = "test"\n',
        "constraints.0.min",
    ),
    (
        "constraint-max-huge",
        HEAD + STAGE + '[[constraints]]\nfrom_event = "referral"\nto_event = "visit.start"\n'
        'max = 100000000000\nunit = "hours"\nsource = "test"\n',
        "constraints.0.max",
    ),
    (
        "deadline-limit-negative",
        HEAD + STAGE + '[[deadlines]]\nid = "d"\ntitle = { ru = "С", en = "L" }\n'
        'from_event = "referral"\nto_event = "visit.start"\nlimit = -1\n'
        'unit = "working_days"\nsource = "test"\n',
        "deadlines.0.limit",
    ),
    (
        "window-days-float",
        HEAD + STAGE + '[[windows]]\nevent = "visit.start"\nreference = "lmp"\n'
        'min_days = 1.5\nmax_days = 10\nsource = "test"\n',
        "windows.0.min_days",
    ),
    ("not-toml", "id = \n", None),
    ("nested", "a = " + "[" * 50_000 + "]" * 50_000 + "\n", None),
    ("empty", "", "id"),
    ("unknown-field", HEAD + STAGE + "colour = 3\n", "stages.0.colour"),
]


@pytest.mark.parametrize(
    ("text", "field"), [(t, f) for _, t, f in TOML_CASES], ids=[c[0] for c in TOML_CASES]
)
def test_bad_pathway_file_names_file_and_field(
    text: str, field: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad pathway file raises CatalogueError naming it and the field; the CLI exits 2."""
    path = tmp_path / "local.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError) as info:
        load_pathway_file(path)
    assert info.value.path == str(path)
    if field is not None:
        assert info.value.field == field
    assert main(["pathways", "list", "--catalogue", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "Traceback" not in err
    # The built-in catalogue is untouched by a bad user file.
    assert len(list(Catalogue.builtin())) > 0


@pytest.mark.parametrize(
    "content",
    [b'id = "x\xff"\n', b"\xfe\xff", "id = 'é'".encode("latin-1")],
    ids=["bad-byte", "utf16-bom", "latin1"],
)
def test_pathway_file_not_utf8_names_the_byte(content: bytes, tmp_path: Path) -> None:
    """A pathway file that is not UTF-8 is named with the byte offset, not its content."""
    path = tmp_path / "local.toml"
    path.write_bytes(content)
    with pytest.raises(CatalogueError, match=r"not UTF-8 text \(byte \d+\)"):
        load_pathway_file(path)


# (case id, the diagnoses of request R2, the field of the issue or None when R2 is read but gets
# an INVALID result naming the diagnosis by position)
CODE_CASES: list[tuple[str, list[Any], str | None]] = [
    ("nul", ["C34\x00.1"], "diagnoses.0"),
    ("control", ["C34.1", "J4\x075"], "diagnoses.1"),
    ("empty", [""], "diagnoses.0"),
    ("number", [34.1], "diagnoses.0"),
    ("bool", [True], "diagnoses.0"),
    ("too-long", ["C34.1" * 9], "diagnoses.0"),
    ("not-a-list", "C34.1", "diagnoses"),
    ("not-in-registry", ["Q99.99"], None),
    ("malformed", ["CC34"], None),
    ("two-marks", ["E11.3††"], None),
]


@pytest.mark.parametrize(
    ("codes", "field"), [(c, f) for _, c, f in CODE_CASES], ids=[c[0] for c in CODE_CASES]
)
def test_bad_diagnosis_code_is_named_by_position_and_the_rest_planned(
    codes: list[Any], field: str | None
) -> None:
    """A bad code of a request is named by request, field and position, never echoed."""
    document = good_document()
    request = document["requests"][1]
    del request["pathway_id"]
    request["diagnoses"] = codes
    reading = read_problem(document)
    problem = reading.problem
    index = SlotIndex.build(problem.facilities, problem.slots, calendar=calendar_for(None))
    pathways = {p.id: p for p in problem.pathways}
    assert plan_route(problem.request("R1"), index, pathways=pathways).has_route
    shown = [str(c) for c in codes if isinstance(c, str) and c] if isinstance(codes, list) else []
    if field is not None:
        assert [(i.record, i.field) for i in reading.issues] == [("request 'R2'", field)]
        text = " ".join(str(i) + repr(i) for i in reading.issues)
    else:
        assert reading.issues == ()
        result = plan_route(problem.request("R2"), index, pathways=pathways)
        assert result.status.value.upper() == "INVALID"
        text = " ".join(result.reasons)
        assert "diagnosis #1" in text
    for code in shown:
        assert code not in text
