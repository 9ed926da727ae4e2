"""Stages that may be done in person or remotely (:attr:`~nosology.pathway.VisitMode.EITHER`).

The search carries one mode per stage: whether a stage is a visit (travel, a visit day, the
patient's availability, consent to other regions) is known before any slot is chosen. A stage
that may be either is therefore planned by cases: :func:`mode_variants` gives the pathway once
per combination of modes its *either* stages can take over the index (a mode is left out when
no slot of the stage's services and level is offered in it), each with those stages' modes
fixed, and :func:`search_in_modes` searches every variant and keeps the best route (by the
objective; the earlier variant, in-person first, on ties). Exact: the routes of the pathway are
the union of the variants' routes, so the best of the variants' optima is the optimum, and it
is claimed proven only when every variant's search was. The cost is one search per variant
(two for one *either* stage, four for two).

:func:`~routing.solve.compiled.compile_request` given an *either* stage directly compiles a
relaxation (slots of both modes, no visit rules): right for lower bounds, never for routes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from nosology.pathway import Pathway, Stage, VisitMode
from routing.slot_index import SlotIndex
from routing.solve.compiled import CompiledRequest
from routing.solve.indexcache import cached_on_index
from routing.solve.search import SearchLimits, SearchOutcome, search

__all__ = ["has_either", "mode_variants", "search_in_modes"]

VARIANTS_CACHED = 256
"""Pathways whose variants an index keeps (the cache is keyed by the pathway object)."""

_ORDER = (VisitMode.IN_PERSON, VisitMode.REMOTE)


def has_either(pathway: Pathway) -> bool:
    """Whether some stage of ``pathway`` may be done in person or remotely."""
    return any(stage.mode is VisitMode.EITHER for stage in pathway.stages)


def mode_variants(pathway: Pathway, index: SlotIndex) -> tuple[Pathway, ...]:
    """``pathway`` itself when no stage is *either*; else one pathway per combination of the
    modes its *either* stages are offered in over ``index`` (in-person first), those stages'
    modes fixed. A stage offered in neither mode stays in person (its route is infeasible and
    the reason says why). Cached on the index per pathway object."""
    if not has_either(pathway):
        return (pathway,)

    def make() -> tuple[Pathway, tuple[Pathway, ...]]:
        choices = [
            _offered(index, stage) if stage.mode is VisitMode.EITHER else (stage.mode,)
            for stage in pathway.stages
        ]
        variants = tuple(
            pathway.model_copy(
                update={
                    "stages": tuple(
                        s if s.mode is mode else s.model_copy(update={"mode": mode})
                        for s, mode in zip(pathway.stages, modes, strict=True)
                    )
                }
            )
            for modes in itertools.product(*choices)
        )
        return pathway, variants

    key = id(pathway)
    _, variants = cached_on_index(
        index, "mode-variants", key, VARIANTS_CACHED, make, lambda v: v[0] is pathway
    )
    return variants


def _offered(index: SlotIndex, stage: Stage) -> tuple[VisitMode, ...]:
    """The modes some slot of ``stage``'s services and level is offered in (in person if none)."""
    positions = [index.by_service[s] for s in sorted(stage.service_keys) if s in index.by_service]
    offered = [
        mode
        for mode in _ORDER
        if any(
            bool((index.mode_is(p, mode) & index.facility_level_ok(p, stage.facility_level)).any())
            for p in positions
        )
    ]
    return tuple(offered) or (VisitMode.IN_PERSON,)


def search_in_modes(
    compile_variant: Callable[[Pathway], CompiledRequest],
    pathway: Pathway,
    index: SlotIndex,
    limits: SearchLimits,
) -> tuple[CompiledRequest, SearchOutcome | None]:
    """Compile and search ``pathway`` by cases of its *either* stages (module docstring).

    Returns the compiled variant of the best route (of the first variant when none has one)
    and the search's outcome: proven only when every variant's search was, its root bound the
    least of theirs, its nodes their sum. The outcome is ``None`` when the compiled request has
    ``problems`` (they do not depend on the modes): the caller reports them.
    """
    variants = mode_variants(pathway, index)
    first = compile_variant(variants[0])
    if first.problems:
        return first, None
    if len(variants) == 1:
        return first, search(first, limits)
    found: list[tuple[CompiledRequest, SearchOutcome]] = [(first, search(first, limits))]
    for variant in variants[1:]:
        cr = compile_variant(variant)
        found.append((cr, search(cr, limits)))
    routed = [(o.key, n) for n, (_, o) in enumerate(found) if o.key is not None]
    best = min(routed)[1] if routed else 0
    cr, chosen = found[best]
    bounds = [o.root_bound for _, o in found if o.root_bound is not None]
    outcome = SearchOutcome(
        choice=chosen.choice,
        key=chosen.key,
        proven=all(o.proven for _, o in found),
        root_bound=min(bounds) if bounds else None,
        nodes=sum(o.nodes for _, o in found),
        failure=chosen.failure,
        limit_hit=next((o.limit_hit for _, o in found if o.limit_hit), None),
        completion_only=any(o.completion_only for _, o in found if o.key is not None),
    )
    return cr, outcome
