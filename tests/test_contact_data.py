"""Contact data for the patient's views: facility address and phone, slot room, stage texts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nosology.catalogue import Catalogue
from nosology.merge import merge_pathways
from nosology.pathway import ServiceRef
from routing.adapters.gorzdrav import (
    appointments_to_slots,
    lpus_to_facilities,
    parse_appointments,
    parse_lpus,
)
from routing.domain import Facility, Slot
from routing.examples import example_text, load_example
from routing.problem import load_problem

DATA = Path(__file__).parent / "data" / "gorzdrav"
_REVEALING = re.compile(
    r"онко|\bрак|опухол|консилиум|беремен|катаракт|диабет|onco|cancer|tumou?r|malignan"
    r"|pregnan|cataract|diabet",
    re.IGNORECASE,
)


def test_portal_facility_keeps_address_and_phone() -> None:
    """The portal's LPU address and phone reach the facility, Cyrillic intact."""
    lpus = parse_lpus((DATA / "DistrictResponse_example.json").read_bytes()).records
    facilities, _ = lpus_to_facilities(lpus)
    gp87 = {f.id: f for f in facilities}["gorzdrav:44"]
    assert gp87.address == "193232, Санкт-Петербург, ул. Дыбенко, д. 21, к. 2, лит. Щ"
    assert gp87.phone == "(812) 241-28-08"


def test_portal_slot_keeps_room_and_address() -> None:
    """An appointment's room and address reach its slot."""
    answer = parse_appointments((DATA / "DoctorAppointmentsResponse_example.json").read_bytes())
    slots, issues = appointments_to_slots(answer.records, "44", ServiceRef(system="fer", code="27"))
    assert issues == ()
    assert slots[0].room == "435"
    assert slots[0].address == "пр. Союзный, дом 3"


def test_blank_contact_fields_become_none() -> None:
    """Blank or control-character-only contact text is dropped, not kept as an empty string."""
    lpus = parse_lpus(
        json.dumps(
            {
                "success": True,
                "result": [{"id": 7, "lpuFullName": "ГП №7", "address": "  ", "phone": "\t"}],
            }
        )
    ).records
    facilities, _ = lpus_to_facilities(lpus)
    assert facilities[0].address is None
    assert facilities[0].phone is None


def test_old_problem_files_still_load() -> None:
    """A problem file without the new fields loads; the fields default to None."""
    problem = load_example()
    assert all(f.address is None or f.address for f in problem.facilities)
    raw = json.loads(example_text())
    for f in raw["facilities"]:
        f.pop("address", None)
        f.pop("phone", None)
    for s in raw["slots"]:
        s.pop("room", None)
    plain = load_problem(raw)
    assert {f.phone for f in plain.facilities} == {None}
    assert {s.room for s in plain.slots} == {None}


def test_contact_fields_round_trip_through_models() -> None:
    """Address, phone and room validate and are kept exactly."""
    facility = Facility(
        id="f", name="Поликлиника", level=1, address="ул. Ленина, 1", phone="+7 812 000-00-00"
    )
    assert facility.address == "ул. Ленина, 1"
    with pytest.raises(ValueError, match="phone"):
        Facility(id="f", name="x", level=1, phone="")
    slot = Slot.model_validate(
        {
            "id": "s",
            "facility_id": "f",
            "service": "nmu:A",
            "start": "2026-05-18T09:00:00+03:00",
            "end": "2026-05-18T09:30:00+03:00",
            "room": "Кабинет 12",
        }
    )
    assert slot.room == "Кабинет 12"


@pytest.mark.parametrize("pathway_id", Catalogue.builtin().ids())
def test_every_builtin_stage_has_patient_texts(pathway_id: str) -> None:
    """Every stage of the built-in pathways has a discreet public title and preparation text."""
    pathway = Catalogue.builtin().get(pathway_id)
    for stage in pathway.stages:
        assert stage.public_title is not None, stage.id
        assert stage.preparation is not None, stage.id
        for text in (stage.public_title, stage.preparation, stage.bring):
            if text is None:
                continue
            for language in (text.ru, text.en):
                assert not _REVEALING.search(language), (stage.id, language)


def test_merged_stage_joins_patient_texts() -> None:
    """Shared stages of merged pathways keep the patient texts of every member, each once."""
    catalogue = Catalogue.builtin()
    merged = merge_pathways([catalogue.get("zno_lung"), catalogue.get("cvd_suspected")])
    consultation = [s for s in merged.stages if s.public_title is not None]
    assert len(consultation) == len(merged.stages)


def test_fhir_location_address_and_phone_reach_the_facility() -> None:
    """A FHIR Location's address (text, or lines with city and postal code) and phone are kept."""
    from routing.adapters.fhir import parse_bundle

    path = Path(__file__).parent / "data" / "fhir" / "aggregator_searchset_r4.json"
    by_id = {f.id: f for f in parse_bundle(path).batch.facilities}
    assert by_id["fhir:vendor-a.example/fhir/Location/1"].address == "01201, 173 Elm St, Pittsfield"
    raw = json.loads(path.read_text(encoding="utf-8"))
    for entry in raw["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Location" and resource.get("name", "").startswith(
            "Vendor A"
        ):
            resource["telecom"] = [
                {"system": "email", "value": "a@example.org"},
                {"system": "phone", "value": " +1 413 555 0100 "},
            ]
            resource.setdefault("address", {})["text"] = "173 Elm St, Pittsfield, MA 01201"
    by_id = {f.id: f for f in parse_bundle(raw).batch.facilities}
    facility = by_id["fhir:vendor-a.example/fhir/Location/1"]
    assert facility.phone == "+1 413 555 0100"
    assert facility.address == "173 Elm St, Pittsfield, MA 01201"
