"""Exact branch-and-bound over the candidate slots of one request: the driver.

The search assigns stages one at a time, the one with the fewest candidates left first
(:mod:`~routing.solve.bnb.order`). After each assignment it propagates the lag links to a fixpoint
of bounds on every stage's start and end (:mod:`~routing.solve.bnb.propagation`), which removes
every candidate that no completion of the partial route could use. A node is pruned when its lower
bound on the lexicographic objective (:mod:`~routing.solve.bnb.bounds`) is not better than the
best route found. When the search ends without hitting a limit, the best route is proven optimal
(or, with none, the request infeasible).

Phases (:meth:`_Search.run`): a greedy first try (each stage's earliest fitting candidate,
:mod:`~routing.solve.bnb.polish`); then, unless that proves the earliest completion, the second
phase straight away with the completion capped at its lower bound (:meth:`_Search.optimistic`: a
route found there proves both); otherwise phase 1 (the earliest completion alone) and then phase 2
(:meth:`_Search.secondary_search`: visit days, travel and preferred facilities among the routes
that complete that early), which pauses once to improve its best route by whole days
(:mod:`~routing.solve.bnb.polish`). In phase 2 a stage's candidates are tried best bound first
(by visit class). The tree search itself is :meth:`_Search.dfs` (one node: choose a stage, order
its candidates, assign, propagate and bound each child in :meth:`_Search.expand`, recurse; in
start order, after a child fails, the rest of its day is skipped when no route books the stage
that day).

The parts, one module each under :mod:`routing.solve.bnb`, stacked as one class (each a subclass
of the one before, so the compiled build keeps its direct attribute access):

- :mod:`~routing.solve.bnb.state`: the search state, the same-day rules and the bookings;
- :mod:`~routing.solve.bnb.propagation`: the lag links to a fixpoint, forward checking;
- :mod:`~routing.solve.bnb.daymemo`: phase 2's memo of stages' sites and pair costs by day;
- :mod:`~routing.solve.bnb.travel`: the travel of days still to open or to join;
- :mod:`~routing.solve.bnb.bounds`: the lower bound on the objective at a node;
- :mod:`~routing.solve.bnb.rootbound`: phase 2's root bound, which ends the search when met;
- :mod:`~routing.solve.bnb.order`: which stage to branch on and in which order its candidates;
- :mod:`~routing.solve.bnb.polish`: the greedy first route and the descent by whole days.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Final

from routing.solve.bnb.common import (
    INF,
    JOINERS_EXACT,
    NO_KEY,
    Key,
    SearchLimits,
    SearchOutcome,
    VisitClass,
)
from routing.solve.bnb.polish import Polish
from routing.solve.compiled import CompiledRequest

__all__ = ["SearchLimits", "SearchOutcome", "search"]

RANK_LIMIT: Final = 400
"""Candidates of a stage up to which the secondary phase ranks them by their bound."""
RANK_NEAR_LEAVES: Final = 2
"""Stages nearest the leaves that the secondary phase does not rank (their bounds cost more
than the order saves)."""
OPTIMISTIC_NODES: Final = 2_000
"""Nodes the search may spend on phase 2 at the completion bound before any route is found."""
DESCENT_AFTER = 20
"""Phase-2 nodes after which the search pauses to improve its best route by whole days."""


class _Search(Polish):
    """The whole search: :class:`~routing.solve.bnb.polish.Polish` with its driver."""

    def run(self) -> SearchOutcome:
        k = self.k
        outcome = SearchOutcome()
        if any(not st.start for st in self.stages):
            empty = next(i for i, st in enumerate(self.stages) if not st.start)
            outcome.failure = (empty, "")
            outcome.proven = True
            return outcome
        inf = INF
        b = [[self.r] * k, [inf] * k, [self.r] * k, [inf] * k]
        failed = self.propagate(b)
        if failed >= 0:
            outcome.failure = (failed, self.culprit[failed])
            outcome.proven = True
            return outcome
        root = self.lower_key(b, inf)
        assert root is not None
        outcome.root_bound = (root[0], 0, 0, 0)
        root_bounds = [list(x) for x in b]
        # Phase 1: the earliest completion alone (ties pruned), which proves it. Often the
        # earliest candidates within the root bounds already form a route: then no search.
        self.completion_only = True
        finished = False
        if not self.earliest_route(b):
            # Usually some route completes at the bound: then one search of phase 2 under that
            # cap proves the completion and the other objectives at once.
            if self.limits.secondary:
                finished = self.optimistic(root_bounds, root[0], outcome)
            # A route completing at the bound proves the earliest completion; else phase 1.
            at_bound = self.best is not None and self.best_key[0] == root[0]
            if not at_bound and self.stopped == "":
                self.dfs(0, b)
        if finished:
            pass
        elif self.best is not None and self.stopped == "" and not self.limits.secondary:
            outcome.completion_only = True
            outcome.root_bound = (self.best_key[0], 0, 0, 0)
        elif self.best is not None and self.stopped == "":
            # Phase 2: the other objectives among the routes that complete that early.
            self.completion_only = False
            self.completion_proven = True
            completion = self.best_key[0]
            b = [list(x) for x in root_bounds]
            b[3] = [min(x, self.r + completion) for x in b[3]]
            if self.propagate(b) < 0:
                secondary = self.enter_phase2(b, completion)
                if secondary is not None and secondary < self.best_key:
                    outcome.root_bound = secondary
                    self.secondary_search(b, secondary)
                    outcome.root_bound = self.phase2_bound
                    if self.stopped == "proven":
                        self.stopped = ""
                else:
                    outcome.root_bound = self.best_key
        outcome.choice = self.best
        outcome.key = self.best_key if self.best is not None else None
        outcome.proven = self.stopped == "" and not outcome.completion_only
        outcome.limit_hit = self.stopped or None
        outcome.nodes = self.nodes
        return outcome

    def optimistic(self, root: list[list[int]], completion: int, outcome: SearchOutcome) -> bool:
        """Phase 2 straight away, capped at the completion bound; True if it ran to its end.

        A route found under the cap completes at the bound, so it is the earliest. With none
        (no route completes that early), or past :data:`OPTIMISTIC_NODES` nodes without one,
        the state is reset for phase 1. A route found but not proven best leaves phase 2 to
        run again from its root with it as the incumbent.
        """
        b = [list(x) for x in root]
        b[3] = [min(x, self.r + completion) for x in b[3]]
        if self.propagate(b) >= 0:
            return False
        # A route of the greedy first try completes later: put aside while looking under the cap.
        fallback = (self.best, self.best_key)
        self.completion_only = False
        self.completion_proven = True
        self.forget_best((completion, INF, INF, INF))
        secondary = self.enter_phase2(b, completion)
        self.node_budget = self.nodes + OPTIMISTIC_NODES
        if secondary is not None:
            self.secondary_search(b, secondary)
        self.node_budget = INF
        if self.stopped == "proven":
            self.stopped = ""
        budget_hit = self.stopped == "optimistic budget"
        if budget_hit:
            self.stopped = ""
        if self.best is None:
            self.completion_only = True
            self.completion_proven = False
            self.best, self.best_key = fallback
            self.enter_phase2(None, completion)
            return False
        if self.phase2_bound is not None:
            outcome.root_bound = min(self.phase2_bound, self.best_key)
        return not budget_hit

    def forget_best(self, key: Key) -> None:
        """Drop the best route; only routes better than ``key`` count from now on.

        (A method, not an assignment in the caller: a type checker would otherwise take the
        best route for ``None`` after the searches the caller runs next, and so would a build
        compiled from the annotations.)
        """
        self.best, self.best_key = None, key

    def enter_phase2(self, root: list[list[int]] | None, completion: int) -> Key | None:
        """Make ``root`` phase 2's root (``None``: leave phase 2) and return its bound.

        Everything derived from an earlier root (its tables, the additions computed from
        them) goes with it: a root with a later completion cap has more candidates.
        """
        self.phase2_root = None if root is None else [list(x) for x in root]
        self._tables, self._tables_done = None, False
        self._insertions.clear()
        self._pair_costs.clear()
        self.phase2_bound = self._chronological_pending = None
        if root is None:
            return None
        bound = self.lower_key(root, completion)
        if bound is not None:
            self.phase2_bound = bound
            self._chronological_pending = self.nodes
        return bound

    def secondary_search(self, b: list[list[int]], bound: Key) -> None:
        """Phase 2 from its root ``b`` (lower bound ``bound``).

        A depth-first search settles its first choices last: when the best route differs from
        the first one found near the root, it comes only after whole subtrees. So past
        :data:`DESCENT_AFTER` nodes, the search stops, improves its best route by re-searching
        whole visit days (:meth:`improve_by_days`), and starts again with that route to prune.
        """
        self.pause_at = self.nodes + DESCENT_AFTER
        self.dfs(0, b, bound)
        self.pause_at = INF
        if self.stopped != "pause":
            return
        self.stopped = ""
        self.improve_by_days()
        if self.stopped == "" and self.phase2_bound is not None:
            self.raise_day_by_day()  # if the better routes came too early for it
            if self.best_key <= self.phase2_bound:
                return  # the best route meets the root's bound: nothing can beat it
        if self.stopped == "":
            self.dfs(0, b, bound)

    def count_node(self, may_pause: bool = True) -> bool:
        """Count one more node; False (with the reason in ``stopped``) when a limit says stop."""
        self.nodes += 1
        if self.nodes >= self.limits.node_limit:
            self.stopped = "node limit"
        elif self.nodes >= self.node_budget:
            self.stopped = "optimistic budget"
        elif may_pause and self.nodes >= self.pause_at and self.best is not None:
            self.stopped = "pause"
        elif self.nodes & 15 == 0 and time.perf_counter() > self.deadline:
            self.stopped = "time limit"
        return self.stopped == ""

    def leaf(self) -> bool:
        """Evaluate the complete assignment as a node of its own; True if it is the new best
        route (the caller then runs :meth:`settle_best` once its node's leaves are done)."""
        if not self.count_node(may_pause=False):
            return False
        key = self.full_key()
        if key is None or key >= self.best_key:
            return False
        self.best_key = key
        self.best = list(self.assigned)
        if self.phase2_bound is not None and key <= self.phase2_bound:
            self.stopped = "proven"  # meets the root's bound: nothing can beat it
        return True

    def settle_best(self) -> None:
        """After a better route: sharpen phase 2's root bound against it (once for all the leaves
        of a node), and stop if the route meets it."""
        if self.phase2_bound is not None:
            self.sharpen_root_bound()
            if self.best_key <= self.phase2_bound:
                self.stopped = "proven"

    def expand(
        self,
        depth: int,
        b: list[list[int]],
        i: int,
        c: int,
        cap: int,
        visit_class: VisitClass | None,
        hopeless: set[VisitClass],
        promising: set[VisitClass],
    ) -> bool:
        """Search the child of node ``b`` at ``depth`` in which candidate ``c`` of stage ``i`` is
        booked (the caller books it), completing no later than ``cap``: pruned by its bound
        before propagation where that suffices, else propagated, bounded and searched. True if
        the propagation failed (no route books the candidate there).

        ``hopeless`` and ``promising`` are the node's visit classes (:meth:`dfs`); the child's
        ``visit_class`` joins one of them when its bound before propagation is taken.
        """
        st = self.stages[i]
        s, e = st.start[c], st.end[c]
        # Only routes that complete no later than the best one can still beat it.
        child, touched = self.capped_copy(b, i, cap)
        child[0][i] = child[1][i] = s
        child[2][i] = child[3][i] = e
        if self.completion_proven and visit_class not in promising:
            # The bound over the parent's domains is valid for the child too (they only
            # shrink): often enough to skip the propagation.
            early = self.lower_key(child, self.best_key[0])
            if early is None or early >= self.best_key:
                if visit_class is not None:
                    hopeless.add(visit_class)
                return False
            if visit_class is not None:
                promising.add(visit_class)
        visit_day = st.day[c] if st.in_person else None
        if self.propagate(child, touched, visit_day) >= 0:
            return True
        bound = self.lower_key(child, self.best_key[0])
        if bound is not None and bound < self.best_key:
            self.dfs(depth + 1, child, bound)
        return False

    def dfs(self, depth: int, b: list[list[int]], bound: Key | None = None) -> None:
        """Explore the node ``b`` (its lower bound ``bound``, where known) at ``depth``."""
        if not self.count_node():
            return
        if depth == self.k:  # a route given whole (every stage fixed)
            if self.leaf():
                self.settle_best()
            return
        lo_s, hi_s, lo_e, hi_e = b
        i = self.choose_stage(b)
        st = self.stages[i]
        starts, ends = st.start, st.end
        previous: tuple[int, int, int] | None = None
        best_key = self.best_key
        have_best = best_key != NO_KEY
        strict = 1 if self.completion_only else 0
        cap = self.r + best_key[0] - strict if have_best else INF
        node_completion = max(lo_e)
        in_start_order = not (have_best and st.in_person and self.completion_proven)
        # Ranking pays where the order matters (far from the leaves) and is cheap (a few hundred
        # candidates at most).
        rank = (
            depth < self.k - RANK_NEAR_LEAVES
            and bisect_right(starts, hi_s[i]) - bisect_left(starts, lo_s[i]) <= RANK_LIMIT
            # Where the times belong to the class, every candidate is a class of its own.
            and self.open_in_person - 1 > JOINERS_EXACT
        )
        last = depth == self.k - 1
        improved = False
        """A leaf of this node is the new best route (:meth:`settle_best` is due)."""
        hopeless: set[VisitClass] = set()
        """Visit classes whose children cannot beat the best route (the best only improves)."""
        promising: set[VisitClass] = set()
        """Visit classes whose unpropagated bound beats the best route (until it improves)."""
        dead_day = checked_day = -1
        """In start order, a day on which no route of this node books stage ``i`` (its
        candidates are skipped; only ever set in start order), and the last day tested for
        that after a child failed."""
        order: Iterable[int] = (
            range(bisect_left(starts, lo_s[i]), bisect_right(starts, hi_s[i]))
            if in_start_order
            else self.ranked(i, b, cap, bound, hopeless, promising)
            if rank
            else self.cheapest_first(i, lo_s[i], hi_s[i])
        )
        for c_now in order:
            s, e = starts[c_now], ends[c_now]
            if s > cap:
                if in_start_order:
                    break
                continue
            if not lo_e[i] <= e <= hi_e[i]:
                continue
            if st.day[c_now] == dead_day:
                continue
            # In-person candidates at the same times and facility are interchangeable: no other
            # in-person stage can take the sibling slot at that time, so one of them suffices.
            signature = (s, e, st.facility[c_now]) if st.in_person else None
            if signature is not None and signature == previous:
                continue
            visit_class: VisitClass | None = None
            if have_best:
                # The bound of the child before any propagation: cheap, and often enough.
                completion = max(node_completion, e) - self.r
                if completion > best_key[0] or (self.completion_only and completion == best_key[0]):
                    continue
                if self.completion_proven:
                    # Until the propagation, a child's bound depends on the candidate only
                    # through its completion, day, facility and place among that day's visits.
                    visit_class = self.visit_class(i, c_now, completion)
                    if visit_class in hopeless:
                        continue
                if completion == best_key[0]:
                    if self.metric:
                        partial = (completion, *self.with_visit(i, c_now))
                    else:
                        days, _, non_pref = self.with_visit(i, c_now)
                        partial = (completion, days, 0, non_pref)
                    if partial >= best_key:
                        if visit_class is not None:
                            hopeless.add(visit_class)
                        continue
            if not self.compatible(i, c_now):
                continue
            previous = signature
            self.assign(i, c_now)
            failed = False
            if last:
                # Every other stage is booked: the child is a complete route.
                improved = self.leaf() or improved
            else:
                failed = self.expand(depth, b, i, c_now, cap, visit_class, hopeless, promising)
            self.unassign(i, c_now)
            if failed and in_start_order and st.day[c_now] != checked_day:
                # If the stage cannot be booked that day at all, its other candidates of the day
                # fail too (they follow one another). Tested once a day, and only where it can
                # spare two or more children.
                day = checked_day = st.day[c_now]
                later = bisect_left(starts, self.axis.first_minute(day + 1), c_now)
                if later - c_now > 2 and self.day_fails(i, day, b, cap):
                    dead_day = day
            if self.stopped != "":
                break
            if self.best_key < best_key:
                have_best = True
                best_key = self.best_key
                cap = self.r + best_key[0] - strict
                promising.clear()
                if self.completion_proven and not last:
                    # A better route: the rest of this node may no longer be worth exploring.
                    bound = self.lower_key(b, best_key[0])
                    if bound is None or bound >= best_key:
                        break
        if improved:
            self.settle_best()


def search(cr: CompiledRequest, limits: SearchLimits | None = None) -> SearchOutcome:
    """Find the lexicographically best route of a compiled request (see the module docstring)."""
    return _Search(cr, limits or SearchLimits()).run()
