"""FHIR bundles as aggregators publish them: contained, included, telehealth, versions."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nosology.pathway import ServiceRef, VisitMode
from routing.adapters.fhir import (
    SLOT_CAPACITY_EXTENSION_URL,
    VIRTUAL_EXTENSION_URL,
    FhirBundleSource,
    FhirOptions,
    parse_bundle,
    service_system,
)
from routing.exceptions import InvalidInputError

DATA = Path(__file__).parent / "data" / "fhir"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PHYSICAL = "http://terminology.hl7.org/CodeSystem/location-physical-type"
SERVICE_TYPE = service_system("http://terminology.hl7.org/CodeSystem/service-type")
SNOMED = service_system("http://snomed.info/sct")
T0 = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    """A fixture bundle from tests/data/fhir."""
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def concept(system: str, code: str) -> dict[str, Any]:
    """A CodeableConcept with one coding."""
    return {"coding": [{"system": system, "code": code}]}


def bundle(*resources: dict[str, Any], base: str = "https://ehr.example/fhir/") -> dict[str, Any]:
    """An R4 searchset of ``resources`` with fullUrls on ``base``."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"fullUrl": f"{base}{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }


def slot(sid: str, minutes: int = 0, **extra: Any) -> dict[str, Any]:
    """An R4 free Slot of service-type 124 on Schedule/sch, 30 minutes from T0 + ``minutes``."""
    start = T0 + timedelta(minutes=minutes)
    return {
        "resourceType": "Slot",
        "id": sid,
        "schedule": {"reference": "Schedule/sch"},
        "status": "free",
        "serviceType": [concept("http://terminology.hl7.org/CodeSystem/service-type", "124")],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        **extra,
    }


