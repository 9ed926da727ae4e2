"""The visit-day memo of phase 2: each stage's sites by day, and the pair costs of two stages.

At phase 2's root (:meth:`DayMemo.share_costs`, computed once) each in-person stage's candidates
are grouped by day and facility (:meth:`DayMemo._day_sites`: its earliest end and latest start
there), and each pair of stages that may share a day gets, per day, the least travel of a day
holding both (:meth:`DayMemo._pair_day`), plus a table of the least pair costs overall and at
preferred facilities. The travel and visit-day bounds (:mod:`~routing.solve.bnb.travel`,
:mod:`~routing.solve.bnb.bounds`) read these tables at every node. Large groups are computed with
numpy arrays, small ones with plain loops (:data:`VECTOR_SIZE`); both give the same tables.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import combinations

import numpy as np

from nosology.pathway import LagUnit
from routing.solve.bnb.common import INF, CostTable, IntArray, Sites
from routing.solve.bnb.propagation import Propagation
from routing.solve.links import REFERRAL_STAGE

__all__ = ["DayMemo"]

VECTOR_SIZE = 600
"""Candidates of a stage, or facility pairs of two stages on a day, from which their grouping
and pair costs are computed with numpy arrays (below, plain loops are faster)."""


class DayMemo(Propagation):
    """:class:`~routing.solve.bnb.propagation.Propagation` with phase 2's memo by day."""

    def tables(self) -> tuple[CostTable, CostTable] | None:
        """:meth:`share_costs` at the root of phase 2, computed on first use."""
        if not self._tables_done and self.phase2_root is not None:
            self._tables = self.share_costs(self.phase2_root)
            self._tables_done = True
        return self._tables

    def share_costs(self, b: list[list[int]]) -> tuple[CostTable, CostTable] | None:
        """Least travel of a day holding two in-person stages, over their candidates in ``b``.

        A day holds ``i`` and ``j`` when, on a day both have candidates, one can end and the
        patient travel to the other before it starts (in the order the rules impose, if any); it
        then costs at least home -> first -> second -> home. ``table[i][j]`` is ``None`` for a
        pair that can never share a day. The second table is the same with stage ``i`` at a
        preferred facility. ``None`` unless the travel bounds apply (metric travel, home known)
        and the patient comes more than once a day. Computed once for the secondary phase:
        domains only shrink below it.
        """
        home = self.home
        if not (self.metric and home is not None) or self.max_visits < 2:
            return None
        before = self.cr.precedes
        self.pair_days = {}
        self.preferred_pair_days = {}
        sites = {i: self._day_sites(i, b) for i, st in enumerate(self.stages) if st.in_person}
        self.sites = sites
        self.day_legs = {
            i: {d: 2 * min(home[f] for f, _, _ in here) for d, here in by_day.items()}
            for i, by_day in sites.items()
        }
        apart = {
            (link.x_stage, link.y_stage)
            for link in self.links
            if link.unit in (LagUnit.CALENDAR_DAYS, LagUnit.WORKING_DAYS)
            and link.min is not None
            and link.min >= 1
            and link.y_point == 0
            and link.x_stage != REFERRAL_STAGE
        }
        sharing = sorted(i for i in sites if self.stages[i].shares_day and sites[i])
        index = self.cr.index
        preferred = [False] * len(index.facilities)
        for f_id in self.cr.request.patient.preferred_facilities:
            position = index.facility_position.get(f_id)
            if position is not None:
                preferred[position] = True
        self.preferred_facility = preferred
        self.home_array = np.asarray(home, dtype=np.int64)
        self.preferred_array = np.asarray(preferred, dtype=np.bool_)
        table: CostTable = [[None] * self.k for _ in range(self.k)]
        at_preferred: CostTable = [[None] * self.k for _ in range(self.k)]
        if len(sharing) < 2:
            return table, at_preferred
        first_day = min(d for i in sharing for d in sites[i])
        span = max(d for i in sharing for d in sites[i]) - first_day + 1
        with_preferences = self.has_preferences and any(preferred)
        for i, j in combinations(sharing, 2):
            if (i, j) in apart or (j, i) in apart:
                continue
            i_first, j_first = not before[j][i], not before[i][j]
            by_day = [INF] * span
            i_there_by_day = [INF] * span if with_preferences else []
            j_there_by_day = [INF] * span if with_preferences else []
            least = least_i_there = least_j_there = INF
            for d, here_i in sites[i].items():
                here_j = sites[j].get(d)
                if here_j is None:
                    continue
                day_least, i_there, j_there = self._pair_day(
                    here_i, here_j, i_first, j_first, with_preferences
                )
                least_i_there = min(least_i_there, i_there)
                least_j_there = min(least_j_there, j_there)
                by_day[d - first_day] = day_least
                if with_preferences:
                    i_there_by_day[d - first_day] = i_there
                    j_there_by_day[d - first_day] = j_there
                least = min(least, day_least)
            self.pair_days[(i, j)] = self.pair_days[(j, i)] = (first_day, by_day)
            if with_preferences:
                self.preferred_pair_days[(i, j)] = (first_day, i_there_by_day)
                self.preferred_pair_days[(j, i)] = (first_day, j_there_by_day)
            if least >= INF:
                continue
            table[i][j] = table[j][i] = least
            if least_i_there < INF:
                at_preferred[i][j] = least_i_there
            if least_j_there < INF:
                at_preferred[j][i] = least_j_there
        return table, at_preferred

    def _pair_day(
        self, here_i: Sites, here_j: Sites, i_first: bool, j_first: bool, preferences: bool
    ) -> tuple[int, int, int]:
        """Least travel of a day holding two stages at their sites ``here_i`` and ``here_j``
        (home -> first -> second -> home, with time to travel between them; ``i_first``,
        ``j_first``: the orders the rules allow), and the same with the first or the second
        stage at a preferred facility (``preferences``); ``INF`` where there is none."""
        if len(here_i) * len(here_j) >= VECTOR_SIZE:
            return self._pair_day_vector(here_i, here_j, i_first, j_first, preferences)
        home = self.home
        assert home is not None
        travel, preferred = self.travel, self.preferred_facility
        least = i_there = j_there = INF
        # Comparisons, not min(): this loop runs for every pair of sites of every day.
        for fa, end_a, start_a in here_i:
            home_a, out_a = home[fa], travel[fa]
            at_a = preferences and preferred[fa]
            for fb, end_b, start_b in here_j:
                cost = INF
                if i_first:
                    trip = out_a[fb]
                    if end_a + trip <= start_b:
                        cost = home_a + trip + home[fb]
                if j_first:
                    trip = travel[fb][fa]
                    if end_b + trip <= start_a:
                        back = home[fb] + trip + home_a
                        if back < cost:
                            cost = back
                if cost >= INF:
                    continue
                if cost < least:
                    least = cost
                if preferences:
                    if at_a and cost < i_there:
                        i_there = cost
                    if preferred[fb] and cost < j_there:
                        j_there = cost
        return least, i_there, j_there

    def _pair_day_vector(
        self, here_i: Sites, here_j: Sites, i_first: bool, j_first: bool, preferences: bool
    ) -> tuple[int, int, int]:
        """:meth:`_pair_day` with numpy arrays over the pairs of sites."""
        home = self.home_array
        legs = self.cr.index.travel_minutes
        fa, end_a, start_a = (np.asarray(x, dtype=np.int64) for x in zip(*here_i, strict=True))
        fb, end_b, start_b = (np.asarray(x, dtype=np.int64) for x in zip(*here_j, strict=True))
        out = legs[np.ix_(fa, fb)]  # [a, b]: from i's facility a to j's facility b
        back = legs[np.ix_(fb, fa)].T  # [a, b]: from j's facility b to i's facility a
        never = INF
        cost = np.full(out.shape, never, dtype=np.int64)
        if i_first:
            trip = home[fa][:, None] + out + home[fb][None, :]
            cost = np.where(end_a[:, None] + out <= start_b[None, :], trip, cost)
        if j_first:
            trip_back = home[fb][None, :] + back + home[fa][:, None]
            fits = end_b[None, :] + back <= start_a[:, None]
            cost = np.minimum(cost, np.where(fits, trip_back, never))
        least = int(cost.min())
        i_there = j_there = never
        if preferences:
            at_a, at_b = self.preferred_array[fa], self.preferred_array[fb]
            if at_a.any():
                i_there = int(cost[at_a, :].min())
            if at_b.any():
                j_there = int(cost[:, at_b].min())
        return least, i_there, j_there

    def _day_sites(self, i: int, b: list[list[int]]) -> dict[int, Sites]:
        """Per day, stage ``i``'s facilities with candidates in ``b``, their earliest end and
        latest start (:data:`Sites`)."""
        st = self.stages[i]
        starts, ends, days, facilities = st.start, st.end, st.day, st.facility
        lo_e, hi_e = b[2][i], b[3][i]
        a, z = bisect_left(starts, b[0][i]), bisect_right(starts, b[1][i])
        if z - a >= VECTOR_SIZE:
            return self._day_sites_vector(i, a, z, lo_e, hi_e)
        by_day: dict[int, dict[int, list[int]]] = {}
        for c in range(a, z):
            e = ends[c]
            if e < lo_e or e > hi_e:
                continue
            d, f, s = days[c], facilities[c], starts[c]
            day = by_day.get(d)
            if day is None:
                day = by_day[d] = {}
            site = day.get(f)
            if site is None:
                day[f] = [e, s]
            else:
                site[0] = min(site[0], e)
                site[1] = max(site[1], s)
        return {
            d: [(f, site[0], site[1]) for f, site in sorted(day.items())]
            for d, day in by_day.items()
        }

    def _day_sites_vector(self, i: int, a: int, z: int, lo_e: int, hi_e: int) -> dict[int, Sites]:
        """:meth:`_day_sites` of candidates ``a .. z - 1`` of stage ``i``, with numpy."""
        all_starts, all_ends, all_days, all_facilities = self.arrays(i)
        ends = all_ends[a:z]
        keep = (ends >= lo_e) & (ends <= hi_e)
        days, facilities = all_days[a:z][keep], all_facilities[a:z][keep]
        starts, ends = all_starts[a:z][keep], ends[keep]
        if not len(days):
            return {}
        # Candidates come by start, so by day: sort by facility within each day.
        order = np.argsort(days * (1 + int(facilities.max())) + facilities, kind="stable")
        days, facilities = days[order], facilities[order]
        starts, ends = starts[order], ends[order]
        change = np.ones(len(days), dtype=np.bool_)
        change[1:] = (days[1:] != days[:-1]) | (facilities[1:] != facilities[:-1])
        first = np.flatnonzero(change)
        group_day = days[first].tolist()
        sites = list(
            zip(
                facilities[first].tolist(),
                np.minimum.reduceat(ends, first).tolist(),
                np.maximum.reduceat(starts, first).tolist(),
                strict=True,
            )
        )
        result: dict[int, Sites] = {}
        for d, site in zip(group_day, sites, strict=True):
            result.setdefault(d, []).append(site)
        return result

    def pref_starts(self, i: int) -> list[int]:
        """Starts of stage ``i``'s candidates at preferred facilities (built on first use)."""
        starts = self._pref_starts[i]
        if starts is None:
            st = self.stages[i]
            starts = [s for s, p in zip(st.start, st.preferred, strict=True) if p]
            self._pref_starts[i] = starts
        return starts

    def arrays(self, i: int) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """Stage ``i``'s candidate starts, ends, days and facilities as arrays (built on first
        use)."""
        found = self._arrays[i]
        if found is None:
            st = self.stages[i]
            found = self._arrays[i] = st.arrays or (
                np.asarray(st.start, dtype=np.int64),
                np.asarray(st.end, dtype=np.int64),
                np.asarray(st.day, dtype=np.int64),
                np.asarray(st.facility, dtype=np.int64),
            )
        return found

    def groups(self, i: int) -> list[tuple[int, int, int, list[int], int]]:
        """Stage ``i``'s candidates by facility, cheapest first (built on first use).

        Rows are (travel of a day alone there, 1 if outside the preferred facilities, facility,
        rows, offset): the facility's candidates are ``rows[n] - offset`` for the rows in
        ``[offset, offset + candidates)`` (:meth:`StageCandidates.by_facility`, read only). The
        travel is 0 unless it is a metric and home is known.
        """
        found = self._groups[i]
        if found is None:
            st = self.stages[i]
            found = []
            home = self.home if self.metric else None
            for f, rows, offset in st.by_facility():
                alone = 2 * home[f] if home is not None else 0
                outside = 0
                if self.has_preferences:
                    first = rows[bisect_left(rows, offset)] - offset
                    outside = 0 if st.preferred[first] else 1
                found.append((alone, outside, f, rows, offset))
            found.sort(key=lambda row: row[:3])
            self._groups[i] = found
        return found

    def _day_legs(self, i: int, lo: int, hi: int, preferred_only: bool = False) -> int:
        """The two home legs of stage ``i``'s nearest facility with a candidate in ``[lo, hi]``.

        A day's tour (metric travel, home known) costs at least the two home legs of each of its
        visits. With ``preferred_only``, among the preferred facilities only: -1 when none of them
        has a candidate in ``[lo, hi]``; 0 when no facility has one. Memoised: the same ranges
        come back from one node to the next.
        """
        key = (i, lo, hi, preferred_only)
        found = self._legs.get(key)
        if found is None:
            found = -1 if preferred_only else 0
            # Candidates are in start order: those starting in [lo, hi] are the indices a .. z - 1.
            starts = self.stages[i].start
            a, z = bisect_left(starts, lo), bisect_right(starts, hi)
            for legs, outside, _, rows, offset in self.groups(i):
                if preferred_only and outside:
                    continue
                n = bisect_left(rows, a + offset)
                if n < len(rows) and rows[n] < z + offset:
                    found = legs
                    break
            self._legs[key] = found
        return found
