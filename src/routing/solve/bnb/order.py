"""Branching: which stage to assign next, and in which order to try its candidates.

:meth:`Ordering.choose_stage` picks the open stage with the fewest candidates left within its
bounds. In phase 1 candidates go earliest first; in phase 2, once the completion is proven,
cheapest first by facility group (:meth:`Ordering.cheapest_first`), and for stages far enough
from the leaves best bound first: candidates are grouped by visit class
(:meth:`Ordering.visit_class`: what the candidate does to the visit days, travel and preferred
count) and the classes ranked by the lower bound of the child (:meth:`Ordering.ranked`), at most
:data:`RANK_CLASSES` per node.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Final

from routing.solve.bnb.common import INF, JOINERS_EXACT, Key, VisitClass
from routing.solve.bnb.rootbound import RootBounds

__all__ = ["Ordering"]

RANK_CLASSES: Final = 40
"""Visit classes ranked at most per node; the rest follow in cheapest-first order."""


class Ordering(RootBounds):
    """:class:`~routing.solve.bnb.rootbound.RootBounds` with the branching order."""

    def choose_stage(self, b: list[list[int]]) -> int:
        """The open stage with the fewest candidates left (fail first), then the earliest."""
        best = -1
        best_key: tuple[int, int, int] = (INF, INF, INF)
        lo_s, hi_s = b[0], b[1]
        for i, c in enumerate(self.assigned):
            if c >= 0:
                continue
            starts = self.stages[i].start
            size = bisect_right(starts, hi_s[i]) - bisect_left(starts, lo_s[i])
            key = (size, lo_s[i], i)
            if key < best_key:
                best, best_key = i, key
        return best

    def visit_class(self, i: int, c: int, completion: int) -> VisitClass:
        """``(completion, day, facility, place among the day's visits, start, end)`` of
        candidate ``c``; start and end only where the bound depends on them, else -1.

        Candidates of one class change the visit days, travel, preferences and same-day room in
        the same way (remote ones: none at all), so the unpropagated bound of their children is
        the same. With at most :data:`JOINERS_EXACT` in-person stages left open after it, the
        bound also sees which of their candidates fit around the day's visits: then the times
        belong to the class.
        """
        st = self.stages[i]
        if not st.in_person:
            return (completion, -1, -1, -1, -1, -1)
        day = st.day[c]
        visits = self.day_visits.get(day)
        start, end, facility = st.start[c], st.end[c], st.facility[c]
        place = bisect_left(visits, (start, end, facility)) if visits else 0
        if self.open_in_person - 1 <= JOINERS_EXACT:
            return (completion, day, facility, place, start, end)
        return (completion, day, facility, place, -1, -1)

    def cheapest_first(self, i: int, lo: int, hi: int) -> Iterator[int]:
        """Candidates of in-person stage ``i`` starting in ``[lo, hi]``, for the secondary
        objectives once the completion is proven: first those on days already visited, then
        those opening a new day, by facility from the least travel and preference cost, until
        that cost alone reaches the best route's (the later ones cost at least as much).
        """
        st = self.stages[i]
        starts = st.start
        axis = self.axis
        used = sorted(self.day_visits)
        for day in used:
            first = bisect_left(starts, max(lo, axis.first_minute(day)))
            last = bisect_right(starts, min(hi, axis.last_minute(day)))
            yield from range(first, last)
        days = len(used) + 1
        used_set = self.day_visits
        # Travel so far bounds the final travel only when travel times are a metric.
        travel = self.travel_total if self.metric else 0
        # Candidates are in start order: those starting in [lo, hi] are the indices a .. z - 1.
        a, z = bisect_left(starts, lo), bisect_right(starts, hi)
        for alone, outside, _, rows, offset in self.groups(i):
            if (days, travel + alone, self.non_preferred + outside) >= self.best_key[1:]:
                return
            first = bisect_left(rows, a + offset)
            last = bisect_left(rows, z + offset)
            for n in range(first, last):
                c = rows[n] - offset
                if st.day[c] not in used_set:
                    yield c

    def ranked(
        self,
        i: int,
        b: list[list[int]],
        cap: int,
        node_bound: Key | None,
        hopeless: set[VisitClass],
        promising: set[VisitClass],
    ) -> Iterator[int]:
        """Candidates of in-person stage ``i`` (from :meth:`cheapest_first`), best bound first.

        The unpropagated bound of a child depends only on the candidate's visit class
        (:meth:`visit_class`): it is computed once per class, the classes that cannot beat the
        best route go to ``hopeless`` and the others to ``promising``. The candidates of the
        promising classes come back ordered by that bound, then by start. A class whose bound
        already equals ``node_bound`` (no child can do better) comes back at once, before the
        other classes' bounds are computed: a route it leads to may close the node.
        """
        st = self.stages[i]
        lo_s, hi_s, lo_e, hi_e = b
        node_completion = max(lo_e)
        classes: dict[VisitClass, list[int]] = {}
        rest: list[int] = []
        for c in self.cheapest_first(i, lo_s[i], hi_s[i]):
            s, e = st.start[c], st.end[c]
            if s > cap or not lo_e[i] <= e <= hi_e[i]:
                continue
            visit_class = self.visit_class(i, c, max(node_completion, e) - self.r)
            if visit_class in hopeless:
                continue
            members = classes.get(visit_class)
            if members is not None:
                members.append(c)
            elif len(classes) >= RANK_CLASSES:
                rest.append(c)  # past the ranked classes: in cheapest-first order, lazily
            else:
                classes[visit_class] = [c]
        # What is booked so far with each visit: a bound too, much cheaper, and the order in
        # which the classes' bounds are computed.
        partials: list[tuple[Key, int, VisitClass]] = []
        for n, (visit_class, members) in enumerate(classes.items()):
            days, travel, non_pref = self.with_visit(i, members[0])
            partial = (visit_class[0], days, travel if self.metric else 0, non_pref)
            if partial >= self.best_key:
                hopeless.add(visit_class)
            else:
                partials.append((partial, n, visit_class))
        partials.sort()
        child = [list(lo_s), list(hi_s), list(lo_e), [min(x, cap) for x in hi_e]]
        kept: list[tuple[Key, VisitClass]] = []
        for partial, _, visit_class in partials:
            if visit_class in hopeless or partial >= self.best_key:
                continue
            members = classes[visit_class]
            c = members[0]
            s, e = st.start[c], st.end[c]
            child[0][i] = child[1][i] = s
            child[2][i] = child[3][i] = e
            self.assign(i, c)
            found = self.lower_key(child, self.best_key[0])
            self.unassign(i, c)
            if found is None or found >= self.best_key:
                hopeless.add(visit_class)
                continue
            promising.add(visit_class)
            if node_bound is not None and found <= node_bound:
                yield from sorted(members, key=st.start.__getitem__)
            else:
                kept.append((found, visit_class))
        kept.sort()
        for _, visit_class in kept:
            yield from sorted(classes[visit_class], key=st.start.__getitem__)
        yield from rest
