"""Merging the pathways of several diagnoses into one pathway.

A patient with two diagnoses (a suspected lung tumour and suspected heart disease) follows both
pathways at once. :func:`merge_pathways` builds one pathway that keeps every rule of every input and
lets one appointment serve both where the same service is asked for.

The rules
---------
- **Order.** Inputs are deduplicated (equal pathways count once; two different pathways with one id
  are a conflict) and sorted by id, so the result does not depend on the order given:
  ``merge([a, b]) == merge([b, a])`` and ``merge([a, a]) == a``. One pathway is returned unchanged.
- **Sharing.** Two stages of *different* pathways are shared (become one stage) when their service
  sets intersect; the shared stage offers the *intersection* of the alternatives (the services that
  serve both), the stricter (higher) facility level, the longer duration, ``in_person`` if either
  is, and ``shares_day`` only if both allow it. Two stages of the same pathway are never shared. The
  pairing is made pathway by pathway in id order, best pair first: the largest common set of
  services, then the fewest alternatives lost, then the earlier stage.
- **Names.** A stage keeps its id unless another stage of the result would have it too; then it is
  prefixed with its source pathway id (``zno_lung__ct``). A shared stage is named after its member
  from the pathway with the smallest id. Deadline ids are always prefixed with the source pathway
  id. Names longer than 80 characters are cut and end in a short digest of the full name.
- **Rules kept.** Every constraint, window and deadline of every input is kept, with its events
  renamed; ``after`` edges are united. Exact duplicates (after renaming) are kept once.
- **Conflicts.** :class:`~nosology.exceptions.MergeConflictError` is raised when sharing would make
  the ``after`` order cyclic, when one event gets two disjoint windows from the same reference date,
  or when the temporal constraints of the result contradict each other.
- **Identity.** The merged id is the sorted input ids joined by ``"__and__"`` (cut with a digest
  when longer than 80 characters); the titles are joined by ``" + "``; applicability is the union of
  the codes with the highest priority; sources are united; the version lists ``id@version`` of each.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import networkx as nx

from nosology.exceptions import InconsistentPathwayError, MergeConflictError
from nosology.pathway import (
    REFERRAL,
    Applicability,
    Deadline,
    LocalizedText,
    Pathway,
    Stage,
    TemporalConstraint,
    VisitMode,
    Window,
    parse_event,
)
from nosology.temporal import compile_pathway

__all__ = ["merge_pathways"]

logger = logging.getLogger(__name__)

_MAX_ID_LENGTH = 80
"""The longest identifier a pathway, stage or deadline may have."""

_MERGED_ID_SEPARATOR = "__and__"
_PREFIX_SEPARATOR = "__"
_DIGEST_LENGTH = 8

_T = TypeVar("_T")


def merge_pathways(pathways: Sequence[Pathway]) -> Pathway:
    """Merge the pathways of several diagnoses into one pathway.

    Parameters
    ----------
    pathways
        The pathways to merge, in any order; duplicates count once.

    Returns
    -------
    Pathway
        The input itself when there is only one distinct pathway, else the merged pathway (see the
        module docstring for the rules).

    Raises
    ------
    MergeConflictError
        If no pathway is given, two different pathways share an id, sharing stages would create an
        ``after`` cycle, an event gets disjoint windows from one reference date, or the merged
        temporal constraints contradict each other.

    Examples
    --------
    >>> from nosology.pathway import Applicability, LocalizedText, Pathway, Stage
    >>> def one_stage(pid, service):
    ...     title = LocalizedText(ru=pid, en=pid)
    ...     stage = Stage(id="scan", title=title, services=(service,))
    ...     return Pathway(
    ...         id=pid, title=title, applicability=Applicability(codes=("C34",)), stages=(stage,)
    ...     )
    >>> ct = "nmu:A06.09.005"
    >>> merged = merge_pathways([one_stage("b", ct), one_stage("a", ct)])
    >>> merged.id, [s.id for s in merged.stages]
    ('a__and__b', ['scan'])
    """
    distinct = _distinct_sorted(pathways)
    if len(distinct) == 1:
        return distinct[0]
    ids = [p.id for p in distinct]
    groups = _share_stages(distinct)
    names = _name_groups(groups, distinct)
    rename = {
        (pid, stage.id): names[n] for n, group in enumerate(groups) for pid, stage in group.members
    }
    stages = _ordered_stages(groups, names, rename, ids)
    constraints = _unique(
        _rename_constraint(c, p.id, rename) for p in distinct for c in p.constraints
    )
    windows = _unique(_rename_window(w, p.id, rename) for p in distinct for w in p.windows)
    _check_windows(windows, ids)
    deadlines = tuple(_rename_deadline(d, p.id, rename) for p in distinct for d in p.deadlines)
    merged = Pathway(
        id=_fit(_MERGED_ID_SEPARATOR.join(ids)),
        version=";".join(f"{p.id}@{p.version}" for p in distinct),
        title=LocalizedText(
            ru=" + ".join(p.title.ru for p in distinct),
            en=" + ".join(p.title.en for p in distinct),
        ),
        applicability=Applicability(
            codes=_unique(code for p in distinct for code in p.applicability.codes),
            priority=max(p.applicability.priority for p in distinct),
        ),
        stages=stages,
        constraints=constraints,
        windows=windows,
        deadlines=deadlines,
        sources=_unique(source for p in distinct for source in p.sources),
        notes=_notes(distinct, groups, names),
    )
    _check_temporal(merged, ids)
    shared = sum(1 for g in groups if len(g.members) > 1)
    logger.debug(
        "merged pathways %s into %s: %d stages, %d shared",
        ", ".join(ids),
        merged.id,
        len(stages),
        shared,
    )
    return merged


@dataclass
class _Group:
    """Stages of different pathways that become one stage of the merged pathway."""

    members: list[tuple[str, Stage]]
    services: frozenset[str]


def _distinct_sorted(pathways: Sequence[Pathway]) -> list[Pathway]:
    by_id: dict[str, Pathway] = {}
    for pathway in pathways:
        known = by_id.setdefault(pathway.id, pathway)
        if known != pathway:
            raise MergeConflictError(
                [pathway.id], f"two different pathways have the id {pathway.id!r}"
            )
    if not by_id:
        raise MergeConflictError([], "no pathway was given to merge")
    return [by_id[i] for i in sorted(by_id)]


def _share_stages(pathways: list[Pathway]) -> list[_Group]:
    """Group the stages: each group holds at most one stage of each pathway."""
    groups: list[_Group] = []
    for pathway in pathways:
        pairs = []
        for s, stage in enumerate(pathway.stages):
            keys = stage.service_keys
            for g, group in enumerate(groups):
                common = group.services & keys
                if common:
                    pairs.append((-len(common), len(group.services ^ keys), g, s))
        used_groups: set[int] = set()
        placed: dict[int, int] = {}
        for _, _, g, s in sorted(pairs):
            if g not in used_groups and s not in placed:
                used_groups.add(g)
                placed[s] = g
        for s, stage in enumerate(pathway.stages):
            if s in placed:
                group = groups[placed[s]]
                group.members.append((pathway.id, stage))
                group.services = group.services & stage.service_keys
            else:
                group = _Group(members=[(pathway.id, stage)], services=stage.service_keys)
                groups.append(group)
    return groups


def _name_groups(groups: list[_Group], pathways: list[Pathway]) -> list[str]:
    """Name each group: its first member's id, prefixed with the pathway id when it would clash."""
    claims: dict[str, int] = {}
    for pathway in pathways:
        for stage in pathway.stages:
            claims[stage.id] = claims.get(stage.id, 0) + 1
    names: list[str] = []
    for group in groups:
        pid, first = group.members[0]
        same_id = sum(1 for _, stage in group.members if stage.id == first.id)
        if claims[first.id] - same_id == 0:
            names.append(first.id)
        else:
            names.append(_fit(f"{pid}{_PREFIX_SEPARATOR}{first.id}"))
    seen: dict[str, int] = {}
    unique_names: list[str] = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique_names.append(name if count == 0 else _fit(f"{name}_{count + 1}"))
    if len(set(unique_names)) != len(unique_names):
        raise MergeConflictError(
            [p.id for p in pathways], "stage ids cannot be made unique by prefixing"
        )
    return unique_names


