"""The patient's timeline: every stage with its contacts and texts, localised, discreet."""

from __future__ import annotations

import html
import json
import re

import pytest

from nosology.catalogue import Catalogue
from routing.examples import load_example
from routing.exceptions import InvalidInputError
from routing.result import SolveStatus
from routing.views.html import patient_page
from routing.views.ics import cancellation_ics, timeline_ics
from routing.views.timeline import ItemKind, build_timeline, stage_uid
from view_helpers import _slot, choice_problem, example_timeline, planned


def test_every_booked_stage_is_on_the_timeline_in_order() -> None:
    """Each booking is one visit or remote item, in time order, numbered 1..n."""
    result, index, pathway = planned(load_example(), "R-0001")
    timeline = build_timeline(result, index, pathway)
    stages = timeline.stages
    assert len(stages) == len(result.bookings) == len(pathway.stages)
    assert [s.step for s in stages] == list(range(1, len(stages) + 1))
    assert [s.start for s in stages] == sorted(b.start for b in result.bookings)
    assert [s.uid for s in stages] == [
        stage_uid("R-0001", b.stage_id) for b in sorted(result.bookings, key=lambda b: b.start)
    ]


def test_visit_items_carry_contacts_room_and_patient_texts() -> None:
    """A visit shows the facility's name, address and phone, the slot's room, bring and prepare."""
    result, index, pathway = planned(choice_problem())
    timeline = build_timeline(result, index, pathway, language="ru")
    consult, scan, _ = timeline.stages
    assert consult.kind is ItemKind.VISIT
    assert consult.facility_name == "Дальняя поликлиника № 1 имени Ю. А. Гагарина"
    assert consult.address == "Санкт-Петербург, Выборгское шоссе, д. 200"
    assert consult.phone == "+7 (812) 000-00-01"
    assert consult.room == "Кабинет 101"
    assert consult.label == "Приём специалиста"
    assert consult.bring == "паспорт"
    assert consult.preparation == "Приходите заранее."
    assert consult.time_text == "09:00–09:30"
    assert scan.preparation == "Не ешьте 4 часа."
    assert scan.bring is None
    assert consult.next_text is not None
    assert "Обследование" in consult.next_text


def test_remote_stage_is_shown_as_remote_without_a_building() -> None:
    """A remote stage has no address or room and a neutral label when it has no public title."""
    result, index, pathway = planned(choice_problem())
    timeline = build_timeline(result, index, pathway, language="en")
    review = timeline.stages[-1]
    assert review.kind is ItemKind.REMOTE
    assert review.remote
    assert review.address is None
    assert review.room is None
    assert review.label == "Remote consultation"
    page = patient_page(timeline, timeline_ics(timeline))
    remote_item = page.split('data-step="3"')[1].split("</li>")[0]
    assert "Remote" in remote_item
    assert "Address" not in remote_item


def test_results_are_expected_before_the_stage_that_waits_for_them() -> None:
    """A stage after a minimum turnaround is preceded by a results item ending at its start."""
    result, index, pathway = planned(choice_problem())
    timeline = build_timeline(result, index, pathway, language="en")
    kinds = [i.kind for i in timeline.items]
    position = kinds.index(ItemKind.RESULTS)
    assert timeline.items[position + 1].kind is ItemKind.REMOTE
    assert timeline.items[position].end == timeline.items[position + 1].start
    assert timeline.items[position].start == timeline.stages[1].end


def test_travel_between_same_day_visits_at_two_facilities() -> None:
    """Two visits on one day at different facilities have a travel item with the model's minutes."""
    slots = [
        _slot(1, "FAR", "consult", 1, "09:00", "09:30"),
        _slot(2, "NEAR", "scan", 1, "13:00", "13:20"),
        _slot(3, "FAR", "review", 3, "10:00", "10:30"),
    ]
    problem = choice_problem(slots=slots)
    result, index, pathway = planned(problem)
    timeline = build_timeline(result, index, pathway, language="ru")
    travel = [i for i in timeline.items if i.kind is ItemKind.TRAVEL]
    assert len(travel) == 1
    expected = problem.travel.minutes(problem.facility("FAR"), problem.facility("NEAR"))
    assert travel[0].travel_minutes == expected > 0
    assert "Ближняя поликлиника" in travel[0].label
    assert [i.kind for i in timeline.items][:3] == [ItemKind.VISIT, ItemKind.TRAVEL, ItemKind.VISIT]


def test_no_travel_item_between_visits_on_different_days() -> None:
    """Visits on different days are not joined by a travel item."""
    result, index, pathway = planned(choice_problem())
    timeline = build_timeline(result, index, pathway)
    assert ItemKind.TRAVEL not in {i.kind for i in timeline.items}


