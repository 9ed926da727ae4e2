"""A stage base's picks: the rows asked for, as the base's own int objects."""

from __future__ import annotations

import numpy as np
from benchmarks.instances import make_instance
from hypothesis import given, settings
from hypothesis import strategies as st

from routing import SlotIndex
from routing.solve.stagebase import StageBase, pathway_shape, stage_base

_INSTANCE = make_instance("small", 4)
_INDEX = SlotIndex.build(_INSTANCE.facilities, _INSTANCE.slots)


def _bases() -> list[StageBase]:
    bases = []
    for pathway in _INSTANCE.pathways.values():
        _, services_of = pathway_shape(_INDEX, pathway)
        for stage, services in zip(pathway.stages, services_of, strict=True):
            bases.append(stage_base(_INDEX, stage, services, merge=True))
    return [base for base in bases if len(base.pos) > 1]


_BASES = _bases()


def _assert_picks(base: StageBase, rows: list[int]) -> None:
    picked = base.picked(np.array(rows, dtype=np.int64))
    assert len(picked) == len(base.lists)
    for column, whole in zip(picked, base.lists, strict=True):
        assert isinstance(column, list)
        assert column == [whole[r] for r in rows]
        # The base's own objects, not new ints (what keeps the copies cheap).
        assert all(value is whole[r] for value, r in zip(column, rows, strict=True))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_picked_rows_are_the_base_rows_themselves(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(_BASES))
    size = len(base.pos)
    rows = sorted(data.draw(st.sets(st.integers(0, size - 1), max_size=min(size, 300))))
    _assert_picks(base, rows)
    lo = data.draw(st.integers(0, size))
    hi = data.draw(st.integers(lo, size))
    as_range = base.picked(slice(lo, hi))
    assert [list(column) for column in as_range] == [whole[lo:hi] for whole in base.lists]


def test_a_narrowed_base_picks_from_its_own_rows() -> None:
    base = max(_BASES, key=lambda b: len(set(b.facility.tolist())))
    usable = np.zeros(len(_INDEX.facilities), dtype=np.bool_)
    usable[np.unique(base.facility)[::2]] = True
    narrowed = base.at_facilities(usable)
    assert 0 < len(narrowed.pos) < len(base.pos)
    assert narrowed.table.shape == (len(narrowed.lists), len(narrowed.pos))
    assert narrowed.lists[4] == narrowed.facility.tolist()
    assert set(narrowed.lists[4]) <= set(np.flatnonzero(usable).tolist())
    _assert_picks(narrowed, list(range(0, len(narrowed.pos), 3)))
    _assert_picks(narrowed, [])
