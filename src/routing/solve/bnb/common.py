"""The search's shared types and limits: the objective key, the limits and the outcome.

The objective is lexicographic, ``(completion, visit days, travel, non-preferred)``, compared as
a tuple (:data:`Key`); :data:`INF` stands for "no bound yet" in every part of the search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "INF",
    "JOINERS_EXACT",
    "NO_KEY",
    "CostTable",
    "IntArray",
    "Key",
    "SearchLimits",
    "SearchOutcome",
    "Sites",
    "VisitClass",
]

Key = tuple[int, int, int, int]
VisitClass = tuple[int, int, int, int, int, int]
CostTable = list[list[int | None]]
IntArray = npt.NDArray[np.int64]
Sites = list[tuple[int, int, int]]
"""A stage's sites on one day: ``(facility, earliest end, latest start)`` by facility."""
INF: Final = 1 << 62
"""More than any minute, count or cost: no bound, or no limit, yet."""
NO_KEY: Final[Key] = (INF, INF, INF, INF)
"""The key of no route: every route is better."""
JOINERS_EXACT: Final = 3
"""Open stages up to which each joiner's addition to a visited day is taken from its candidates
there (time and same-day rules included), not from its facilities at phase 2's root."""


@dataclass(frozen=True, slots=True)
class SearchLimits:
    """When the search stops early: wall-clock seconds and explored nodes.

    With ``secondary`` False the search stops once the earliest completion is proven, without
    optimising visit days, travel and preferred facilities (batch planning compares routes by
    completion and deadlines only).
    """

    time_limit: float = 2.0
    node_limit: int = 200_000
    secondary: bool = True


@dataclass(slots=True)
class SearchOutcome:
    """What the search found.

    ``choice`` holds a candidate index per stage, ``key`` its objective, ``proven`` whether the
    search was exhaustive, ``root_bound`` the lower bound at the root (``None`` when the root
    propagation already failed), and ``failure`` the stage and rule that emptied a domain at the
    root.
    """

    choice: list[int] | None = None
    key: Key | None = None
    proven: bool = False
    root_bound: Key | None = None
    nodes: int = 0
    failure: tuple[int, str] | None = None
    limit_hit: str | None = None
    completion_only: bool = False
    """The earliest completion is proven; the secondary objectives were not searched."""