def test_russian_dates_weekdays_and_months() -> None:
    """Russian dates name the weekday and the month in the genitive; English ones in English."""
    ru = example_timeline("R-0001", "ru")
    en = example_timeline("R-0001", "en")
    assert ru.stages[0].date_text == "понедельник, 2 марта 2026\u202fг."
    assert en.stages[0].date_text == "Monday, March 2, 2026"
    result, index, pathway = planned(choice_problem())
    may = build_timeline(result, index, pathway, language="ru")
    assert may.stages[0].date_text == "понедельник, 18 мая 2026\u202fг."
    assert "Далее:" in (may.stages[0].next_text or "")


def test_english_and_russian_labels_differ_and_come_from_the_pathway() -> None:
    """The label follows the language: the stage's public title in ru or en."""
    ru = example_timeline("R-0001", "ru")
    en = example_timeline("R-0001", "en")
    assert ru.stages[0].label == "Консультация специалиста"
    assert en.stages[0].label == "Specialist consultation"


def test_cyrillic_names_are_kept_whole_in_html_and_json() -> None:
    """Long Cyrillic facility names and addresses reach the page and JSON unshortened, as text."""
    timeline = example_timeline("R-0001", "ru")
    page = html.unescape(patient_page(timeline, timeline_ics(timeline)))
    name = 'СПб ГБУЗ "Госпиталь для ветеранов войн" Центр амбулаторной онкологической помощи'
    assert name in page
    assert "193079, Санкт-Петербург, пр. Дальневосточный, д. 63" in page
    document = json.loads(json.dumps(timeline.model_dump(mode="json"), ensure_ascii=False))
    assert document["items"][0]["facility_name"] == name


def test_a_result_without_route_is_refused() -> None:
    """A timeline needs a route: an infeasible result raises, naming the record and field."""
    result, index, pathway = planned(choice_problem())
    empty = result.model_copy(update={"status": SolveStatus.INFEASIBLE, "bookings": ()})
    with pytest.raises(InvalidInputError) as info:
        build_timeline(empty, index, pathway)
    assert info.value.field == "status"


def test_same_input_same_timeline() -> None:
    """Determinism: two builds are equal, and the issued moment defaults to the referral."""
    first = example_timeline("R-0002")
    assert first == example_timeline("R-0002")
    assert first.issued == load_example().request("R-0002").referral


# --------------------------------------------------------------------------- discretion


def _forbidden() -> list[re.Pattern[str]]:
    """Each code, pathway id and title, deadline title and clinical stage title of the catalogue."""
    catalogue = Catalogue.builtin()
    words: set[str] = set()
    codes: set[str] = set()
    for pathway in catalogue:
        words.update({pathway.id, pathway.title.ru, pathway.title.en})
        for deadline in pathway.deadlines:
            words.update({deadline.title.ru, deadline.title.en})
        public = " ".join(
            f"{s.public_title.ru} {s.public_title.en}"
            for s in pathway.stages
            if s.public_title is not None
        )
        for stage in pathway.stages:
            words.update(t for t in (stage.title.ru, stage.title.en) if t not in public)
        codes.update(pathway.applicability.codes)
    patterns = [re.compile(re.escape(w), re.IGNORECASE) for w in words]
    for code in codes:
        cyrillic = code.translate(str.maketrans("ABCEHKMOPTX", "АВСЕНКМОРТХ"))
        for variant in {code, cyrillic}:
            patterns.append(re.compile(rf"(?<![0-9A-Za-zА-Яа-я]){re.escape(variant)}(?![0-9])"))
    return patterns


def _rendered(timeline_language: str) -> list[str]:
    texts = []
    problem = load_example()
    for request in problem.requests:
        timeline = example_timeline(request.id, timeline_language)
        ics = timeline_ics(timeline, revision=1)
        page = re.sub(r'href="data:[^"]*"', 'href=""', patient_page(timeline, ics))
        texts += [
            page,
            html.unescape(page),
            ics.decode(),
            cancellation_ics(timeline, revision=2).decode(),
            json.dumps(timeline.model_dump(mode="json"), ensure_ascii=False),
        ]
    return texts


@pytest.mark.parametrize("language", ["ru", "en"])
def test_nothing_names_the_diagnosis_or_the_pathway(language: str) -> None:
    """No code, pathway id or title, deadline or clinical stage title in page, .ics or JSON."""
    patterns = _forbidden()
    assert len(patterns) > 40
    for text in _rendered(language):
        unfolded = text.replace("\r\n ", "")
        for pattern in patterns:
            assert not pattern.search(unfolded), pattern.pattern


def test_the_discretion_check_would_catch_a_leak() -> None:
    """The forbidden patterns do match a pathway title and a code, so the check above can fail."""
    patterns = _forbidden()
    leak = "Подозрение на рак лёгкого, С34.1"
    assert sum(bool(p.search(leak)) for p in patterns) >= 2
    assert not any(p.search("DTSTART:20260302T030000 UID:d2044a98e11c34") for p in patterns)
