"""Which build of the search an interpreter runs, and how to run another interpreter's build.

A regular install (a wheel) compiles the solver's hot modules with mypyc (``hatch_build.py``);
an editable install runs the same annotated sources as pure Python. The benchmarks say which
one they measured, and can run the same measurement through a second interpreter whose
``routing`` is the other build (``--compiled-python``).
"""

from __future__ import annotations

import os
from pathlib import Path

from routing.solve import search as search_module

__all__ = ["is_compiled", "other_build_env", "search_build"]


def is_compiled() -> bool:
    """Whether this interpreter's search is the compiled one (a ``.so`` / ``.pyd`` module)."""
    return Path(search_module.__file__ or "").suffix in (".so", ".pyd")


def search_build() -> str:
    """This interpreter's build of the search, e.g. ``"pure Python: search.py"``."""
    kind = "compiled (mypyc)" if is_compiled() else "pure Python"
    return f"{kind}: {Path(search_module.__file__ or '').name}"


def other_build_env() -> dict[str, str]:
    """The environment for another interpreter: this one's, without ``PYTHONPATH`` (which
    could put these sources ahead of that interpreter's own ``routing``)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
