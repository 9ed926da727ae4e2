"""The search's numpy paths for large inputs agree with its plain loops for small ones.

Stages with many candidates, and pairs of stages with many sites on a day, are grouped and
costed with numpy arrays (:data:`routing.solve.bnb.daymemo.VECTOR_SIZE`); the rest with loops. Both
are run here on the same stages of realistic requests and must give the same values.
"""

from __future__ import annotations

from unittest.mock import patch

import pytest
from benchmarks.instances import make_instance

from routing.slot_index import SlotIndex
from routing.solve import compiled as compiled_module
from routing.solve import search as search_module
from routing.solve.bnb import daymemo
from routing.solve.compiled import StageCandidates, compile_request
from routing.solve.plan import resolve_pathway

ALWAYS, NEVER = 0, 1 << 40


def _searches() -> list[search_module._Search]:
    """Searches of the first requests of the small benchmark instance, at their root bounds."""
    instance = make_instance("small", 1)
    index = SlotIndex.build(instance.facilities, instance.slots)
    found = []
    for request in instance.requests[:12]:
        pathway = resolve_pathway(request, pathways=instance.pathways)
        compiled = compile_request(request, pathway, index, merge_twins=True)
        search = search_module._Search(compiled, search_module.SearchLimits())
        found.append(search)
    return found


def _root(search: search_module._Search) -> list[list[int]]:
    inf = 1 << 62
    b = [[search.r] * search.k, [inf] * search.k, [search.r] * search.k, [inf] * search.k]
    assert search.propagate(b) < 0
    return b


@pytest.fixture(scope="module")
def searches() -> list[search_module._Search]:
    return _searches()


def _both(compute):  # type: ignore[no-untyped-def]
    with patch.object(daymemo, "VECTOR_SIZE", ALWAYS):
        vector = compute()
    with patch.object(daymemo, "VECTOR_SIZE", NEVER):
        loops = compute()
    return vector, loops


def _candidates_by_facility(st: StageCandidates) -> list[tuple[int, list[int]]]:
    """``st.by_facility()`` computed afresh, in candidate indices."""
    st.grouped = None
    found = [
        (f, [r - offset for r in rows if offset <= r < offset + len(st.slot)])
        for f, rows, offset in st.by_facility()
    ]
    st.grouped = None
    return found


def test_grouping_by_facility_agrees(searches: list[search_module._Search]) -> None:
    """Candidates by facility: the same facilities and indices from the stage base's shared
    groups, with numpy and with a loop; each facility's candidates are exactly its own."""
    compared = shared = 0
    for search in searches:
        for st in search.stages:
            given = _candidates_by_facility(st)
            rows, st.facility_rows = st.facility_rows, None
            shared += rows is not None
            try:
                with patch.object(compiled_module, "GROUP_WITH_NUMPY", ALWAYS):
                    vector = _candidates_by_facility(st)
                with patch.object(compiled_module, "GROUP_WITH_NUMPY", NEVER):
                    loops = _candidates_by_facility(st)
            finally:
                st.facility_rows = rows
            assert given == vector == loops
            assert [f for f, _ in loops] == sorted({f for f in st.facility})
            for f, members in loops:
                assert members == [c for c, g in enumerate(st.facility) if g == f]
            compared += len(st.slot)
    assert compared > 100
    assert shared > 0


def test_day_sites_agree(searches: list[search_module._Search]) -> None:
    """A stage's sites per day: the same facilities, earliest ends and latest starts."""
    compared = 0
    for search in searches:
        b = _root(search)
        for i, st in enumerate(search.stages):
            if st.in_person:
                vector, loops = _both(lambda: search._day_sites(i, b))  # noqa: B023
                assert vector == loops
                compared += sum(len(sites) for sites in loops.values())
    assert compared > 100


def test_pair_costs_agree(searches: list[search_module._Search]) -> None:
    """The least travel of a day holding two stages, per pair and day, at preferred
    facilities too: the same tables either way, and some pairs can share a day."""
    shared = 0
    for search in searches:
        b = _root(search)
        vector, loops = _both(lambda: (search.share_costs(b), dict(search.pair_days)))  # noqa: B023
        assert vector == loops
        tables, _ = loops
        if tables is not None:
            shared += sum(cost is not None for row in tables[0] for cost in row)
    assert shared > 0
