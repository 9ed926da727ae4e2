"""Propagation: the lag links to a fixpoint of bounds on every stage's start and end.

After each assignment :meth:`Propagation.propagate` tightens lower and upper bounds on the
start and end of every stage along the lag links (minutes, calendar days and working days, via
:mod:`routing.solve.timeaxis`) until nothing changes; :meth:`Propagation.tighten` moves a stage's
bounds onto its first and last candidates that are still usable, skipping candidates that the
same-day rules exclude next to the stages already assigned (forward checking). A stage left
without candidates fails the node, naming the rule that emptied it (for the reasons of an
infeasible request). :meth:`Propagation.day_fails` propagates a stage narrowed to one day, so
that the tree search can skip a day's candidates at once when none of them can be booked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from routing.solve.bnb.state import SearchState
from routing.solve.links import REFERRAL_STAGE

__all__ = ["Propagation"]


class Propagation(SearchState):
    """:class:`~routing.solve.bnb.state.SearchState` with the propagation of lag links."""

    def propagate(
        self, b: list[list[int]], touched: list[int] | None = None, visit_day: int | None = None
    ) -> int:
        """Tighten bounds ``b = [lo_s, hi_s, lo_e, hi_e]`` to a fixpoint; -1 or the failed stage.

        A worklist of links: a link is revisited only when the bounds of one of its stages
        changed. ``touched`` lists the stages whose bounds the caller changed (``None``: all);
        ``visit_day`` is the day of an in-person visit just assigned, which can exclude, through
        the same-day rules, the candidates that bound other in-person stages on that day.
        """
        lo_s, hi_s, lo_e, hi_e = b
        axis = self.axis
        r = self.r
        links = self.links
        incident = self.incident
        pending = [False] * len(links)
        stack: list[int] = []
        starts = set(range(self.k) if touched is None else touched)
        snap = set(starts)
        if visit_day is not None:
            # Only a stage whose first or last candidate lies on the visit's day can lose it.
            stages = self.stages
            for i in range(self.k):
                if stages[i].in_person and (
                    visit_day in (axis.day_of(lo_s[i]), axis.day_of(hi_s[i]))
                ):
                    snap.add(i)
        for i in sorted(snap):
            if self.assigned[i] < 0:
                before = (lo_s[i], hi_s[i], lo_e[i], hi_e[i])
                if not self.tighten(i, b):
                    return i
                if before != (lo_s[i], hi_s[i], lo_e[i], hi_e[i]):
                    starts.add(i)
        for i in starts:
            for n in incident[i]:
                if not pending[n]:
                    pending[n] = True
                    stack.append(n)
        budget = 50 * (len(links) + self.k) * max(1, self.k)
        while stack:
            budget -= 1
            if budget < 0:
                return -1  # sound: the bounds so far are valid, merely not a fixpoint
            n = stack.pop()
            pending[n] = False
            link = links[n]
            xs, ys = link.x_stage, link.y_stage
            if xs == REFERRAL_STAGE:
                xlo = xhi = r
            else:
                xl, xh = (lo_s, hi_s) if link.x_point == 0 else (lo_e, hi_e)
                xlo, xhi = xl[xs], xh[xs]
            if ys == REFERRAL_STAGE:
                ylo = yhi = r
            else:
                yl, yh = (lo_s, hi_s) if link.y_point == 0 else (lo_e, hi_e)
                ylo, yhi = yl[ys], yh[ys]
            unit = link.unit
            x_changed = y_changed = False
            if link.min is not None:
                v = axis.min_forward(xlo, link.min, unit)
                if v > ylo:
                    if ys == REFERRAL_STAGE or v > yhi:
                        return self._fail(ys, xs, link.origin)
                    yl[ys] = ylo = v
                    self.culprit[ys] = link.origin
                    y_changed = True
                v = axis.min_backward(yhi, link.min, unit)
                if v < xhi:
                    if xs == REFERRAL_STAGE or v < xlo:
                        return self._fail(xs, ys, link.origin)
                    xh[xs] = xhi = v
                    self.culprit[xs] = link.origin
                    x_changed = True
            if link.max is not None:
                v = axis.max_forward(xhi, link.max, unit)
                if v < yhi:
                    if ys == REFERRAL_STAGE or v < ylo:
                        return self._fail(ys, xs, link.origin)
                    yh[ys] = v
                    self.culprit[ys] = link.origin
                    y_changed = True
                v = axis.max_backward(ylo, link.max, unit)
                if v > xlo:
                    if xs == REFERRAL_STAGE or v > xhi:
                        return self._fail(xs, ys, link.origin)
                    xl[xs] = v
                    self.culprit[xs] = link.origin
                    x_changed = True
            for stage, moved in ((xs, x_changed), (ys, y_changed)):
                if not moved or self.assigned[stage] >= 0:
                    continue
                if not self.tighten(stage, b):
                    return stage
                for m in incident[stage]:
                    if not pending[m]:
                        pending[m] = True
                        stack.append(m)
        return -1

    def day_fails(self, i: int, day: int, b: list[list[int]], cap: int) -> bool:
        """Whether no route of node ``b`` completing by ``cap`` books open stage ``i`` on ``day``.

        The node's bounds with stage ``i``'s start narrowed to the day (and every end capped)
        propagate to a failure. A child booking one of the stage's candidates of that day has
        bounds within these (and more bookings for the same-day rules), and propagation only
        tightens with tighter bounds, so that child fails too.
        """
        narrowed, touched = self.capped_copy(b, i, cap)
        first, last = self.axis.first_minute(day), self.axis.last_minute(day)
        if first > narrowed[0][i]:
            narrowed[0][i] = first
        if last < narrowed[1][i]:
            narrowed[1][i] = last
        return self.propagate(narrowed, touched) >= 0

    def capped_copy(
        self, b: list[list[int]], i: int, cap: int
    ) -> tuple[list[list[int]], list[int]]:
        """A copy of bounds ``b`` with every end capped at ``cap``, and the stages to propagate
        from when stage ``i`` changes too: ``i`` first, then those the cap moved."""
        hi_e = b[3]
        capped = [x if x < cap else cap for x in hi_e]
        touched = [i] + [j for j in range(self.k) if capped[j] != hi_e[j] and j != i]
        return [list(b[0]), list(b[1]), list(b[2]), capped], touched

    def tighten(self, i: int, b: list[list[int]]) -> bool:
        """Snap stage ``i``'s bounds to its first and last usable candidate; False if none."""
        lo_s, hi_s, lo_e, hi_e = b
        st = self.stages[i]
        starts = st.start
        ends = st.end
        le, he = lo_e[i], hi_e[i]
        # A candidate starting before le - dmax ends before le, one starting after he - dmin
        # ends after he: bisect past them instead of stepping over them one by one (an end
        # bound tightened by a link or a cap leaves thousands between them over every
        # candidate of a large region).
        lo, hi = le - self.dmax[i], he - self.dmin[i]
        a = bisect_left(starts, lo_s[i] if lo_s[i] > lo else lo)
        z = bisect_right(starts, hi_s[i] if hi_s[i] < hi else hi) - 1
        days = st.day
        skip_days = st.in_person and bool(self.day_visits)
        while a <= z:
            if le <= ends[a] <= he:
                if self.usable(i, a):
                    break
                if skip_days and self.day_closed(i, days[a]):
                    a = bisect_left(starts, self.axis.first_minute(days[a] + 1))
                    continue
            a += 1
        while z >= a:
            if le <= ends[z] <= he:
                if self.usable(i, z):
                    break
                if skip_days and self.day_closed(i, days[z]):
                    z = bisect_left(starts, self.axis.first_minute(days[z])) - 1
                    continue
            z -= 1
        if a > z:
            return False
        lo_s[i], hi_s[i] = starts[a], starts[z]
        least_end, most_end = starts[a] + self.dmin[i], starts[z] + self.dmax[i]
        lo_e[i] = le if le > least_end else least_end
        hi_e[i] = he if he < most_end else most_end
        return True

    def _fail(self, stage: int, other: int, origin: str) -> int:
        failed = stage if stage != REFERRAL_STAGE else other
        self.culprit[failed] = origin
        return failed