def _ordered_stages(
    groups: list[_Group],
    names: list[str],
    rename: dict[tuple[str, str], str],
    ids: list[str],
) -> tuple[Stage, ...]:
    """Build the merged stages in a topological order (ties in group order); refuse a cycle."""
    order = nx.DiGraph()
    order.add_nodes_from(range(len(groups)))
    index = {name: n for n, name in enumerate(names)}
    afters: list[tuple[str, ...]] = []
    for n, group in enumerate(groups):
        before = sorted(
            {index[rename[(pid, b)]] for pid, stage in group.members for b in stage.after}
        )
        order.add_edges_from((b, n) for b in before)
        afters.append(tuple(names[b] for b in before))
    if not nx.is_directed_acyclic_graph(order):
        cycle = [names[u] for u, _ in nx.find_cycle(order)]
        raise MergeConflictError(
            ids, f"sharing stages would create an 'after' cycle through stages {', '.join(cycle)}"
        )
    return tuple(
        _merged_stage(groups[n], names[n], afters[n])
        for n in nx.lexicographical_topological_sort(order)
    )


def _merged_stage(group: _Group, name: str, after: tuple[str, ...]) -> Stage:
    stages = [stage for _, stage in group.members]
    first = stages[0]
    if len(stages) == 1:
        return first.model_copy(update={"id": name, "after": after})
    levels = [s.facility_level for s in stages if s.facility_level is not None]
    modes = {s.mode for s in stages}
    # In person satisfies in person and either; remote satisfies remote and either.
    mode = next((m for m in (VisitMode.IN_PERSON, VisitMode.REMOTE) if m in modes), first.mode)
    return Stage(
        id=name,
        title=LocalizedText(
            ru=" / ".join(_unique(s.title.ru for s in stages)),
            en=" / ".join(_unique(s.title.en for s in stages)),
        ),
        services=tuple(s for s in first.services if str(s) in group.services),
        duration_minutes=max(s.duration_minutes for s in stages),
        mode=mode,
        facility_level=max(levels) if levels else None,
        shares_day=all(s.shares_day for s in stages),
        after=after,
        public_title=_joined(s.public_title for s in stages),
        preparation=_joined(s.preparation for s in stages),
        bring=_joined(s.bring for s in stages),
    )


