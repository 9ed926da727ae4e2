"""Batch planning measured in work (``work_limit``): the same bytes whatever the machine's speed,
also when the limit binds and the exact model runs, with one worker or two."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from routing.batch import BatchProgress, plan_batch
from routing.batch.report import plan_document
from routing.cli import main
from routing.examples import load_example


def _plan(work_limit: int, workers: int, *, slow: bool, exact: int) -> tuple[str, str]:
    """The plan document and the stop reason; ``slow`` makes this run's wall clock crawl (a
    pause at every progress report), as a loaded machine would."""

    def crawl(_: BatchProgress) -> None:
        if slow:
            time.sleep(0.002)

    result = plan_batch(
        load_example("contended_spb"),
        seed=3,
        time_limit=600,
        workers=workers,
        progress=crawl,
        work_limit=work_limit,
        exact_max_patients=exact,
    )
    return json.dumps(plan_document(result), sort_keys=True), result.stop_reason


@pytest.mark.parametrize(("workers", "exact"), [(1, 0), (2, 8)])
def test_the_work_limit_binds_and_the_plan_is_the_same_bytes(workers: int, exact: int) -> None:
    """A work limit that stops the search: a fast and a slow run give identical plans."""
    fast, reason = _plan(400, workers, slow=False, exact=exact)
    slow, again = _plan(400, workers, slow=True, exact=exact)
    assert reason == again == "work limit"
    assert fast == slow


def test_more_work_is_never_worse() -> None:
    """A larger work limit reaches an objective at least as good (the search only improves)."""
    small = json.loads(_plan(200, 1, slow=False, exact=0)[0])["objective"]
    large = json.loads(_plan(800, 1, slow=False, exact=0)[0])["objective"]
    key = ("unplanned", "deadline_cost", "weighted_minutes")
    assert tuple(large[k] for k in key) <= tuple(small[k] for k in key)


def test_routing_batch_work_limit_writes_the_same_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``routing batch --work-limit``: two runs write the same plan.json; a limit below one is
    bad input, and so is a negative ``--staged-iterations`` (nothing written)."""
    files = []
    for n in range(2):
        out = tmp_path / f"run{n}"
        argv = ["batch", "--example", "-o", str(out), "--work-limit", "300", "--seed", "1", "-q"]
        assert main(argv) == 0, capsys.readouterr().err
        files.append((out / "plan.json").read_bytes())
    assert files[0] == files[1]
    assert main(["batch", "--example", "-o", str(tmp_path / "x"), "--work-limit", "0"]) == 2
    assert "--work-limit" in capsys.readouterr().err
    staged = ["--staged-iterations", "-1"]
    assert main(["batch", "--example", "-o", str(tmp_path / "y"), *staged]) == 2
    assert "--staged-iterations must be at least 0" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
