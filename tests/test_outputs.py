"""routing.outputs: atomic writes, output-path checks, published schemas, terminal rendering."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.batch.engine import BatchProgress
from routing.exceptions import InvalidInputError, OutputPathError
from routing.outputs import atomic
from routing.outputs.atomic import check_output_dir, check_output_file, write_files, write_text
from routing.outputs.schemas import SCHEMA_NAMES, schema_of, schema_text, shipped_schema_text
from routing.outputs.terminal import (
    BatchProgressDisplay,
    TableBlock,
    add_verbosity_arguments,
    emit,
    plain_table,
    verbosity,
)

# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


def test_write_files_writes_all_and_names_the_directories_it_created(tmp_path: Path) -> None:
    """Every file gets its text; missing parents are created and returned outermost first."""
    texts = {tmp_path / "a" / "b" / "one.txt": "1\n", tmp_path / "a" / "two.txt": "två\n"}
    created = write_files(texts)
    assert created == (tmp_path / "a", tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b" / "one.txt").read_text(encoding="utf-8") == "1\n"
    assert (tmp_path / "a" / "two.txt").read_text(encoding="utf-8") == "två\n"
    assert write_files({tmp_path / "a" / "two.txt": "again"}) == ()


@settings(max_examples=30, deadline=None)
@given(text=st.text())
def test_write_text_round_trips_any_text(text: str) -> None:
    """Any text comes back byte for byte as UTF-8, line ends untranslated, no temporary left."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.txt"
        target.write_text("old", encoding="utf-8")
        write_text(target, text)
        assert target.read_bytes() == text.encode("utf-8")
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["out.txt"]


