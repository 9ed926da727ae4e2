"""Test settings: hypothesis draws the same examples on every run (CI must not be flaky).

Set ``HYPOTHESIS_PROFILE=explore`` to draw fresh random examples instead (and keep failures in
the local example database).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
