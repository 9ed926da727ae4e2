"""Compile a care pathway into a simple temporal network (STN) and reason about it.

Every rule of a :class:`~nosology.pathway.Pathway` becomes one or two edges between its events. An
edge ``source -> target`` with weight ``w`` in a unit means ``target - source <= w`` in that unit
(see :class:`TemporalEdge`). A pathway is consistent when some timing of its events satisfies every
rule; within one unit that is exactly "no cycle of negative total weight".

Edges
-----
- stage ``s``: ``s.end - s.start = duration_minutes``, two edges in minutes
  (``"stage s duration"``);
- ``after``: ``t.start >= s.end``: edge ``t.start -> s.end`` of weight 0 (``"t after s"``);
- every stage: ``s.start >= referral``: edge ``s.start -> referral`` of weight 0
  (``"s after referral"``);
- constraint ``n`` from ``X`` to ``Y``: a min ``m`` is edge ``Y -> X`` of weight ``-m``
  (``"constraint n (min)"``), a max ``M`` is edge ``X -> Y`` of weight ``M``
  (``"constraint n (max)"``); hours are compiled into minutes;
- a hard deadline is a max (``"deadline <id> (hard)"``); soft deadlines are not rules here;
- a window fixes ``date(event)`` relative to a reference date unknown at compile time: it is kept as
  the node attribute ``windows`` of :attr:`TemporalGraph.graph`. For the checks the reference date
  becomes an extra node ``"@<reference>"`` of the calendar-day layers, so that windows on the same
  reference and the lags between their events are checked together (``"window n (min)"``).

Layers
------
The rules are checked in six *layers*, each a graph in one unit:

- three **single-unit** layers: the rules written in that unit, plus the structural rules
  (durations, ``after``, referral) converted into it. Minutes are exact; calendar days are exact on
  the dates. Working days are counted by the index ``W(d)``, the number of working days up to and
  including ``d``: a min of ``n`` working days implies ``W(Y) - W(X) >= n`` and a max of ``n >= 0``
  implies ``W(Y) - W(X) <= n``, both exact when the events fall on working days; a negative max
  ``n`` only implies ``W(Y) - W(X) <= n + 1`` (``X`` may fall on a day off), which is what is used.
- three **combined** layers: every rule converted conservatively into one unit.

Every conversion is implied by the rule it comes from, so a negative cycle in any layer *proves*
that no timing satisfies the pathway: never a false alarm. The combined layers catch contradictions
across units (a min of 3 calendar days against a max of 24 hours) at the price of some slack.

Conversions
-----------
A local day lasts between :data:`DAY_MIN_MINUTES` (22 h) and :data:`DAY_MAX_MINUTES` (26 h): the
library measures minutes as real elapsed time across UTC-offset changes, and this holds in any zone
whose offset moves by at most two hours in a night (Moscow moved by one hour in 2011 and 2014, other
Russian zones by up to two hours in 2014). With ``v - u <= w``:

- minutes to calendar days: ``date(v) - date(u) <= ceil(w / 1320)`` for ``w >= 0`` (an interval of
  ``w`` minutes holds at most that many local midnights), ``<= -floor(-w / 1560)`` for ``w < 0``;
- calendar days to minutes: ``date(v) - date(u) <= w`` gives ``v - u < (w + 1)`` local days, i.e.
  ``<= (w + 1) * 1560`` for ``w >= 0`` and ``<= (w + 1) * 1320`` for ``w < 0`` (so a min of ``n``
  calendar days gives ``Y - X >= (n - 1) * 1320`` minutes, and a max of ``n`` gives
  ``Y - X <= (n + 1) * 1560``);
- working days to calendar days: ``wd(d, n) >= d + n`` and ``wd(d, n) <= d + B(n)`` for ``n >= 0``
  (mirrored for ``n < 0``), with ``B`` = :func:`working_day_span_bound`, ``B(n) = 2n + 14``;
- calendar days to working days: ``k`` consecutive calendar days hold at least ``(k - 14) // 2``
  working days (the same bound read backwards), and at most ``k``.

``B(n) = 2n + 14`` is safe for the Russian production calendar: any ``2n + 14`` consecutive days
hold at least ``n`` working days. Weekends take 2 days of 7, and at most one long run of days off
fits in a short span: the longest is the New Year break (31 December 2025 to 11 January 2026,
12 days), which 14 covers with margin; over long spans ``2n`` leaves ``n`` spare days for weekends
and the 14 or so public holidays a year. The test suite checks the bound against the ``holidays``
calendar of Russia on every window of the years it knows. (The 2020 pandemic "non-working days"
were not days off of the production calendar, and clinics worked through them.)

Examples
--------
>>> from nosology.pathway import Applicability, LocalizedText, Pathway, Stage
>>> text = LocalizedText(ru="т", en="t")
>>> pathway = Pathway(
...     id="demo", title=text, applicability=Applicability(codes=("C34",)),
...     stages=(
...         Stage(id="consult", title=text, services=("nmu:B01",), duration_minutes=30),
...         Stage(id="ct", title=text, services=("nmu:A06",), duration_minutes=20,
...               after=("consult",)),
...     ),
... )
>>> graph = compile_pathway(pathway)
>>> graph.is_consistent()
True
>>> graph.completion_offset()[LagUnit.MINUTES]
50
>>> graph.critical_path(LagUnit.MINUTES)
('referral', 'consult.start', 'consult.end', 'ct.start', 'ct.end')
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal, NamedTuple

import networkx as nx

from nosology.exceptions import InconsistentPathwayError
from nosology.pathway import REFERRAL, FrozenModel, LagUnit, Pathway, Window, parse_event

__all__ = [
    "DAYS_OFF_ALLOWANCE",
    "DAY_MAX_MINUTES",
    "DAY_MIN_MINUTES",
    "TemporalEdge",
    "TemporalGraph",
    "compile_pathway",
    "working_day_span_bound",
]

logger = logging.getLogger(__name__)

DAY_MIN_MINUTES = 22 * 60
"""The shortest local day assumed, in minutes (a two-hour UTC-offset change forward)."""
DAY_MAX_MINUTES = 26 * 60
"""The longest local day assumed, in minutes (a two-hour UTC-offset change back)."""
DAYS_OFF_ALLOWANCE = 14
"""The constant of :func:`working_day_span_bound`: covers the longest run of days off (12 days)."""

_UNITS = (LagUnit.MINUTES, LagUnit.CALENDAR_DAYS, LagUnit.WORKING_DAYS)
_UNIT_WORD = {
    LagUnit.MINUTES: "minutes",
    LagUnit.CALENDAR_DAYS: "calendar days",
    LagUnit.WORKING_DAYS: "working days",
}
Bound = Literal["min", "max"]


def working_day_span_bound(n: int) -> int:
    """At most how many calendar days separate ``d`` and ``wd(d, n)`` (or ``wd(d, -n)``).

    ``B(0) = 0`` and ``B(n) = 2n + 14`` for ``n >= 1``: any ``2n + 14`` consecutive days of the
    Russian production calendar hold at least ``n`` working days (see the module docstring).

    Parameters
    ----------
    n
        A number of working days, ``>= 0``.

    Examples
    --------
    >>> working_day_span_bound(3)
    20
    """
    if n < 0:
        raise ValueError(f"working_day_span_bound: n must be >= 0, got {n}")
    return 0 if n == 0 else 2 * n + DAYS_OFF_ALLOWANCE


def _guaranteed_working_days(days: int) -> int:
    """Working days certainly among ``days`` consecutive calendar days (the inverse of ``B``)."""
    return max(0, (days - DAYS_OFF_ALLOWANCE) // 2)


def _minutes_to_days(w: int) -> int:
    """``v - u <= w`` minutes implies ``date(v) - date(u) <=`` this."""
    return -(-w // DAY_MIN_MINUTES) if w >= 0 else -(-w // DAY_MAX_MINUTES)


def _days_to_minutes(w: int) -> int:
    """``date(v) - date(u) <= w`` implies ``v - u <=`` this many minutes."""
    return (w + 1) * (DAY_MAX_MINUTES if w >= 0 else DAY_MIN_MINUTES)


def _days_to_working_days(w: int) -> int:
    """``date(v) - date(u) <= w`` implies ``W(v) - W(u) <=`` this."""
    return w if w >= 0 else -_guaranteed_working_days(-w)


def _working_days_to_days(w: int) -> int:
    """A working-day edge of weight ``w`` (min or max) implies ``date(v) - date(u) <=`` this."""
    return w if w <= 0 else working_day_span_bound(w)


class TemporalEdge(FrozenModel):
    """One edge of the temporal network: ``target - source <= weight`` in ``unit``.

    - ``minutes``: elapsed time, exactly (hours are compiled into minutes);
    - ``calendar_days``: ``date(target) - date(source) <= weight`` (local dates);
    - ``working_days``: a max edge ``X -> Y`` of weight ``M`` means ``date(Y) <= wd(date(X), M)``;
      a min edge ``Y -> X`` of weight ``-m`` means ``date(Y) >= wd(date(X), m)``.

    Attributes
    ----------
    source, target
        Events (``"referral"``, ``"<stage>.start"``, ``"<stage>.end"``).
    weight
        The bound, in ``unit``.
    unit
        Never ``hours``.
    origin
        The rule that made the edge: ``"constraint 3 (min)"``, ``"stage ct duration"``,
        ``"ct after consult"``, ``"ct after referral"``, ``"deadline d1 (hard)"``, ``"window 0"``.
    bound
        ``"max"`` when the edge limits how late ``target`` may be after ``source``; ``"min"`` when
        it encodes how early ``source`` may be after ``target`` (a minimum lag read backwards).
    """

    source: str
    target: str
    weight: int
    unit: LagUnit
    origin: str
    bound: Bound


class _Rule(NamedTuple):
    edge: TemporalEdge
    structural: bool
    """Durations, ``after`` and the referral: facts about time that every layer converts."""


class _Layer(NamedTuple):
    unit: LagUnit
    combined: bool
    graph: nx.MultiDiGraph

    @property
    def label(self) -> str:
        word = _UNIT_WORD[self.unit]
        return f"all rules relaxed into {word}" if self.combined else f"the {word} rules"


def _in_unit(edge: TemporalEdge, unit: LagUnit) -> int:
    """The weight of ``edge`` converted into ``unit`` (implied by the edge, never stronger)."""
    w = edge.weight
    if edge.unit is LagUnit.WORKING_DAYS:
        if unit is LagUnit.WORKING_DAYS:
            return w + 1 if edge.bound == "max" and w < 0 else w
        days = _working_days_to_days(w)
    elif edge.unit is LagUnit.MINUTES:
        if unit is LagUnit.MINUTES:
            return w
        days = _minutes_to_days(w)
    else:
        days = w
    if unit is LagUnit.CALENDAR_DAYS:
        return days
    if unit is LagUnit.MINUTES:
        return _days_to_minutes(days)
    return _days_to_working_days(days)


def _edge(source: str, target: str, weight: int, unit: LagUnit, origin: str, bound: Bound) -> _Rule:
    edge = TemporalEdge(
        source=source, target=target, weight=weight, unit=unit, origin=origin, bound=bound
    )
    return _Rule(edge, structural=False)


def _lag(
    x: str, y: str, low: int | None, high: int | None, unit: LagUnit, origin: str
) -> Iterator[_Rule]:
    """The edges of ``low <= Y - X <= high`` in ``unit`` (hours become minutes)."""
    scale = 60 if unit is LagUnit.HOURS else 1
    unit = LagUnit.MINUTES if unit is LagUnit.HOURS else unit
    if low is not None:
        yield _edge(y, x, -low * scale, unit, f"{origin} (min)", "min")
    if high is not None:
        yield _edge(x, y, high * scale, unit, f"{origin} (max)", "max")


def _rules(pathway: Pathway, exact_durations: bool = True) -> list[_Rule]:
    """Every edge of the pathway, structural ones first, in a stable order."""
    rules: list[_Rule] = []
    minutes = LagUnit.MINUTES
    for stage in pathway.stages:
        start, end = f"{stage.id}.start", f"{stage.id}.end"
        d = stage.duration_minutes if exact_durations else 1
        origin = f"stage {stage.id} duration"
        if exact_durations:
            rules.append(_edge(start, end, d, minutes, origin, "max")._replace(structural=True))
        rules.append(_edge(end, start, -d, minutes, origin, "min")._replace(structural=True))
        for before in stage.after:
            rule = _edge(start, f"{before}.end", 0, minutes, f"{stage.id} after {before}", "min")
            rules.append(rule._replace(structural=True))
        rule = _edge(start, REFERRAL, 0, minutes, f"{stage.id} after referral", "min")
        rules.append(rule._replace(structural=True))
    for n, constraint in enumerate(pathway.constraints):
        rules.extend(
            _lag(
                constraint.from_event,
                constraint.to_event,
                constraint.min,
                constraint.max,
                constraint.unit,
                f"constraint {n}",
            )
        )
    for deadline in pathway.deadlines:
        if deadline.hard:
            scale = 60 if deadline.unit is LagUnit.HOURS else 1
            unit = LagUnit.MINUTES if deadline.unit is LagUnit.HOURS else deadline.unit
            origin = f"deadline {deadline.id} (hard)"
            weight = deadline.limit * scale
            rules.append(_edge(deadline.from_event, deadline.to_event, weight, unit, origin, "max"))
    for n, window in enumerate(pathway.windows):
        rules.extend(_window_rules(n, window))
    return rules


def _reference_node(reference: str) -> str:
    return f"@{reference}"


def _window_rules(n: int, window: Window) -> Iterator[_Rule]:
    """``min_days <= date(event) - reference <= max_days`` through a reference-date node."""
    ref, origin, days = _reference_node(window.reference), f"window {n}", LagUnit.CALENDAR_DAYS
    yield _edge(window.event, ref, -window.min_days, days, f"{origin} (min)", "min")
    yield _edge(ref, window.event, window.max_days, days, f"{origin} (max)", "max")


def _build_layer(
    rules: Sequence[_Rule], events: Sequence[str], unit: LagUnit, *, combined: bool
) -> _Layer:
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(events)
    for rule in rules:
        edge = rule.edge
        if combined or rule.structural or edge.unit is unit:
            graph.add_edge(
                edge.source, edge.target, weight=_in_unit(edge, unit), origin=edge.origin
            )
    return _Layer(unit, combined, graph)


def _cheapest(graph: nx.MultiDiGraph, u: str, v: str) -> tuple[int, str]:
    """The weight and origin of the lightest parallel edge ``u -> v`` (first on ties)."""
    data = min(graph[u][v].values(), key=lambda attrs: attrs["weight"])
    return int(data["weight"]), str(data["origin"])


class _Failure(NamedTuple):
    stages: list[str]
    detail: str


def _weight(graph: nx.MultiDiGraph, cycle: list[str]) -> int:
    """The weight of a closed walk, over the lightest parallel edges."""
    return sum(
        min(int(attrs["weight"]) for attrs in graph[u][v].values())
        for u, v in itertools.pairwise(cycle)
    )


def _floyd_negative_cycle(graph: nx.MultiDiGraph) -> list[str] | None:
    """A negative cycle (closed, first node repeated at the end), or ``None`` when none exists."""
    predecessors, distances = nx.floyd_warshall_predecessor_and_distance(graph, weight="weight")
    for node in sorted(graph.nodes, key=str):
        if distances[node][node] < 0:
            walk = [node]
            current = predecessors[node][node]
            while current != node and current not in walk:
                walk.append(current)
                current = predecessors[node][current]
            cycle = [node, *reversed(walk[1:]), node]
            if _weight(graph, cycle) < 0:
                return cycle
    return None


def _negative_cycle(layer: _Layer, rank: Mapping[str, int]) -> _Failure | None:
    """The first negative cycle of the layer, if any, in time order (each event after the last).

    The cycle is rotated to start at its lowest-ranked node, so that reports are stable.
    """
    reverse = layer.graph.reverse(copy=False)
    try:
        found = nx.find_negative_cycle(reverse, REFERRAL, weight="weight")
    except nx.NetworkXError:
        return None
    if _weight(reverse, found) >= 0:
        # networkx can report a cycle of zero weight where zero-weight cycles abound; ask
        # Floyd-Warshall, which settles both whether a negative cycle exists and which.
        found = _floyd_negative_cycle(reverse)
        if found is None:
            return None
    nodes = found[:-1]  # an edge of the reverse graph goes from an event to a later one
    first = min(range(len(nodes)), key=lambda i: rank[nodes[i]])
    nodes = nodes[first:] + nodes[:first]
    steps = []
    total = 0
    for u, v in zip(nodes, [*nodes[1:], nodes[0]], strict=True):
        weight, origin = _cheapest(layer.graph, v, u)  # u - v <= weight, i.e. v - u >= -weight
        total -= weight
        steps.append(f"{origin}: {v} - {u} >= {-weight}")
    if total <= 0:  # pragma: no cover - networkx returns a negative cycle or raises
        raise AssertionError(f"cycle {nodes} is not negative in {layer.label}")
    stages: list[str] = []
    for node in nodes:
        stage = None if node.startswith("@") else parse_event(node)[0]
        if stage is not None and stage not in stages:
            stages.append(stage)
    path = " -> ".join([*nodes, nodes[0]])
    detail = (
        f"in {layer.label}, the cycle {path} puts {nodes[0]} {total} {_UNIT_WORD[layer.unit]} "
        f"after itself ({'; '.join(steps)})"
    )
    return _Failure(stages, detail)


class TemporalGraph:
    """A pathway compiled into a temporal network: immutable, built by :func:`compile_pathway`.

    Offsets are lower bounds from the referral that hold for every timing satisfying the rules
    (slots ignored), computed as the least fixpoint of the network: the earliest time of ``v`` is
    ``-d(v, referral)``, ``d`` the shortest-path distance of the layer. Per unit they mean:

    - ``minutes``: ``v - referral >= offset`` (elapsed minutes);
    - ``calendar_days``: ``date(v) >= date(referral) + offset``;
    - ``working_days``: ``W(v) - W(referral) >= offset``, i.e. for ``offset >= 1`` the date of ``v``
      is on or after ``wd(date(referral), offset)``.

    Single-unit offsets use the rules of that unit and the structural rules converted into it (so
    a stage of 2 days counts in calendar days); combined offsets use every rule, relaxed into the
    unit (see the module docstring), and are at least as large.

    Parameters
    ----------
    pathway
        A validated pathway.
    """

    __slots__ = ("_edges", "_events", "_failure", "_graph", "_layers", "_pathway_id", "_stage_ends")

    _pathway_id: str
    _graph: nx.MultiDiGraph
    _edges: tuple[TemporalEdge, ...]
    _events: tuple[str, ...]
    _stage_ends: tuple[str, ...]
    _layers: dict[tuple[LagUnit, bool], _Layer]
    _failure: _Failure | None

    def __init__(self, pathway: Pathway, *, exact_durations: bool = True) -> None:
        rules = _rules(pathway, exact_durations)
        events = tuple(pathway.events())
        references = tuple(dict.fromkeys(_reference_node(w.reference) for w in pathway.windows))
        public = tuple(r.edge for r in rules if not r.edge.origin.startswith("window "))
        graph = nx.MultiDiGraph(pathway_id=pathway.id)
        for event in events:
            stage, point = parse_event(event)
            windows = tuple(w for w in pathway.windows if w.event == event)
            graph.add_node(event, stage=stage, point=point, windows=windows)
        for edge in public:
            attributes = edge.model_dump(exclude={"source", "target"})
            graph.add_edge(edge.source, edge.target, **attributes)
        layers = {
            (unit, combined): _build_layer(rules, events, unit, combined=combined)
            for combined in (False, True)
            for unit in _UNITS
        }
        rank = {node: i for i, node in enumerate((*events, *references))}
        failure = None
        for layer in layers.values():
            failure = _negative_cycle(layer, rank)
            if failure is not None:
                logger.debug("pathway %s is inconsistent: %s", pathway.id, failure.detail)
                break
        set_ = object.__setattr__
        set_(self, "_pathway_id", pathway.id)
        set_(self, "_graph", nx.freeze(graph))
        set_(self, "_edges", public)
        set_(self, "_events", events)
        set_(self, "_stage_ends", tuple(f"{s.id}.end" for s in pathway.stages))
        set_(self, "_layers", layers)
        set_(self, "_failure", failure)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TemporalGraph is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"TemporalGraph is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return (
            f"TemporalGraph({self._pathway_id!r}, {len(self._events)} events, "
            f"{len(self._edges)} edges)"
        )

    @property
    def pathway_id(self) -> str:
        """The id of the compiled pathway."""
        return self._pathway_id

    @property
    def graph(self) -> nx.MultiDiGraph:
        """A frozen copy of the network: nodes are events, edges carry weight, unit, origin, bound.

        Node attributes: ``stage`` (id or ``None`` for the referral), ``point`` and ``windows``
        (the :class:`~nosology.pathway.Window` rules on that event).
        """
        return nx.freeze(self._graph.copy())

    def edges(self, unit: LagUnit | None = None) -> tuple[TemporalEdge, ...]:
        """The edges, all or those in one unit (hours are compiled into minutes).

        Raises
        ------
        ValueError
            If ``unit`` is ``hours``: no edge is in hours.
        """
        if unit is None:
            return self._edges
        return tuple(e for e in self._edges if e.unit is self._unit(unit))

    def check_consistency(self) -> None:
        """Raise if the rules contradict each other (a negative cycle in some layer).

        Raises
        ------
        InconsistentPathwayError
            Naming the stages on the cycle, in cycle order; ``detail`` names the layer, the events
            and every rule on the cycle with its bound in that layer.
        """
        if self._failure is not None:
            raise InconsistentPathwayError(
                self._pathway_id, list(self._failure.stages), self._failure.detail
            )

    def is_consistent(self) -> bool:
        """Whether no layer has a negative cycle (a ``False`` is a proof of a contradiction)."""
        return self._failure is None

    def earliest_offsets(self, *, combined: bool = False) -> dict[str, dict[LagUnit, int]]:
        """Per event, per unit, the least offset from the referral the rules imply.

        Parameters
        ----------
        combined
            ``False``: each unit from its own rules (and the structural ones); ``True``: from every
            rule relaxed into the unit. See the class docstring for what each number means.

        Raises
        ------
        InconsistentPathwayError
            If the pathway is inconsistent.
        """
        self.check_consistency()
        offsets: dict[str, dict[LagUnit, int]] = {event: {} for event in self._events}
        for unit in _UNITS:
            distances = self._distances(unit, combined)[0]
            for event in self._events:
                offsets[event][unit] = -distances[event]
        return offsets

    def completion_offset(self, *, combined: bool = True) -> dict[LagUnit, int]:
        """Per unit, the least offset of the latest stage end from the referral (slots ignored).

        By default every rule counts, relaxed into the unit (``combined=True``): the tightest
        bound the network proves. ``combined=False`` gives the single-unit figures.

        Raises
        ------
        InconsistentPathwayError
            If the pathway is inconsistent.
        """
        self.check_consistency()
        return {
            unit: -self._distances(unit, combined)[0][self._last_end(unit, combined)]
            for unit in _UNITS
        }

    def critical_path(self, unit: LagUnit, *, combined: bool = True) -> tuple[str, ...]:
        """The events, from the referral, whose rules fix :meth:`completion_offset` in ``unit``.

        Ties between stage ends go to the later stage of the pathway. Reference-date nodes of
        windows are left out.

        Raises
        ------
        InconsistentPathwayError
            If the pathway is inconsistent.
        ValueError
            If ``unit`` is ``hours``.
        """
        unit = self._unit(unit)
        self.check_consistency()
        paths = self._distances(unit, combined)[1]
        path = paths[self._last_end(unit, combined)]
        return tuple(node for node in path if not node.startswith("@"))

    def _last_end(self, unit: LagUnit, combined: bool) -> str:
        distances = self._distances(unit, combined)[0]
        return max(reversed(self._stage_ends), key=lambda end: -distances[end])

    def _distances(
        self, unit: LagUnit, combined: bool
    ) -> tuple[dict[str, int], dict[str, list[str]]]:
        reverse = self._layers[(unit, combined)].graph.reverse(copy=False)
        distances, paths = nx.single_source_bellman_ford(reverse, REFERRAL, weight="weight")
        return distances, paths

    @staticmethod
    def _unit(unit: LagUnit) -> LagUnit:
        if unit is LagUnit.HOURS:
            raise ValueError("unit: hours are compiled into minutes; ask for 'minutes'")
        return unit


def compile_pathway(pathway: Pathway, *, exact_durations: bool = True) -> TemporalGraph:
    """Compile a pathway into its temporal network (never raises for an inconsistent pathway).

    Call :meth:`TemporalGraph.check_consistency` to reject contradictory rules. With
    ``exact_durations=False`` a stage lasts at least a minute instead of exactly its nominal
    ``duration_minutes``: the check a planner needs when real slots set the durations.

    Examples
    --------
    >>> from nosology.pathway import Applicability, LocalizedText, Pathway, Stage
    >>> from nosology.pathway import TemporalConstraint
    >>> text = LocalizedText(ru="т", en="t")
    >>> lag = TemporalConstraint(
    ...     from_event="referral", to_event="ct.start", max=72, unit="hours", source="NHS lung"
    ... )
    >>> stage = Stage(id="ct", title=text, services=("nmu:A06",))
    >>> pathway = Pathway(id="one", title=text, stages=(stage,), constraints=(lag,),
    ...                   applicability=Applicability(codes=("C34",)))
    >>> [(e.origin, e.weight) for e in compile_pathway(pathway).edges(LagUnit.MINUTES)][-1]
    ('constraint 0 (max)', 4320)
    """
    graph = TemporalGraph(pathway, exact_durations=exact_durations)
    logger.debug("compiled pathway %s: %s", pathway.id, graph)
    return graph
