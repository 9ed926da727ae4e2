"""Files written whole or not at all, and output paths checked before any work starts.

Every file the ``routing`` command writes goes through :func:`write_files`: each text is written
to a temporary file in the target's own directory and flushed to disk, and only when every
temporary file of the call is complete are they renamed over their targets (:func:`os.replace`,
atomic on POSIX and Windows within one file system). A failure on the way removes the temporary
files and leaves every target as it was: a good file is never replaced by an empty or partial one.

:func:`check_output_file` and :func:`check_output_dir` run before the work, so that a path that can
never be written (a directory where a file is expected, a file where a directory is expected, a
parent that is a file) fails at once, with nothing written. A missing parent directory is not an
error: :func:`write_files` creates it and returns it so that the caller can say so.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from routing.exceptions import OutputPathError

__all__ = ["check_output_dir", "check_output_file", "write_files", "write_text"]

logger = logging.getLogger(__name__)


def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its closest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()  # pragma: no cover - a relative path's parents end at ".", which exists


def _check_creatable(option: str, shown: str, directory: Path) -> None:
    """``directory`` exists as a writable directory, or can be created as one."""
    existing = _nearest_existing(directory)
    if not existing.is_dir():
        raise OutputPathError(option, shown, f"{existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(option, shown, f"no permission to write in {existing}")


def check_output_file(path: Path | str, option: str = "--output") -> Path:
    """Check that a file can be written at ``path``, before any work is done.

    Parameters
    ----------
    path
        The file to be written; its parent directories need not exist yet.
    option
        The option that named it, for the message.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputPathError
        If ``path`` is an existing directory, or its parent is (or lies under) something that is
        not a directory, or the directory to write in is not writable.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     check_output_file(tmp)
    Traceback (most recent call last):
    ...
    routing.exceptions.OutputPathError: --output: ...: is a directory; give a file name
    """
    target = Path(path)
    if target.is_dir():
        raise OutputPathError(option, str(path), "is a directory; give a file name")
    _check_creatable(option, str(path), target.parent)
    return target


def check_output_dir(
    path: Path | str, names: tuple[str, ...], option: str = "--output-dir"
) -> Path:
    """Check that the files ``names`` can be written in the directory ``path``, before any work.

    Parameters
    ----------
    path
        The output directory; it need not exist yet.
    names
        The file names to be written in it.
    option
        The option that named it, for the message.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputPathError
        If ``path`` exists and is not a directory, one of the files to write is a directory, or
        the directory cannot be created or written.
    """
    directory = Path(path)
    if directory.exists() and not directory.is_dir():
        raise OutputPathError(option, str(path), "exists and is not a directory")
    _check_creatable(option, str(path), directory)
    for name in names:
        if (directory / name).is_dir():
            raise OutputPathError(option, str(path), f"{name} in it is a directory")
    return directory


def _write_temporary(target: Path, text: str) -> Path:
    """``text`` in a new temporary file beside ``target``, flushed to disk."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _fsync_directory(directory: Path) -> None:
    """Make the renames in ``directory`` durable where the platform allows it."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open a directory
        return
    try:
        os.fsync(descriptor)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(descriptor)


def write_files(texts: Mapping[Path, str]) -> tuple[Path, ...]:
    """Write every text to its file, all or none.

    All temporary files are written first; the renames follow only when every one is complete.
    Text is written as UTF-8 with ``\\n`` line ends, and a new file gets the permissions a plain
    ``open`` would give it (the process umask).

    Parameters
    ----------
    texts
        The content of each file, by path.

    Returns
    -------
    tuple of Path
        The directories that did not exist and were created, outermost first.

    Raises
    ------
    OSError
        If a directory cannot be created or a file cannot be written; no target has been changed.
    """
    created: list[Path] = []
    for target in texts:
        parent = target.parent
        missing = [p for p in (parent, *parent.parents) if not p.exists()]
        for directory in reversed(missing):
            directory.mkdir(exist_ok=True)
            created.append(directory)
    temporaries: dict[Path, Path] = {}
    try:
        for target, text in texts.items():
            temporaries[target] = _write_temporary(target, text)
        mask = os.umask(0)
        os.umask(mask)
        for target, temporary in temporaries.items():
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~mask
            os.chmod(temporary, mode)
        for target, temporary in temporaries.items():
            os.replace(temporary, target)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)
    for directory in {target.parent for target in texts}:
        _fsync_directory(directory)
    for target in texts:
        logger.info("wrote %s", target)
    return tuple(created)


def write_text(path: Path | str, text: str) -> tuple[Path, ...]:
    """Write one file atomically (see :func:`write_files`); the directories created."""
    return write_files({Path(path): text})
