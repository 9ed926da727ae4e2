"""Tests of nosology.merge: several pathways into one."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nosology.exceptions import MergeConflictError
from nosology.merge import merge_pathways
from nosology.pathway import (
    Applicability,
    Deadline,
    LagUnit,
    LocalizedText,
    Pathway,
    Stage,
    TemporalConstraint,
    VisitMode,
    Window,
)

CT_CHEST = "nmu:A06.09.005"
CT_CHEST_CONTRAST = "nmu:A06.09.005.002"
CT_CORONARY = "nmu:A06.10.006.002"
MRI_CHEST = "nmu:A05.30.004"
ONCOLOGIST = "fer:27"
CARDIOLOGIST = "fer:42"
BOARD = "nmu:B01.027.003"


def _text(word: str) -> LocalizedText:
    return LocalizedText(ru=word, en=word)


def _stage(stage_id: str, *services: str, **fields: object) -> Stage:
    return Stage.model_validate(
        {"id": stage_id, "title": {"ru": stage_id, "en": stage_id}, "services": services, **fields}
    )


def _pathway(pathway_id: str, stages: list[Stage], **fields: object) -> Pathway:
    data: dict[str, object] = {
        "id": pathway_id,
        "title": _text(pathway_id),
        "applicability": Applicability(codes=(pathway_id.upper()[:3],)),
        "stages": tuple(stages),
    }
    data.update(fields)
    return Pathway.model_validate(data)


def _min_lag(frm: str, to: str, days: int) -> TemporalConstraint:
    return TemporalConstraint(
        from_event=frm, to_event=to, min=days, unit=LagUnit.CALENDAR_DAYS, source="test rule"
    )


def _deadline(deadline_id: str, to: str, limit: int) -> Deadline:
    return Deadline(
        id=deadline_id,
        title=_text(deadline_id),
        from_event="referral",
        to_event=to,
        limit=limit,
        unit=LagUnit.WORKING_DAYS,
        source="ПГГ 2026",
    )


@pytest.fixture
def lung() -> Pathway:
    """A small suspected-lung-cancer pathway: consultation, CT or MRI, tumour board."""
    return _pathway(
        "zno_lung",
        [
            _stage("consult", ONCOLOGIST, facility_level=2),
            _stage("ct", CT_CHEST, MRI_CHEST, after=("consult",), duration_minutes=20),
            _stage("board", BOARD, after=("ct",), mode=VisitMode.REMOTE),
        ],
        constraints=(_min_lag("ct.end", "board.start", 1),),
        deadlines=(_deadline("consult_3wd", "consult.start", 3), _deadline("ct_7wd", "ct.end", 7)),
        sources=("ПГГ 2026", "КР рак лёгкого"),
        applicability=Applicability(codes=("C34",), priority=1),
    )


@pytest.fixture
def cvd() -> Pathway:
    """A small suspected-heart-disease pathway whose chest CT is a CT-like stage too."""
    return _pathway(
        "cvd_suspected",
        [
            _stage("consult", CARDIOLOGIST),
            _stage(
                "chest_ct",
                CT_CORONARY,
                CT_CHEST,
                after=("consult",),
                facility_level=3,
                duration_minutes=45,
                shares_day=False,
            ),
        ],
        constraints=(
            TemporalConstraint(
                from_event="consult.end",
                to_event="chest_ct.start",
                max=10,
                unit=LagUnit.CALENDAR_DAYS,
                source="test rule",
            ),
        ),
        deadlines=(_deadline("consult_3wd", "consult.start", 3),),
        sources=("ПГГ 2026",),
        applicability=Applicability(codes=("I20-I25",)),
    )


def test_shared_ct_stage_keeps_every_rule(lung: Pathway, cvd: Pathway) -> None:
    """A lung and a cvd pathway share one CT stage, and keep every constraint and deadline."""
    merged = merge_pathways([lung, cvd])
    ids = [s.id for s in merged.stages]
    assert sorted(ids) == sorted(
        ["cvd_suspected__consult", "zno_lung__consult", "chest_ct", "board"]
    )
    ct = merged.stage("chest_ct")
    assert ct.service_keys == {CT_CHEST}
    assert ct.facility_level == 3
    assert ct.duration_minutes == 45
    assert ct.mode is VisitMode.IN_PERSON
    assert ct.shares_day is False
    assert set(ct.after) == {"cvd_suspected__consult", "zno_lung__consult"}
    assert merged.stage("board").after == ("chest_ct",)
    events = {(c.from_event, c.to_event) for c in merged.constraints}
    assert events == {
        ("chest_ct.end", "board.start"),
        ("cvd_suspected__consult.end", "chest_ct.start"),
    }
    assert {d.id: d.to_event for d in merged.deadlines} == {
        "cvd_suspected__consult_3wd": "cvd_suspected__consult.start",
        "zno_lung__consult_3wd": "zno_lung__consult.start",
        "zno_lung__ct_7wd": "chest_ct.end",
    }
    assert merged.id == "cvd_suspected__and__zno_lung"
    assert merged.applicability.codes == ("I20-I25", "C34")
    assert merged.applicability.priority == 1
    assert merged.sources == ("ПГГ 2026", "КР рак лёгкого")
    assert "chest_ct is shared by cvd_suspected.chest_ct, zno_lung.ct" in merged.notes


def test_stage_order_is_topological(lung: Pathway, cvd: Pathway) -> None:
    """Every stage of the merged pathway comes after the stages it must follow."""
    merged = merge_pathways([lung, cvd])
    position = {s.id: n for n, s in enumerate(merged.stages)}
    for stage in merged.stages:
        assert all(position[b] < position[stage.id] for b in stage.after)


def test_one_pathway_is_returned_unchanged(lung: Pathway) -> None:
    """Merging one pathway, or the same one twice, returns it as it is."""
    assert merge_pathways([lung]) is lung
    assert merge_pathways([lung, lung]) == lung


def test_duplicates_do_not_change_the_merge(lung: Pathway, cvd: Pathway) -> None:
    """A pathway given twice counts once."""
    assert merge_pathways([lung, cvd, lung]) == merge_pathways([cvd, lung])


def test_two_pathways_with_one_id_conflict(lung: Pathway) -> None:
    """Two different pathways with the same id are refused, naming the id."""
    other = lung.model_copy(update={"notes": "another edition"})
    with pytest.raises(MergeConflictError, match="zno_lung"):
        merge_pathways([lung, other])


def test_nothing_to_merge() -> None:
    """An empty list is refused."""
    with pytest.raises(MergeConflictError, match="no pathway"):
        merge_pathways([])


def test_sharing_that_creates_an_after_cycle_is_refused() -> None:
    """CT before MRI in one pathway and MRI before CT in the other cannot share both stages."""
    a = _pathway("a", [_stage("ct", CT_CHEST), _stage("mri", MRI_CHEST, after=("ct",))])
    b = _pathway("b", [_stage("mri", MRI_CHEST), _stage("ct", CT_CHEST, after=("mri",))])
    with pytest.raises(MergeConflictError, match=r"'after' cycle") as info:
        merge_pathways([a, b])
    assert info.value.pathway_ids == ["a", "b"]


def test_stages_of_one_pathway_are_never_shared() -> None:
    """Two CTs of one pathway stay two stages even when another pathway has a CT too."""
    a = _pathway("a", [_stage("ct1", CT_CHEST), _stage("ct2", CT_CHEST, after=("ct1",))])
    b = _pathway("b", [_stage("ct", CT_CHEST)])
    merged = merge_pathways([a, b])
    assert [s.id for s in merged.stages] == ["ct1", "ct2"]
    assert "stage ct1 is shared by a.ct1, b.ct" in merged.notes


def test_best_overlap_is_shared_first() -> None:
    """A stage pairs with the stage offering the same alternatives before a partial overlap."""
    a = _pathway("a", [_stage("scan", CT_CHEST, MRI_CHEST)])
    b = _pathway(
        "b", [_stage("mri", MRI_CHEST, CT_CORONARY), _stage("imaging", CT_CHEST, MRI_CHEST)]
    )
    merged = merge_pathways([a, b])
    assert merged.stage("scan").service_keys == {CT_CHEST, MRI_CHEST}
    assert merged.stage("mri").service_keys == {MRI_CHEST, CT_CORONARY}


def test_disjoint_windows_conflict() -> None:
    """Two windows from one reference date on a shared stage that do not overlap are refused."""

    def screening(pid: str, low: int, high: int) -> Pathway:
        window = Window(
            event="us.start",
            reference="last_menstrual_period",
            min_days=low,
            max_days=high,
            source="order 1130n",
        )
        return _pathway(pid, [_stage("us", "nmu:A04.30.001")], windows=(window,))

    with pytest.raises(MergeConflictError, match="windows"):
        merge_pathways([screening("a", 77, 97), screening("b", 133, 153)])
    merged = merge_pathways([screening("a", 77, 97), screening("b", 90, 110)])
    assert [(w.event, w.min_days, w.max_days) for w in merged.windows] == [
        ("us.start", 77, 97),
        ("us.start", 90, 110),
    ]


def test_contradictory_lags_conflict() -> None:
    """Shared stages whose lags contradict each other are reported as a merge conflict."""
    a = _pathway(
        "a",
        [_stage("ct", CT_CHEST), _stage("mri", MRI_CHEST)],
        constraints=(_min_lag("ct.start", "mri.start", 5),),
    )
    b = _pathway(
        "b",
        [_stage("ct", CT_CHEST), _stage("mri", MRI_CHEST)],
        constraints=(_min_lag("mri.start", "ct.start", 1),),
    )
    with pytest.raises(MergeConflictError, match="contradict") as info:
        merge_pathways([a, b])
    assert info.value.pathway_ids == ["a", "b"]


def test_long_ids_are_cut_to_valid_identifiers() -> None:
    """Merged, stage and deadline ids stay valid identifiers of at most 80 characters."""
    long_a, long_b = "a" * 60, "b" * 70
    a = _pathway(
        long_a,
        [_stage("x" * 40, CT_CHEST)],
        deadlines=(_deadline("d" * 40, f"{'x' * 40}.start", 1),),
    )
    b = _pathway(long_b, [_stage("x" * 40, MRI_CHEST)])
    merged = merge_pathways([b, a])
    pattern = re.compile(r"^[a-z][a-z0-9_]*$")
    names = [merged.id, *(s.id for s in merged.stages), *(d.id for d in merged.deadlines)]
    assert all(pattern.match(n) and len(n) <= 80 for n in names)
    assert merged.id.startswith(f"{long_a}__and__")
    assert len({s.id for s in merged.stages}) == 2


SERVICES = (CT_CHEST, MRI_CHEST, CT_CORONARY, ONCOLOGIST)
STAGE_NAMES = ("consult", "scan", "biopsy", "board")


@st.composite
def _random_pathway(draw: st.DrawFn, pathway_id: str) -> Pathway:
    count = draw(st.integers(1, 3))
    names = draw(st.permutations(STAGE_NAMES))[:count]
    stages = []
    for n, name in enumerate(names):
        services = draw(st.sets(st.sampled_from(SERVICES), min_size=1, max_size=2))
        after = draw(st.sets(st.sampled_from(names[:n]), max_size=n)) if n else set()
        stages.append(
            _stage(
                name,
                *sorted(services),
                after=tuple(sorted(after)),
                duration_minutes=draw(st.sampled_from((15, 30, 60))),
                facility_level=draw(st.sampled_from((None, 1, 2, 3))),
                shares_day=draw(st.booleans()),
            )
        )
    constraints = tuple(
        _min_lag(f"{names[n]}.end", f"{names[n + 1]}.start", draw(st.integers(0, 3)))
        for n in range(count - 1)
        if draw(st.booleans())
    )
    deadlines = (_deadline("first", f"{names[0]}.start", draw(st.integers(1, 10))),)
    return _pathway(pathway_id, stages, constraints=constraints, deadlines=deadlines)


def _outcome(pathways: list[Pathway]) -> Pathway | str:
    try:
        return merge_pathways(pathways)
    except MergeConflictError as error:
        return str(error)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(("p", "q", "r")), min_size=2, max_size=3, unique=True).flatmap(
        lambda ids: st.tuples(*(_random_pathway(i) for i in ids))
    )
)
def test_merge_is_commutative(pathways: tuple[Pathway, ...]) -> None:
    """Every order of the inputs gives the same merged pathway (or the same conflict)."""
    outcomes = [_outcome(list(order)) for order in itertools.permutations(pathways)]
    assert all(o == outcomes[0] for o in outcomes)
    merged = outcomes[0]
    if isinstance(merged, Pathway):
        counts = [len(p.constraints) for p in pathways]
        assert max(counts) <= len(merged.constraints) <= sum(counts)
        assert len(merged.deadlines) == sum(len(p.deadlines) for p in pathways)
        assert len(merged.stages) <= sum(len(p.stages) for p in pathways)
        assert len(merged.stages) >= max(len(p.stages) for p in pathways)
        assert merge_pathways([*pathways, *pathways]) == merged


@pytest.mark.parametrize(
    ("modes", "merged_mode"),
    [
        ((VisitMode.EITHER, VisitMode.IN_PERSON), VisitMode.IN_PERSON),
        ((VisitMode.REMOTE, VisitMode.EITHER), VisitMode.REMOTE),
        ((VisitMode.EITHER, VisitMode.EITHER), VisitMode.EITHER),
        ((VisitMode.REMOTE, VisitMode.IN_PERSON), VisitMode.IN_PERSON),
    ],
)
def test_a_shared_stage_takes_the_mode_that_satisfies_both(
    modes: tuple[VisitMode, VisitMode], merged_mode: VisitMode
) -> None:
    """In person satisfies in person and either, remote satisfies remote and either; two
    stages that may be either stay either."""
    first = _pathway("aaa", [_stage("visit", ONCOLOGIST, mode=modes[0])])
    second = _pathway("bbb", [_stage("visit", ONCOLOGIST, mode=modes[1])])
    merged = merge_pathways([first, second])
    (stage,) = merged.stages
    assert stage.mode is merged_mode
