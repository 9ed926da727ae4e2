"""``EventIds``: the fold's set of applied event ids, shared between states yet immutable."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.lifecycle.seen import EventIds

IDS = st.sampled_from([f"e{i}" for i in range(12)])


@given(
    start=st.lists(IDS, unique=True, max_size=6),
    steps=st.lists(st.tuples(st.integers(min_value=0, max_value=20), IDS), max_size=30),
)
def test_views_behave_as_frozensets(start: list[str], steps: list[tuple[int, str]]) -> None:
    """Adding to any earlier view (the newest, a repeat of the same id, or a branch) gives the
    frozenset's answer, and no view already made ever changes."""
    views = [(EventIds(start), frozenset(start))]
    for pick, event_id in steps:
        view, model = views[pick % len(views)]
        if event_id in model:
            with pytest.raises(ValueError, match="already"):
                view.adding(event_id)
            continue
        views.append((view.adding(event_id), model | {event_id}))
        for made, expected in views:
            assert made == expected
            assert set(made) == expected
            assert len(made) == len(expected)
            assert all((i in made) == (i in expected) for i in (f"e{n}" for n in range(12)))
            assert hash(made) == hash(expected)


def test_order_pickling_and_repr() -> None:
    """Ids iterate in the order added; a pickled view keeps its ids; the repr shows no id."""
    ids = EventIds(["b", "a", "b"]).adding("c")
    assert list(ids) == ["b", "a", "c"]
    assert pickle.loads(pickle.dumps(ids)) == ids
    assert "a" not in repr(ids)
    assert 1 not in ids


def test_docstring_examples_run() -> None:
    """The Examples sections of lifecycle.seen and lifecycle.booking run as written."""
    import doctest

    from routing.lifecycle import booking, seen

    for module in (seen, booking):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0
