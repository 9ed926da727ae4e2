"""The large-neighbourhood search in two processes at once, deterministically.

The batch search (:mod:`routing.batch.engine`, step 7) is a sequence of iterations, each
re-planning a few patients and kept when the cost of those patients is no worse. On a machine
with two cores, :func:`search_in_pairs` runs it in **epochs**: at the start of each, a forked
helper process and this one hold the same plan; each runs :data:`EPOCH_ITERATIONS` iterations
from it, seeded by ``(seed, epoch, process)``; then the helper's kept iterations are merged into
this process's plan:

* the helper's re-planned patients are grouped into **moves**: patients re-planned together in
  one of its kept iterations, directly or through others, form one move (a union-find over its
  iterations), with each patient's last route;
* a move is taken, in the order of its smallest patient, when none of its patients was
  re-planned here in the same epoch and its routes fit the slots left (checked one route after
  another); its cost is then no worse than before (each of its iterations was, and a patient's
  cost depends on its own route alone), so the plan never gets worse;
* moves not taken are dropped; at the next epoch's start the helper is given the routes of every
  patient whose route differs from its own (those re-planned here, those of the moves dropped),
  so both processes start the epoch from the same plan again;
* when a sweep is due (:meth:`~routing.batch.engine._Engine.sweep_when_due`, counted in
  iterations), this process runs it between two epochs, and the routes it replaced go to the
  helper at the next epoch's start with the others.

Everything an epoch does depends on the plan at its start, the seed and the epoch number, so the
same input, seed and process count give the same plan as long as the stops are counted (the
iteration limit or the work limit of :func:`~routing.batch.plan_batch`; both are checked between
epochs, the helper's iterations and single-route searches counted in). The wall clock is checked
between iterations, as in one process.

The helper is forked (its copy of the cohort, the plan and the caches costs no pickling); where
processes cannot fork (not Linux/macOS' ``fork`` start method, or inside a daemonic process such
as a Dask worker), :func:`can_pair` is false and the engine searches in one process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import random
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Protocol

from networkx.utils import UnionFind

from routing.batch.cohort import Cohort
from routing.batch.fcfs import Assignment
from routing.batch.holders import SlotHolders
from routing.batch.objective import Cost, total_cost
from routing.batch.worse_off import WorseOff
from routing.result import RouteResult

__all__ = ["EPOCH_ITERATIONS", "SearchState", "can_pair", "search_in_pairs"]

logger = logging.getLogger(__name__)

EPOCH_ITERATIONS = 40
"""Iterations each process runs between two merges."""

Move = dict[int, RouteResult | None]
"""Patients re-planned together, and their routes."""


@dataclass(slots=True)
class SearchState:
    """The search's bookkeeping over its plan (kept in step by the engine).

    Attributes
    ----------
    costs
        Each patient's cost in the plan.
    holders
        Slot position → the patients whose routes take a place in it.
    lower
        Each patient's cost bound (below any route's cost).
    worse
        The patients worse off than alone (the search's picks).
    best
        The plan's objective.
    """

    costs: list[Cost]
    holders: SlotHolders
    lower: list[Cost]
    worse: WorseOff
    best: Cost


class PairedEngine(Protocol):
    """What :func:`search_in_pairs` needs of the batch engine."""

    cohort: Cohort
    rng: random.Random
    seed: int
    iterations: int
    improvements: int

    def iterate(self, plan: Assignment, state: SearchState) -> list[int] | None: ...

    def set_routes(
        self, plan: Assignment, state: SearchState, routes: Mapping[int, RouteResult | None]
    ) -> None: ...

    def sweep_when_due(self, plan: Assignment, state: SearchState) -> list[int]: ...

    def stop_reason(self, state: SearchState, max_iterations: int | None, bound: Cost) -> str: ...

    def search_end(self) -> float: ...

    def report(self, phase: str, done: int, total: int, best: Cost | None) -> None: ...


def can_pair() -> bool:
    """Whether this process may fork a helper (the ``fork`` start method, not a daemon)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    return not multiprocessing.current_process().daemon


def epoch_rng(seed: int, epoch: int, process: int) -> random.Random:
    """The generator of one process in one epoch (a string seed: the same on every run)."""
    return random.Random(f"paired search {seed} {epoch} {process}")


@dataclass(frozen=True, slots=True)
class _EpochDone:
    """What the helper sends back after an epoch."""

    moves: list[Move]
    iterations: int
    searches: int


def _run_epoch(
    engine: PairedEngine,
    plan: Assignment,
    state: SearchState,
    iterations: int,
    end: float,
) -> list[list[int]]:
    """Up to ``iterations`` iterations (fewer when no patient is worse off or the clock says
    so); the patients of each kept iteration."""
    kept: list[list[int]] = []
    for _ in range(iterations):
        if not state.worse.members or time.perf_counter() >= end:
            break
        destroyed = engine.iterate(plan, state)
        if destroyed is not None:
            kept.append(destroyed)
    return kept


def _moves(plan: Assignment, kept: list[list[int]]) -> list[Move]:
    """The kept iterations as moves (patients re-planned together, with their last routes), in
    the order of their smallest patient."""
    groups = UnionFind()
    for destroyed in kept:
        groups.union(*destroyed)
    parts = sorted(sorted(part) for part in groups.to_sets())
    return [{i: plan.results[i] for i in part} for part in parts]


def _helper(
    engine: PairedEngine, plan: Assignment, state: SearchState, connection: Connection
) -> None:
    """The forked process: an epoch per message until ``None``."""
    try:
        while (message := connection.recv()) is not None:
            routes, epoch, iterations, end = message
            engine.set_routes(plan, state, routes)
            engine.rng = epoch_rng(engine.seed, epoch, 1)
            began = (engine.iterations, engine.cohort.searches[0])
            kept = _run_epoch(engine, plan, state, iterations, end)
            connection.send(
                _EpochDone(
                    _moves(plan, kept),
                    engine.iterations - began[0],
                    engine.cohort.searches[0] - began[1],
                )
            )
    except BaseException:  # reported to the parent, which goes on alone
        with contextlib.suppress(OSError):  # unless the parent is gone
            connection.send(traceback.format_exc())
    finally:
        connection.close()


def _take(engine: PairedEngine, plan: Assignment, state: SearchState, move: Move) -> str:
    """Give the move's patients its routes when they fit the slots left
    (:meth:`Assignment.fits`) and cost no more; ``"better"`` or ``"taken"`` (no worse), else
    ``"dropped"``."""
    before = total_cost(state.costs[i] for i in move)
    after = total_cost(engine.cohort.cost(i, r) for i, r in move.items())
    if after > before or not plan.fits(move):
        return "dropped"
    engine.set_routes(plan, state, move)
    return "better" if after < before else "taken"


def search_in_pairs(
    engine: PairedEngine,
    plan: Assignment,
    state: SearchState,
    max_iterations: int | None,
    bound: Cost,
) -> str:
    """The search in epochs over two processes (see the module); the reason it stopped.

    Changes ``plan``, ``state`` and the engine's counters as the one-process search does.
    """
    context = multiprocessing.get_context("fork")
    mine, theirs = context.Pipe()
    helper = context.Process(
        target=_helper, args=(engine, plan, state, theirs), name="paired search", daemon=True
    )
    helper.start()
    theirs.close()
    epoch = 0
    alone = False  # the helper failed: the rest in this process
    stale: Move = {}  # routes the helper must take before its next epoch
    taken = dropped = 0
    try:
        while True:
            reason = engine.stop_reason(state, max_iterations, bound)
            if reason:
                return reason
            epoch += 1
            total = 2 * EPOCH_ITERATIONS
            if max_iterations is not None:
                total = min(total, max_iterations - engine.iterations)
            share = total if alone else (total + 1) // 2
            end = engine.search_end()
            paired = total - share > 0
            if paired:
                try:
                    mine.send((stale, epoch, total - share, end))
                    stale = {}
                except OSError as exc:  # the helper is gone
                    logger.warning("the paired search's helper is gone (%s); going on alone", exc)
                    alone, paired, share = True, False, total
            engine.rng = epoch_rng(engine.seed, epoch, 0)
            changed = {i for kept in _run_epoch(engine, plan, state, share, end) for i in kept}
            if paired:
                try:
                    done: _EpochDone | str = mine.recv()
                except EOFError:  # the helper died without a word
                    done = "the helper process ended"
                if isinstance(done, str):
                    logger.warning("the paired search's helper failed; going on alone:\n%s", done)
                    alone = True
                else:
                    engine.iterations += done.iterations
                    engine.cohort.searches[0] += done.searches
                    for move in done.moves:
                        free = changed.isdisjoint(move)
                        outcome = _take(engine, plan, state, move) if free else "dropped"
                        if outcome in ("better", "taken"):
                            taken += 1
                            engine.improvements += outcome == "better"
                        else:
                            dropped += 1
                            stale.update({i: plan.results[i] for i in move})
            changed.update(engine.sweep_when_due(plan, state))
            stale.update({i: plan.results[i] for i in changed})
            engine.report("search", engine.iterations, max_iterations or 0, state.best)
    finally:
        logger.info("paired search: %d epochs, %d moves taken, %d dropped", epoch, taken, dropped)
        if helper.is_alive():
            with contextlib.suppress(OSError):  # the helper may be gone already
                mine.send(None)
            helper.join(timeout=5)
            if helper.is_alive():
                helper.kill()
                helper.join()
        mine.close()