def schedule(*actors: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Schedule/sch with ``actors`` (references or logical references)."""
    return {"resourceType": "Schedule", "id": "sch", "actor": list(actors), **extra}


def location(lid: str = "loc", **extra: Any) -> dict[str, Any]:
    """A Location."""
    return {"resourceType": "Location", "id": lid, "name": f"Place {lid}", **extra}


def ref(text: str) -> dict[str, Any]:
    """A literal reference."""
    return {"reference": text}


def only_slot(data: dict[str, Any], **options: Any) -> Any:
    """The one slot read from ``data``."""
    (mapped,) = parse_bundle(data, FhirOptions(**options)).batch.slots
    return mapped


# -- the aggregator bundle -------------------------------------------------------------------


def test_aggregator_bundle_reads_every_vendor() -> None:
    """Three vendors' agendas: 10 free slots, 8 offered, 2 rejected by name, ids kept apart."""
    read = parse_bundle(DATA / "aggregator_searchset_r4.json")
    assert read.stats.version == "R4B"
    assert (read.stats.free, read.stats.offered, read.stats.rejected) == (10, 8, 2)
    assert read.stats.by_status == {"free": 10, "busy": 1}
    by_id = {s.id: s for s in read.batch.slots}
    assert set(by_id) == {
        "fhir:vendor-a.example/fhir/Slot/1",
        "fhir:4",
        "fhir:vendor-b.example/R4/Slot/1",
        "fhir:vendor-b.example/R4/Slot/2",
        "fhir:vendor-b.example/R4/Slot/3",
        "fhir:c-1",
        "fhir:c-2",
        "fhir:c-3",
    }
    assert [(i.slot, i.field) for i in read.batch.issues] == [
        ("fhir:vendor-a.example/fhir/Slot/3", "overbooked"),  # vendor B has a Slot/3 too
        ("fhir:5", "schedule"),
    ]
    facilities = {f.id: f for f in read.batch.facilities}
    assert by_id["fhir:vendor-a.example/fhir/Slot/1"].facility_id == (
        "fhir:vendor-a.example/fhir/Location/1"
    )
    assert by_id["fhir:vendor-b.example/R4/Slot/3"].facility_id == (
        "fhir:vendor-b.example/R4/Location/1"
    )
    assert facilities["fhir:vendor-a.example/fhir/Location/1"].district == "Berkshire"
    assert facilities["fhir:vendor-b.example/R4/Location/1"].district == "Admiralteysky"


def test_contained_locations_and_schedules_resolve() -> None:
    """A Schedule's contained Location and a Slot's contained Schedule and Location are used."""
    by_id = {s.id: s for s in parse_bundle(DATA / "aggregator_searchset_r4.json").batch.slots}
    in_schedule = by_id["fhir:vendor-b.example/R4/Slot/2"]
    assert in_schedule.facility_id == "fhir:Schedule/sched-7#site"
    assert in_schedule.resource == "Practitioner/1"
    in_slot = by_id["fhir:c-1"]
    assert in_slot.facility_id == "fhir:Slot/c-1#loc"
    assert in_slot.service == ServiceRef(system=SERVICE_TYPE, code="57")
    assert in_slot.resource == "Slot/c-1#s"


def test_logical_references_resolve_by_identifier_and_need_not_resolve() -> None:
    """A Location known by identifier is found; an Organization known only by NPI is no issue."""
    read = parse_bundle(DATA / "aggregator_searchset_r4.json")
    by_id = {s.id: s for s in read.batch.slots}
    assert by_id["fhir:c-2"].facility_id == "fhir:site-7"
    assert all(i.slot is not None for i in read.batch.issues)  # nothing about the Organization


def test_aggregator_telehealth_and_capacity() -> None:
    """Telehealth markers give remote slots at the virtual Location; slot-capacity is kept."""
    by_id = {s.id: s for s in parse_bundle(DATA / "aggregator_searchset_r4.json").batch.slots}
    modes = {sid: s.mode for sid, s in by_id.items()}
    assert modes["fhir:4"] is VisitMode.REMOTE
    assert by_id["fhir:4"].facility_id == "fhir:virtual-a"  # the Schedule's virtual Location
    assert modes["fhir:vendor-a.example/fhir/Slot/1"] is VisitMode.IN_PERSON  # physical one
    assert modes["fhir:vendor-b.example/R4/Slot/1"] is VisitMode.REMOTE  # serviceType VR
    assert by_id["fhir:vendor-b.example/R4/Slot/1"].service.code == "124"  # VR is no service
    assert modes["fhir:c-2"] is VisitMode.REMOTE  # virtual-service-base true
    assert modes["fhir:c-3"] is VisitMode.IN_PERSON  # virtual-service-base false
    assert by_id["fhir:c-3"].capacity == 4
    assert by_id["fhir:c-2"].capacity == 1


def test_bundle_source_reads_the_aggregator_file() -> None:
    """FhirBundleSource over the fixture offers the slots of the window only."""
    batch = FhirBundleSource(DATA / "aggregator_searchset_r4.json").fetch(
        datetime(2026, 5, 12, 12, tzinfo=UTC), datetime(2026, 5, 13, tzinfo=UTC)
    )
    assert {s.id for s in batch.slots} == {
        "fhir:vendor-a.example/fhir/Slot/1",
        "fhir:4",
        "fhir:vendor-b.example/R4/Slot/3",
    }


# -- references ------------------------------------------------------------------------------


def test_relative_reference_resolves_on_the_referring_server() -> None:
    """Two servers' Location/1: a relative reference takes the one on its own fullUrl base."""
    here = bundle(slot("s1"), schedule(ref("Location/1")), location("1"), base="https://a/f/")
    there = bundle(location("1", name="Elsewhere"), base="https://b/f/")
    data = {**here, "entry": here["entry"] + there["entry"]}
    read = parse_bundle(data)
    assert read.batch.slots[0].facility_id == "fhir:a/f/Location/1"
    assert [f.name for f in read.batch.facilities] == ["Place 1"]


def test_missing_contained_reference_rejects_the_slot() -> None:
    """A '#id' that the container does not hold rejects the slot, naming it and the schedule."""
    data = bundle(slot("s1"), schedule(ref("#nowhere"), contained=[location("elsewhere")]))
    read = parse_bundle(data)
    assert read.batch.slots == ()
    assert [(i.slot, i.field) for i in read.batch.issues if i.slot] == [("fhir:s1", "schedule")]
    assert [i.field for i in read.batch.issues if not i.slot] == ["actor[0]"]


def test_ambiguous_identifier_does_not_resolve() -> None:
    """A logical reference matching two Locations resolves to neither."""
    identifier = {"system": "urn:example:sites", "value": "7"}
    logical = {"type": "Location", "identifier": identifier}
    places = [location(lid, identifier=[identifier]) for lid in ("a", "b")]
    read = parse_bundle(bundle(slot("s1"), schedule(logical), *places))
    assert read.batch.slots == ()
    assert [i.slot for i in read.batch.issues] == ["fhir:s1"]
    unique = parse_bundle(bundle(slot("s1"), schedule(logical), places[0]))
    assert unique.batch.slots[0].facility_id == "fhir:a"


def test_invalid_contained_resource_is_an_issue() -> None:
    """A contained Location the model rejects is an issue naming its container and position."""
    bad = location("x", position={"latitude": "north"})
    read = parse_bundle(bundle(slot("s1"), schedule(ref("#x"), contained=[bad])))
    records = [i.record for i in read.batch.issues]
    assert "Bundle.entry[1] (Schedule/sch) contained[0]" in records
    assert [i.slot for i in read.batch.issues if i.slot] == ["fhir:s1"]


# -- telehealth ------------------------------------------------------------------------------

VR = concept(ACT, "VR")
MARKERS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    # name: (slot extra, schedule extra, location extra)
    "slot appointmentType": ({"appointmentType": VR}, {}, {}),
    "slot serviceCategory": ({"serviceCategory": [VR]}, {}, {}),
    "slot extension": (
        {"extension": [{"url": VIRTUAL_EXTENSION_URL, "valueBoolean": True}]},
        {},
        {},
    ),
    "schedule serviceCategory": ({}, {"serviceCategory": [VR]}, {}),
    "schedule serviceType": ({}, {"serviceType": [VR]}, {}),
    "location physicalType": ({}, {}, {"physicalType": concept(PHYSICAL, "vi")}),
    "location type": ({}, {}, {"type": [VR]}),
    "location extension": ({}, {}, {"extension": [{"url": VIRTUAL_EXTENSION_URL}]}),
    "legacy ActCode URL": (
        {"appointmentType": concept("http://hl7.org/fhir/v3/ActCode", "VR")},
        {},
        {},
    ),
}