def test_a_failed_write_changes_no_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the second of three files cannot be written, none is replaced and no temp is left."""
    targets = [tmp_path / name for name in ("plan.json", "report.json", "summary.txt")]
    for n, target in enumerate(targets):
        target.write_text(f"good {n}", encoding="utf-8")
    real = atomic._write_temporary
    calls: list[Path] = []

    def failing(target: Path, text: str) -> Path:
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(target, text)

    monkeypatch.setattr(atomic, "_write_temporary", failing)
    with pytest.raises(OSError, match="No space"):
        write_files({t: "new" for t in targets})
    assert [t.read_text(encoding="utf-8") for t in targets] == ["good 0", "good 1", "good 2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(t.name for t in targets)


def test_a_failed_rename_changes_no_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure at the first rename leaves the old file and removes every temporary file."""
    target = tmp_path / "results.json"
    target.write_bytes(b'{"good": true}\n')

    def refuse(source: object, destination: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(PermissionError):
        write_text(target, "{}")
    assert target.read_bytes() == b'{"good": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_permissions_follow_the_umask_or_the_replaced_file(tmp_path: Path) -> None:
    """A new file gets 0o666 minus the umask (not mkstemp's 0o600); a replaced one keeps its."""
    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "new.txt", "x")
        existing = tmp_path / "old.txt"
        existing.write_text("x", encoding="utf-8")
        existing.chmod(0o640)
        write_text(existing, "y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640


def test_check_output_file(tmp_path: Path) -> None:
    """A directory, or a parent that is a file, is an OutputPathError; missing parents are fine."""
    with pytest.raises(OutputPathError, match="is a directory") as caught:
        check_output_file(tmp_path, "--output")
    assert isinstance(caught.value, InvalidInputError)
    assert caught.value.record == "--output"
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(OutputPathError, match="is not a directory"):
        check_output_file(blocker / "sub" / "out.json")
    deep = tmp_path / "x" / "y" / "out.json"
    assert check_output_file(deep) == deep
    assert not (tmp_path / "x").exists()  # checked, not created


def test_check_output_dir(tmp_path: Path) -> None:
    """An existing file, or a directory where a file is to go, is an error; a new dir is fine."""
    blocker = tmp_path / "out"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(OutputPathError, match="not a directory"):
        check_output_dir(blocker, ("plan.json",))
    (tmp_path / "d" / "plan.json").mkdir(parents=True)
    with pytest.raises(OutputPathError, match=r"plan\.json in it is a directory"):
        check_output_dir(tmp_path / "d", ("plan.json",))
    assert check_output_dir(tmp_path / "new", ("plan.json",)) == tmp_path / "new"
    assert not (tmp_path / "new").exists()


def test_check_output_file_in_a_read_only_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory the process may not write in is named before any work."""
    locked = tmp_path / "locked"
    locked.mkdir()
    asked: list[str] = []

    def access(path: object, mode: int) -> bool:  # as for a user without write permission
        asked.append(str(path))
        return False

    monkeypatch.setattr(atomic.os, "access", access)
    with pytest.raises(OutputPathError, match=f"no permission to write in {locked}"):
        check_output_file(locked / "a" / "out.json")
    assert asked == [str(locked)]


def test_output_path_error_pickles() -> None:
    """OutputPathError survives pickling (process pools) with its option, path and reason."""
    import pickle

    error = OutputPathError("--output", "out/", "is a directory")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.option, copy.path, copy.why, str(copy)) == (
        "--output",
        "out/",
        "is a directory",
        str(error),
    )


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_shipped_schema_matches_the_models(name: str) -> None:
    """The shipped schema file is what the models generate today, and a valid 2020-12 schema."""
    assert shipped_schema_text(name) == schema_text(name), (
        f"{name}.schema.json is stale: run `python -m routing.outputs.schemas`"
    )
    jsonschema.Draft202012Validator.check_schema(schema_of(name))


def test_problem_schema_is_the_problem_files() -> None:
    """The problem schema is routing.problem's own, and the example problem validates."""
    from routing.examples import example_text
    from routing.problem import problem_json_schema

    assert schema_of("problem") == problem_json_schema()
    jsonschema.validate(json.loads(example_text()), schema_of("problem"))


def test_unknown_schema_lists_the_known_ones() -> None:
    """An unknown schema name is a ValueError naming every published schema."""
    with pytest.raises(ValueError, match="batch, slots-import"):
        schema_of("nope")


# ---------------------------------------------------------------------------------------------
# Terminal
# ---------------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


TABLE = TableBlock(("id", "name"), (("a", "first"), ("bb", "second")), indent="  ")


def test_plain_table_pads_all_but_the_last_column() -> None:
    """Plain columns: two spaces apart, under the header, the last column unpadded."""
    assert plain_table(TABLE) == ["  id  name", "  a   first", "  bb  second"]


def test_emit_is_plain_off_a_terminal_and_rich_on_one() -> None:
    """Off a terminal: the plain lines, no escape codes; on one: a rich table with a rule."""
    pipe = io.StringIO()
    emit(["title [x]", TABLE], pipe)
    assert pipe.getvalue() == "title [x]\n  id  name\n  a   first\n  bb  second\n"
    terminal = _Terminal()
    emit(["title [x]", TABLE], terminal)
    text = terminal.getvalue()
    assert "title [x]" in text  # markup is off: brackets are text
    assert "─" in text
    assert "second" in text


def _progress(phase: str, done: int = 0, total: int = 0) -> BatchProgress:
    return BatchProgress(phase, done, total, None, 0.5, 10.0)


def test_progress_off_a_terminal_is_one_plain_line_per_phase() -> None:
    """Off a terminal the progress is one line per phase, never a carriage return."""
    stream = io.StringIO()
    display = BatchProgressDisplay(stream)
    for p in [_progress("first come"), _progress("search", 1, 5), _progress("search", 2, 5)]:
        display(p)
    display(_progress("done", 1, 1))
    display.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "routing batch: first come",
        "routing batch: search",
        "routing batch: done",
    ]
    assert "\r" not in stream.getvalue()


def test_progress_on_a_terminal_draws_a_bar() -> None:
    """On a terminal a rich bar shows the phase and the steps done."""
    stream = _Terminal()
    display = BatchProgressDisplay(stream)
    assert display.terminal
    display(_progress("search", 3, 7))
    display.close()
    assert "search" in stream.getvalue()
    assert "3/7" in stream.getvalue()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], 0),
        (["-v", "run"], 1),
        (["run", "-v"], 1),
        (["-v", "run", "-v"], 2),
        (["run", "-vv"], 2),
        (["run", "-q"], -1),
        (["-q", "run", "-v"], -1),
    ],
)
def test_verbosity_before_and_after_the_subcommand(argv: list[str], expected: int) -> None:
    """-v counts on both sides of the subcommand and add up; -q wins."""
    parser = argparse.ArgumentParser()
    add_verbosity_arguments(parser, subcommand=False)
    commands = parser.add_subparsers(dest="command")
    add_verbosity_arguments(commands.add_parser("run"))
    assert verbosity(parser.parse_args(argv)) == expected


def test_docstring_examples_run() -> None:
    """The Examples sections of routing.outputs run as written."""
    import doctest

    from routing.outputs import schemas

    for module in (atomic, schemas):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0
        assert result.failed == 0
