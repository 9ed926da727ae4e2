"""What the ``routing`` command shows: rich tables and progress on a terminal, plain lines else.

Text for a reader is a sequence of blocks: a line of text, or a :class:`TableBlock`. On a
terminal, tables are drawn by :mod:`rich`; in a pipe or a log file they are plain columns, the
same text whatever the terminal's width (so scripts and tests read stable output).

:class:`BatchProgressDisplay` draws a :mod:`rich` progress bar on standard error when standard
error is a terminal; otherwise it writes one plain line when a phase starts, and never a carriage
return. :func:`add_verbosity_arguments` gives a parser ``-v``/``-vv``/``-q``, accepted before and
after a subcommand (:func:`verbosity` reads both).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from routing.batch.engine import BatchProgress

__all__ = [
    "BatchProgressDisplay",
    "Block",
    "TableBlock",
    "add_verbosity_arguments",
    "emit",
    "is_terminal",
    "plain_table",
    "verbosity",
]


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


# ---------------------------------------------------------------------------------------------
# -v / -q
# ---------------------------------------------------------------------------------------------


def add_verbosity_arguments(parser: argparse.ArgumentParser, *, subcommand: bool = True) -> None:
    """Add ``-v/--verbose`` (counted) and ``-q/--quiet`` to ``parser``.

    Parameters
    ----------
    parser
        The parser.
    subcommand
        ``True`` for a subcommand's parser: its values are kept apart from the main parser's
        (argparse would let a subcommand's default overwrite ``routing -v CMD``), and
        :func:`verbosity` adds the two together.
    """
    suffix = "_after" if subcommand else ""
    count_default: object = argparse.SUPPRESS if subcommand else 0
    flag_default: object = argparse.SUPPRESS if subcommand else False
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest=f"verbose{suffix}",
        default=count_default,
        help="log more to standard error (-v info, -vv debug)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        dest=f"quiet{suffix}",
        default=flag_default,
        help="errors only: no progress, no warnings",
    )


def verbosity(args: argparse.Namespace) -> int:
    """-1 when quiet, else the number of ``-v`` given before and after the subcommand."""
    if getattr(args, "quiet", False) or getattr(args, "quiet_after", False):
        return -1
    return int(getattr(args, "verbose", 0)) + int(getattr(args, "verbose_after", 0))


# ---------------------------------------------------------------------------------------------
# Text and tables
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableBlock:
    """A table: a header and rows of text cells, shown ``indent`` from the left margin."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    indent: str = "  "


Block = str | TableBlock
"""A line of text (without its newline) or a table."""


def plain_table(table: TableBlock) -> list[str]:
    """The table as left-aligned columns under its header; the last column is not padded."""
    body = [list(r) for r in table.rows]
    columns = zip(table.headers, *body, strict=True)
    widths = [max(len(str(c)) for c in column) for column in columns]
    lines = []
    for row in [list(table.headers), *body]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [row[-1]]
        lines.append((table.indent + "  ".join(cells)).rstrip())
    return lines


def _rich_table(table: TableBlock) -> Table:
    drawn = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    for header in table.headers:
        drawn.add_column(header, overflow="fold")
    for row in table.rows:
        drawn.add_row(*row)
    return drawn


def emit(blocks: Iterable[Block], stream: IO[str] | None = None) -> None:
    """Write the blocks to ``stream`` (standard output): rich on a terminal, plain text else."""
    target = sys.stdout if stream is None else stream
    if not is_terminal(target):
        lines: list[str] = []
        for block in blocks:
            lines += plain_table(block) if isinstance(block, TableBlock) else [block]
        target.write("".join(f"{line}\n" for line in lines))
        return
    console = Console(file=target, markup=False, highlight=False, emoji=False)
    for block in blocks:
        if isinstance(block, TableBlock):
            console.print(Padding(_rich_table(block), (0, 0, 0, len(block.indent))))
        else:
            console.print(block, soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# Progress of a batch
# ---------------------------------------------------------------------------------------------


class BatchProgressDisplay:
    """The progress of ``plan_batch`` on standard error (a callable for its ``progress``).

    Parameters
    ----------
    stream
        Where to write; standard error by default.
    terminal
        Draw a rich progress bar (``True``) or write plain lines (``False``); by default, a bar
        exactly when ``stream`` is a terminal.
    """

    def __init__(self, stream: IO[str] | None = None, *, terminal: bool | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.terminal = is_terminal(self.stream) if terminal is None else terminal
        self.phase = ""
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def _bar(self) -> tuple[Progress, TaskID]:
        if self._progress is None or self._task is None:
            console = Console(file=self.stream, force_terminal=True, highlight=False)
            self._progress = Progress(
                TextColumn("{task.description:<16}"),
                BarColumn(),
                TextColumn("{task.fields[steps]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[best]}"),
                console=console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=1.0, steps="", best="")
        return self._progress, self._task

    def __call__(self, p: BatchProgress) -> None:
        """Show one progress report."""
        best = "" if p.best is None else f"best {p.best}"
        if not self.terminal:
            if p.phase != self.phase:
                tail = f", {best}" if best else ""
                self.stream.write(f"routing batch: {p.phase} ({p.elapsed:.1f} s{tail})\n")
                self.stream.flush()
        else:
            progress, task = self._bar()
            if p.total:
                total, done, steps = float(p.total), float(p.done), f"{p.done}/{p.total}"
            else:
                total, done, steps = max(p.time_limit, 1e-9), min(p.elapsed, p.time_limit), ""
            progress.update(
                task, description=p.phase, total=total, completed=done, steps=steps, best=best
            )
        self.phase = p.phase

    def close(self) -> None:
        """Stop the bar (its last state stays on screen)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