@pytest.mark.parametrize("marker", sorted(MARKERS))
def test_each_telehealth_marker_makes_the_slot_remote(marker: str) -> None:
    """Every documented marker, alone, makes the slot remote and leaves its service alone."""
    slot_extra, schedule_extra, location_extra = MARKERS[marker]
    data = bundle(
        slot("s1", **slot_extra),
        schedule(ref("Location/loc"), **schedule_extra),
        location(**location_extra),
    )
    mapped = only_slot(data)
    assert mapped.mode is VisitMode.REMOTE
    assert mapped.service == ServiceRef(system=SERVICE_TYPE, code="124")


def test_no_marker_is_in_person_and_v2_0276_is_not_a_marker() -> None:
    """Without a marker (an appointmentType of v2 table 0276 included) the slot is in person."""
    routine = concept("http://terminology.hl7.org/CodeSystem/v2-0276", "FOLLOWUP")
    data = bundle(slot("s1", appointmentType=routine), schedule(ref("Location/loc")), location())
    assert only_slot(data).mode is VisitMode.IN_PERSON


def test_healthcare_service_marker_and_specialty_as_service() -> None:
    """A virtual HealthcareService makes slots remote; a VR-only serviceType yields to specialty."""
    service = {
        "resourceType": "HealthcareService",
        "id": "hs",
        "type": [VR],
        "location": [ref("Location/loc")],
    }
    specialty = [concept("http://snomed.info/sct", "394814009")]
    data = bundle(
        slot("s1", serviceType=[VR], specialty=specialty),
        schedule(ref("HealthcareService/hs")),
        service,
        location(),
    )
    mapped = only_slot(data)
    assert mapped.mode is VisitMode.REMOTE
    assert mapped.service == ServiceRef(system=SNOMED, code="394814009")


