"""The search's slot holders (:mod:`routing.batch.holders`) against a plain dict of sets."""

from __future__ import annotations

import doctest

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.batch import holders as holders_module
from routing.batch.holders import MANY, NOBODY, SlotHolders

SLOTS = 12

moves = st.lists(
    st.tuples(
        st.booleans(),  # add (else discard)
        st.lists(st.integers(0, SLOTS - 1), max_size=4, unique=True),
        st.integers(0, 5),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(moves, st.lists(st.integers(0, SLOTS - 1), max_size=SLOTS))
def test_slot_holders_answer_as_a_dict_of_sets_does(
    steps: list[tuple[bool, list[int], int]], asked: list[int]
) -> None:
    """After any adds and discards: each slot's holders, its sole holder (or none, or
    several), and the holders of any set of slots (few or many sole holders) are those of a
    dict of sets."""
    h = SlotHolders(SLOTS, patients=6)
    plain: dict[int, set[int]] = {}
    for add, positions, patient in steps:
        if add:
            h.add(positions, patient)
            for p in positions:
                plain.setdefault(p, set()).add(patient)
        else:
            positions = [p for p in positions if plain.get(p)]  # only slots someone holds
            h.discard(positions, patient)
            for p in positions:
                plain[p].discard(patient)
    held_now = h.as_dict()
    for p in range(SLOTS):
        held = plain.get(p, set())
        assert held_now.get(p, set()) == held
        expected = NOBODY if not held else next(iter(held)) if len(held) == 1 else MANY
        assert h.sole[p] == expected
    union = set().union(*(plain.get(p, set()) for p in asked))
    assert h.of(np.array(asked, dtype=np.int64)) == union
    default = holders_module.MARK_ABOVE
    holders_module.MARK_ABOVE = 0  # the sole holders told apart by a mark per patient
    try:
        assert h.of(np.array(asked, dtype=np.int64)) == union
    finally:
        holders_module.MARK_ABOVE = default
    assert h.as_dict() == {p: s for p, s in plain.items() if s}


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(holders_module).failed == 0
