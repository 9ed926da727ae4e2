"""What the ``routing`` command writes: files written atomically, documents and their schemas.

:mod:`routing.outputs.atomic` writes files whole or not at all and checks output paths before
any work; :mod:`routing.outputs.documents` holds the models of the JSON documents the command
prints; :mod:`routing.outputs.schemas` publishes their JSON Schemas; :mod:`routing.outputs.terminal`
renders text, tables and progress for a terminal, and plain lines for pipes and logs.
"""

from __future__ import annotations

from routing.outputs.atomic import check_output_dir, check_output_file, write_files, write_text

__all__ = [
    "check_output_dir",
    "check_output_file",
    "write_files",
    "write_text",
]