def test_r5_virtual_service_location_is_remote() -> None:
    """An R5 Location with virtualService gives remote slots; v2-0276 FOLLOWUP does not matter."""
    read = parse_bundle(DATA / "r5_virtual_service.json")
    assert read.stats.version == "R5"
    (mapped,) = read.batch.slots
    assert mapped.mode is VisitMode.REMOTE
    assert mapped.service == ServiceRef(system=SNOMED, code="394814009")


def test_caller_virtual_codings() -> None:
    """A caller's own telehealth coding marks slots remote and is never their service."""
    local = ("urn:oid:1.2.643.5.1.13.13.99.2.1", "TMK")
    data = bundle(
        slot("s1", appointmentType=concept(*local)), schedule(ref("Location/loc")), location()
    )
    assert only_slot(data).mode is VisitMode.IN_PERSON
    assert only_slot(data, virtual_codings=[local]).mode is VisitMode.REMOTE


# -- capacity --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "capacity"), [(5, 5), (1, 1), (0, None), (-2, None)])
def test_slot_capacity_extension(value: int, capacity: int | None) -> None:
    """slot-capacity sets the capacity; a value below 1 rejects the slot by name."""
    extension = [{"url": SLOT_CAPACITY_EXTENSION_URL, "valueInteger": value}]
    read = parse_bundle(
        bundle(slot("s1", extension=extension), schedule(ref("Location/loc")), location())
    )
    assert [s.capacity for s in read.batch.slots] == ([] if capacity is None else [capacity])
    assert [i.slot for i in read.batch.issues] == ([] if capacity else ["fhir:s1"])


# -- versions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "release", "evidence"),
    [
        ("stu3_searchset.json", "STU3", "Slot.serviceCategory is a single CodeableConcept"),
        ("dstu2_searchset.json", "DSTU2", "a Slot with freeBusyType"),
    ],
)
def test_older_versions_raise_naming_the_version(name: str, release: str, evidence: str) -> None:
    """STU3 and DSTU2 bundles raise an error naming the version and what showed it."""
    with pytest.raises(InvalidInputError) as caught:
        parse_bundle(DATA / name)
    assert caught.value.field == "fhirVersion"
    assert f"FHIR {release} bundle" in caught.value.reason
    assert evidence in caught.value.reason
    with pytest.raises(InvalidInputError, match=release):
        parse_bundle(DATA / name, FhirOptions(version="R4"))  # a forced version does not help


def test_dstu2_single_actor_schedule_is_detected() -> None:
    """A Schedule whose actor is one reference (DSTU2) is named as DSTU2."""
    data = bundle(slot("s1"), schedule(), location())
    data["entry"][1]["resource"]["actor"] = ref("Location/loc")
    with pytest.raises(InvalidInputError, match=r"DSTU2.*single reference"):
        parse_bundle(data)


@pytest.mark.parametrize(
    ("declared", "outcome"),
    [
        ("3.0", "STU3"),
        ("3.0.2", "STU3"),
        ("1.0.2", "DSTU2"),
        ("4.0", "R4B"),
        ("4.3.0", "R4B"),
        ("5.0", "R5"),
        ("R4", "R4B"),
        ("9.9", "not one this reader knows"),
    ],
)
def test_declared_version(declared: str, outcome: str) -> None:
    """A declared fhirVersion picks the models, or raises naming the version."""
    data = bundle(slot("s1"), schedule(ref("Location/loc")), location())
    if outcome in ("R4B", "R5"):
        if outcome == "R5":
            data["entry"][0]["resource"]["serviceType"] = [{"concept": concept(ACT, "X")}]
        assert parse_bundle(data, declared_version=declared).stats.version == outcome
        return
    with pytest.raises(InvalidInputError, match=outcome) as caught:
        parse_bundle(data, declared_version=declared)
    assert caught.value.field == "fhirVersion"