def _joined(texts: Iterable[LocalizedText | None]) -> LocalizedText | None:
    """The texts given, each once, joined per language; ``None`` when none is given."""
    present = [t for t in texts if t is not None]
    if not present:
        return None
    return LocalizedText(
        ru=" / ".join(_unique(t.ru for t in present)),
        en=" / ".join(_unique(t.en for t in present)),
    )


def _rename_event(event: str, pathway_id: str, rename: dict[tuple[str, str], str]) -> str:
    stage, point = parse_event(event)
    if stage is None or point is None:
        return REFERRAL
    return f"{rename[(pathway_id, stage)]}.{point.value}"


def _rename_constraint(
    constraint: TemporalConstraint, pathway_id: str, rename: dict[tuple[str, str], str]
) -> TemporalConstraint:
    return constraint.model_copy(
        update={
            "from_event": _rename_event(constraint.from_event, pathway_id, rename),
            "to_event": _rename_event(constraint.to_event, pathway_id, rename),
        }
    )


def _rename_window(window: Window, pathway_id: str, rename: dict[tuple[str, str], str]) -> Window:
    return window.model_copy(update={"event": _rename_event(window.event, pathway_id, rename)})


def _rename_deadline(
    deadline: Deadline, pathway_id: str, rename: dict[tuple[str, str], str]
) -> Deadline:
    return deadline.model_copy(
        update={
            "id": _fit(f"{pathway_id}{_PREFIX_SEPARATOR}{deadline.id}"),
            "from_event": _rename_event(deadline.from_event, pathway_id, rename),
            "to_event": _rename_event(deadline.to_event, pathway_id, rename),
        }
    )


def _check_windows(windows: tuple[Window, ...], ids: list[str]) -> None:
    """Refuse two windows on one event from one reference date that do not overlap."""
    bounds: dict[tuple[str, str], tuple[int, int]] = {}
    for window in windows:
        key = (window.event, window.reference)
        low, high = bounds.get(key, (window.min_days, window.max_days))
        low, high = max(low, window.min_days), min(high, window.max_days)
        if low > high:
            raise MergeConflictError(
                ids,
                f"event {window.event!r} gets windows from {window.reference!r} that do not "
                "overlap",
            )
        bounds[key] = (low, high)


def _check_temporal(merged: Pathway, ids: list[str]) -> None:
    """Check the merged pathway with :mod:`nosology.temporal`; a contradiction is a conflict."""
    try:
        compile_pathway(merged, exact_durations=False).check_consistency()
    except InconsistentPathwayError as error:
        raise MergeConflictError(
            ids,
            f"the merged temporal constraints contradict each other between stages "
            f"{', '.join(error.stages)}: {error.detail}",
        ) from error


def _notes(pathways: list[Pathway], groups: list[_Group], names: list[str]) -> str:
    lines = [f"[{p.id}] {p.notes}" for p in pathways if p.notes]
    for group, name in zip(groups, names, strict=True):
        if len(group.members) > 1:
            members = ", ".join(f"{pid}.{stage.id}" for pid, stage in group.members)
            lines.append(f"stage {name} is shared by {members}")
    return "\n".join(lines)


def _fit(name: str) -> str:
    """Cut an identifier to 80 characters, ending it in a digest of the full name if cut."""
    if len(name) <= _MAX_ID_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST_LENGTH]
    return f"{name[: _MAX_ID_LENGTH - _DIGEST_LENGTH - 1]}_{digest}"


def _unique(items: Iterable[_T]) -> tuple[_T, ...]:
    """The items in their first order, each once."""
    return tuple(dict.fromkeys(items))
