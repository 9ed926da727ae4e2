"""The batch keeps its results out of the collector's full scans and restores the collector.

``plan_batch`` freezes what is alive at each step it reports (``routing.batch.long_lived``) and
unfreezes it at its end, also when it fails; it stands aside when the host froze objects itself
or disabled the collector, and when another batch of the process already manages it.
"""

from __future__ import annotations

import doctest
import gc
from collections.abc import Iterator

import pytest

from routing.batch import BatchProgress, long_lived, plan_batch
from routing.batch.long_lived import LongLived
from routing.examples import load_example
from routing.problem import Problem


@pytest.fixture(scope="module")
def example() -> Problem:
    return load_example()


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """Each test starts and ends with the collector on and nothing frozen."""
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


def _plan(problem: Problem, seen: list[int], fail_at: int | None = None) -> None:
    """Plan the example without its search, recording the frozen count at each report."""

    def progress(_: BatchProgress) -> None:
        seen.append(gc.get_freeze_count())
        if fail_at is not None and len(seen) == fail_at:
            raise RuntimeError("stop here")

    plan_batch(
        problem, seed=0, time_limit=30, max_iterations=0, polish_share=0.0, progress=progress
    )


def test_a_batch_freezes_as_it_goes_and_unfreezes_at_its_end(example: Problem) -> None:
    seen: list[int] = []
    _plan(example, seen)
    assert seen
    assert min(seen) > 0
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_a_failing_batch_unfreezes_too_and_the_next_one_manages_again(example: Problem) -> None:
    with pytest.raises(RuntimeError, match="stop here"):
        _plan(example, [], fail_at=3)
    assert gc.get_freeze_count() == 0
    seen: list[int] = []
    _plan(example, seen)
    assert min(seen) > 0


def test_a_batch_leaves_the_hosts_frozen_objects_alone(example: Problem) -> None:
    hosts = [object() for _ in range(10)]  # noqa: F841 (kept alive, frozen by the host)
    gc.freeze()
    frozen = gc.get_freeze_count()
    seen: list[int] = []
    _plan(example, seen)
    assert max(seen) <= frozen  # nothing of the batch's was frozen
    assert gc.get_freeze_count() > 0  # and the host's objects still are


def test_a_batch_leaves_a_disabled_collector_alone(example: Problem) -> None:
    gc.disable()
    seen: list[int] = []
    _plan(example, seen)
    assert max(seen) == 0
    assert not gc.isenabled()


def test_an_inner_context_stands_aside_for_the_outer_one() -> None:
    with LongLived() as outer:
        with LongLived() as inner:
            assert outer.active
            assert not inner.active
            inner.settle()
            assert gc.get_freeze_count() == 0  # the inner one froze nothing
            outer.settle()
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() > 0  # the inner one's end did not unfreeze the outer's
    assert gc.get_freeze_count() == 0


def test_the_modules_example_runs() -> None:
    failed, tried = doctest.testmod(long_lived)
    assert tried > 0
    assert failed == 0