def test_guessed_version_is_retried_then_says_what_was_tried() -> None:
    """A wrong guess is retried with the other models; when neither fits the error says so."""
    r4_slot = slot("s1")
    r5_schedule = schedule(ref("Location/loc"), serviceType=[{"concept": concept(ACT, "X")}])
    r5_schedule["serviceType"].append({"concept": concept(ACT, "Y")})  # the guess says R5
    read = parse_bundle(bundle(r4_slot, r5_schedule, location()))
    assert read.stats.version == "R4B"  # no Slot was valid R5: R4B was tried and fits the Slot
    assert [i.slot for i in read.batch.issues if i.slot] == ["fhir:s1"]  # its Schedule is R5
    neither = slot("s2", serviceType="not a list of concepts")
    read = parse_bundle(bundle(neither, schedule(ref("Location/loc")), location()))
    assert read.batch.slots == ()
    (tried,) = [i for i in read.batch.issues if i.record == "Bundle"]
    assert "R5 or R4B" in tried.reason
    assert "both were tried" in tried.reason
    assert [i.slot for i in read.batch.issues if i.slot] == ["fhir:s2"]


# -- every free slot is accounted for --------------------------------------------------------


def _bad_schedule(s: dict[str, Any]) -> None:
    s["schedule"] = ref("Schedule/none")


def _overbooked(s: dict[str, Any]) -> None:
    s["overbooked"] = True


def _backwards(s: dict[str, Any]) -> None:
    s["end"] = s["start"]


def _malformed(s: dict[str, Any]) -> None:
    s["start"] = "yesterday"


def _naive(s: dict[str, Any]) -> None:
    s["start"], s["end"] = s["start"][:19], s["end"][:19]


def _no_id(s: dict[str, Any]) -> None:
    s["id"] = "bad id"


def _no_service(s: dict[str, Any]) -> None:
    del s["serviceType"]


def _busy(s: dict[str, Any]) -> None:
    s["status"] = "busy"


def _busy_backwards(s: dict[str, Any]) -> None:
    s["status"] = "busy"
    s["end"] = s["start"]


def _unknown_status(s: dict[str, Any]) -> None:
    s["status"] = "open"


def _contained_place(s: dict[str, Any]) -> None:
    s["schedule"] = ref("#own")
    s["contained"] = [schedule(ref("#p")) | {"id": "own"}, location("p")]


def _good(s: dict[str, Any]) -> None:
    """Left as it is."""


KINDS = [
    _good,
    _bad_schedule,
    _overbooked,
    _backwards,
    _malformed,
    _naive,
    _no_id,
    _no_service,
    _busy,
    _busy_backwards,
    _unknown_status,
    _contained_place,
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.booleans()), max_size=14))
def test_every_free_slot_is_imported_or_rejected(kinds: list[tuple[Any, bool]]) -> None:
    """In any mix of good, bad, busy and repeated slots: imported + rejected == free slots."""
    resources: list[dict[str, Any]] = []
    for number, (kind, repeat) in enumerate(kinds):
        resource = slot(f"s{number}", minutes=30 * number)
        kind(resource)
        resources.append(resource)
        if repeat:
            resources.append(copy.deepcopy(resource))  # the same Slot twice: a duplicate
    data = bundle(*resources, schedule(ref("Location/loc")), location())
    data["entry"] = [
        {**e, "fullUrl": f"urn:uuid:00000000-0000-4000-8000-{n:012d}"}
        for n, e in enumerate(data["entry"])
    ]
    free = sum(r.get("status") == "free" for r in resources)
    read = parse_bundle(data)
    rejected = [i for i in read.batch.issues if i.slot is not None]
    assert len(read.batch.slots) + len(rejected) == free
    assert (read.stats.free, read.stats.rejected) == (free, len(rejected))
    assert read.stats.offered + read.stats.rejected + read.stats.outside == free
    offered = {s.id for s in read.batch.slots}
    assert all(i.slot not in offered or i.field == "resource.id" for i in rejected)
