"""The README: its two set-up commands agree with CI, and its Python quick start runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nosology.registry import MKB10_REGISTRY_OID, MKB10_VERSION

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def section(title: str) -> str:
    """The text of the README section ``## title`` up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match is not None, f"no section {title!r}"
    return match.group(1)


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of ``language`` in ``text``."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def setup_commands() -> list[str]:
    """The command lines of the set-up section."""
    lines: list[str] = []
    for block in code_blocks(section("Set-up"), "sh"):
        lines += [x for x in block.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    return lines


def test_exactly_two_single_line_setup_commands() -> None:
    """The set-up section holds exactly two commands, each on one line, both from a fresh venv."""
    commands = setup_commands()
    assert len(commands) == 2
    for command in commands:
        assert command.startswith(VENV)
        assert not command.endswith("\\")
    assert commands[0].endswith("routing batch --example")


def test_test_command_is_what_ci_runs() -> None:
    """The README's test command, minus the venv part, appears verbatim in .ci/run."""
    test_command = setup_commands()[1].removeprefix(VENV)
    assert "pytest" in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci_lines


def test_readme_names_the_shipped_registry() -> None:
    """The README states the МКБ-10 registry OID and version that the package ships."""
    assert MKB10_REGISTRY_OID in README
    assert f"version {MKB10_VERSION}" in README


def test_quick_start_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The Python quick start runs as written and plans a route."""
    (block,) = code_blocks(section("Quick start (Python)"), "python")
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "C34.1 zno_lung" in out
    assert "request R-0001" in out


def test_command_line_section_documents_exit_statuses_and_schemas() -> None:
    """The command-line section lists exit statuses 0-3 and every published schema name."""
    from routing.outputs.schemas import SCHEMA_NAMES

    text = section("Command line")
    for status in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert status in text
    for name in SCHEMA_NAMES:
        assert f"`{name}`" in text
    assert "routing schema --of" in text
