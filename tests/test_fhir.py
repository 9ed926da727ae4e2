"""The FHIR Bundle adapter: statuses, versions, mapping, malformed entries and strictness."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nosology.pathway import ServiceRef, VisitMode
from routing.adapters.fhir import (
    LEVEL_EXTENSION_URL,
    SLOT_STATUSES,
    FhirBundleSource,
    FhirOptions,
    parse_bundle,
    service_system,
)
from routing.adapters.fhir_rest import FhirRestSource
from routing.adapters.source import SlotSource
from routing.exceptions import InvalidInputError, InvalidProblemError

NMU = "urn:oid:1.2.643.5.1.13.13.11.1070"
T0 = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)
WINDOW = (T0 - timedelta(days=1), T0 + timedelta(days=30))


def concept(code: str, system: str = NMU) -> dict[str, Any]:
    """A CodeableConcept with one coding."""
    return {"coding": [{"system": system, "code": code}]}


def service_type(code: str, version: str, system: str = NMU) -> list[dict[str, Any]]:
    """Slot/Schedule.serviceType in the shape of ``version``."""
    return [concept(code, system) if version == "R4" else {"concept": concept(code, system)}]


def slot(
    sid: str,
    *,
    status: str = "free",
    minutes: int = 0,
    version: str = "R5",
    code: str | None = "A06.09.005",
    schedule: str = "Schedule/sch1",
    **extra: Any,
) -> dict[str, Any]:
    """A Slot resource 30 minutes long, ``minutes`` after T0."""
    start = T0 + timedelta(minutes=minutes)
    resource: dict[str, Any] = {
        "resourceType": "Slot",
        "id": sid,
        "schedule": {"reference": schedule},
        "status": status,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
    }
    if code is not None:
        resource["serviceType"] = service_type(code, version)
    resource.update(extra)
    return resource


def bundle(*resources: dict[str, Any], kind: str = "searchset") -> dict[str, Any]:
    """A Bundle of ``resources`` with fullUrls."""
    return {
        "resourceType": "Bundle",
        "type": kind,
        "entry": [
            {"fullUrl": f"http://x/fhir/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }


def support(actors: list[str] | None = None, **schedule_extra: Any) -> list[dict[str, Any]]:
    """A Schedule with a practitioner and a Location actor, plus those resources."""
    location = {
        "resourceType": "Location",
        "id": "loc1",
        "name": "Polyclinic 1",
        "position": {"latitude": 59.93, "longitude": 30.31},
        "address": {"district": "Central"},
    }
    return [
        {
            "resourceType": "Schedule",
            "id": "sch1",
            "actor": [{"reference": a} for a in (actors or ["Practitioner/p1", "Location/loc1"])],
            **schedule_extra,
        },
        {"resourceType": "Practitioner", "id": "p1"},
        location,
    ]


def read(data: dict[str, Any], **options: Any) -> Any:
    """``parse_bundle`` over the default window."""
    return parse_bundle(data, FhirOptions(**options), start=WINDOW[0], end=WINDOW[1])


@pytest.mark.parametrize("version", ["R4", "R5"])
@pytest.mark.parametrize("status", SLOT_STATUSES)
def test_only_free_slots_are_offered(version: str, status: str) -> None:
    """A slot of each status in each version: only ``free`` is offered, every status is counted."""
    result = read(bundle(slot("s1", status=status, version=version), *support()))
    assert result.stats.version == ("R4B" if version == "R4" else "R5")
    assert result.stats.by_status == {status: 1}
    assert result.batch.issues == ()
    assert [s.id for s in result.batch.slots] == (["fhir:s1"] if status == "free" else [])


@pytest.mark.parametrize("version", ["R4", "R5"])
def test_slot_mapping(version: str) -> None:
    """Slot and Location fields map to the documented Slot and Facility fields."""
    result = read(bundle(slot("s1", version=version), *support()), version=version)
    (mapped,) = result.batch.slots
    assert mapped.facility_id == "fhir:loc1"
    assert mapped.service == ServiceRef(system="nmu", code="A06.09.005")
    assert mapped.start == T0
    assert mapped.duration == timedelta(minutes=30)
    assert mapped.resource == "Practitioner/p1"
    assert mapped.capacity == 1
    assert mapped.mode is VisitMode.IN_PERSON
    (facility,) = result.batch.facilities
    assert facility.name == "Polyclinic 1"
    assert facility.district == "Central"
    assert facility.level == 1
    assert facility.location is not None
    assert facility.location.lat == pytest.approx(59.93)
    assert facility.services == (mapped.service,)


def test_overbooked_free_slot_is_not_offered_unless_asked() -> None:
    """An overbooked free slot is skipped and counted; with offer_overbooked it has capacity 1."""
    data = bundle(slot("s1", overbooked=True), slot("s2", minutes=60), *support())
    result = read(data)
    assert [s.id for s in result.batch.slots] == ["fhir:s2"]
    assert result.stats.overbooked == 1
    offered = read(data, offer_overbooked=True)
    assert [s.capacity for s in offered.batch.slots] == [1, 1]


def test_service_falls_back_to_schedule_then_healthcare_service() -> None:
    """Without Slot.serviceType the Schedule's, then the HealthcareService's type is used."""
    from_schedule = read(
        bundle(slot("s1", code=None), *support(serviceType=service_type("A05.01", "R5")))
    )
    assert str(from_schedule.batch.slots[0].service) == "nmu:A05.01"
    healthcare = {
        "resourceType": "HealthcareService",
        "id": "hs1",
        "type": [concept("B01.027.001")],
        "location": [{"reference": "Location/loc1"}],
    }
    via_service = read(
        bundle(slot("s1", code=None), *support(["HealthcareService/hs1"]), healthcare)
    )
    (mapped,) = via_service.batch.slots
    assert str(mapped.service) == "nmu:B01.027.001"
    assert mapped.facility_id == "fhir:loc1"
    assert mapped.resource == "Schedule/sch1"


def test_r5_service_type_reference_to_healthcare_service() -> None:
    """An R5 serviceType CodeableReference without concept uses the referenced service's type."""
    healthcare = {"resourceType": "HealthcareService", "id": "hs1", "type": [concept("A04.16")]}
    data = bundle(
        slot("s1", code=None, serviceType=[{"reference": {"reference": "HealthcareService/hs1"}}]),
        *support(),
        healthcare,
    )
    assert str(read(data).batch.slots[0].service) == "nmu:A04.16"


def test_facility_via_practitioner_role_and_level_sources() -> None:
    """A PractitionerRole's location gives the facility; levels come from options or extension."""
    role = {
        "resourceType": "PractitionerRole",
        "id": "pr1",
        "location": [{"reference": "Location/loc1"}],
    }
    resources = [slot("s1"), *support(["PractitionerRole/pr1"]), role]
    resources[3]["extension"] = [{"url": LEVEL_EXTENSION_URL, "valueInteger": 2}]
    result = read(bundle(*resources))
    assert result.batch.slots[0].resource == "PractitionerRole/pr1"
    assert result.batch.facilities[0].level == 2
    assert read(bundle(*resources), levels={"loc1": 3}).batch.facilities[0].level == 3


def test_unknown_system_gets_a_slug_and_known_systems_map() -> None:
    """Known systems map to their names; others become a valid slug; callers may add systems."""
    assert service_system("https://nsi.rosminzdrav.ru/dictionaries/1.2.643.5.1.13.13.11.1070") == (
        "nmu"
    )
    slug = service_system("http://terminology.hl7.org/CodeSystem/service-type")
    ServiceRef(system=slug, code="57")  # valid as a ServiceRef system
    assert len(slug) <= 40
    assert service_system("urn:oid:1.2.3.4.5", {"1.2.3.4.5": "fer"}) == "fer"


def test_remote_slot_by_virtual_appointment_type() -> None:
    """An appointmentType coded ActCode VR makes the slot remote; VR of another system does not."""
    act_code = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    virtual = [{"coding": [{"system": act_code, "code": "VR"}]}]
    result = read(bundle(slot("s1", appointmentType=virtual), *support()))
    assert result.batch.slots[0].mode is VisitMode.REMOTE
    other = [{"coding": [{"system": "urn:example:local", "code": "VR"}]}]
    result = read(bundle(slot("s1", appointmentType=other), *support()))
    assert result.batch.slots[0].mode is VisitMode.IN_PERSON


def test_window_and_service_filters() -> None:
    """Slots outside the window or of other services are not offered but counted."""
    data = bundle(slot("s1"), slot("s2", minutes=60 * 24 * 40), slot("s3", code="A99"), *support())
    result = parse_bundle(
        data,
        start=WINDOW[0],
        end=WINDOW[1],
        services=[ServiceRef(system="nmu", code="A06.09.005")],
    )
    assert [s.id for s in result.batch.slots] == ["fhir:s1"]
    assert result.stats.outside == 2


def issues_of(data: dict[str, Any], **options: Any) -> list[tuple[str, str]]:
    """(record, field) of every issue reading ``data``."""
    return [(i.record, i.field) for i in read(data, **options).batch.issues]


def test_end_not_after_start_is_an_issue() -> None:
    """A slot whose end is not after its start is an issue naming the entry and 'end'."""
    bad = slot("s1")
    bad["end"] = bad["start"]
    data = bundle(bad, slot("s2", minutes=60), *support())
    assert issues_of(data) == [("Bundle.entry[0] (Slot/s1)", "end")]
    assert len(read(data).batch.slots) == 1


def test_status_outside_value_set_is_an_issue() -> None:
    """A status outside the SlotStatus value set is an issue on 'status'."""
    assert issues_of(bundle(slot("s1", status="open"), *support())) == [
        ("Bundle.entry[0] (Slot/s1)", "status")
    ]


def test_duplicate_full_url_and_slot_id_are_issues() -> None:
    """A repeated fullUrl or Slot id is an issue on the later entry, which is skipped."""
    data = bundle(slot("s1"), *support())
    data["entry"].append(copy.deepcopy(data["entry"][0]))
    twin = copy.deepcopy(data["entry"][0])
    twin["fullUrl"] = "urn:uuid:0c3f0c1e-1111-4a6b-9d9e-000000000001"
    data["entry"].append(twin)
    assert issues_of(data) == [
        ("Bundle.entry[4] (Slot/s1)", "fullUrl"),
        ("Bundle.entry[5] (Slot/s1)", "resource.id"),
    ]
    assert len(read(data).batch.slots) == 1


def test_references_outside_the_bundle_are_issues() -> None:
    """A missing Schedule or Location fails the slot; a missing, unneeded actor is reported once."""
    no_schedule = bundle(slot("s1", schedule="Schedule/none"), *support())
    assert issues_of(no_schedule) == [("Bundle.entry[0] (Slot/s1)", "schedule")]
    missing_actor = bundle(
        slot("s1"), slot("s2", minutes=60), *support(["Practitioner/zz", "Location/loc1"])
    )
    result = read(missing_actor)
    assert [(i.record, i.field) for i in result.batch.issues] == [
        ("Bundle.entry[2] (Schedule/sch1)", "actor[0]")
    ]
    assert len(result.batch.slots) == 2
    no_location = bundle(slot("s1"), *support(["Practitioner/p1"]))
    assert issues_of(no_location) == [("Bundle.entry[0] (Slot/s1)", "schedule")]


def test_naive_datetimes_rejected_or_read_in_the_named_zone() -> None:
    """A start without offset is an issue, unless a zone is named: then it is local time there."""
    naive = slot("s1")
    naive["start"], naive["end"] = "2026-05-12T09:00:00", "2026-05-12T09:30:00"
    data = bundle(naive, *support())
    assert issues_of(data) == [("Bundle.entry[0] (Slot/s1)", "start")]
    (mapped,) = read(data, timezone="Europe/Moscow").batch.slots
    assert mapped.start == datetime(2026, 5, 12, 6, 0, tzinfo=UTC)
    with pytest.raises(InvalidInputError, match="timezone"):
        read(data, timezone="Mars/Olympus")


def test_invalid_fhir_is_an_issue_naming_entry_and_field() -> None:
    """A resource the fhir.resources model rejects is an issue naming the entry and the field."""
    r4_in_r5 = slot("s1", version="R4")
    data = bundle(r4_in_r5, slot("s2", minutes=60), *support())
    issues = read(data, version="R5").batch.issues
    assert [(i.record, i.field) for i in issues] == [
        ("Bundle.entry[0] (Slot/s1)", "serviceType.0.coding")
    ]
    assert "R5" in issues[0].reason


def test_malformed_entries_are_issues() -> None:
    """Entries that are not objects, lack a resource, type or id are issues by position."""
    data = bundle(slot("s1"), *support())
    data["entry"] += [
        3,
        {},
        {"resource": {"id": "x"}},
        {"resource": {"resourceType": "Slot"}},
        {"resource": {"resourceType": "Patient", "id": "p"}},  # not ours: ignored
    ]
    assert issues_of(data) == [
        ("Bundle.entry[4]", ""),
        ("Bundle.entry[5]", "resource"),
        ("Bundle.entry[6]", "resource.resourceType"),
        ("Bundle.entry[7]", "resource.id"),
    ]


def test_strict_raises_every_issue() -> None:
    """With strict=True the issues are raised together as an InvalidProblemError."""
    data = bundle(slot("s1", status="open"), slot("s2", schedule="Schedule/none"), *support())
    with pytest.raises(InvalidProblemError) as caught:
        read(data, strict=True)
    assert len(caught.value.issues) == 2


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], ""),
        ({"resourceType": "Patient"}, "resourceType"),
        ({"resourceType": "Bundle", "type": "transaction"}, "type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": {}}, "entry"),
    ],
)
def test_not_a_usable_bundle_raises(document: Any, field: str) -> None:
    """A document that is not a searchset/collection Bundle raises, naming the field."""
    with pytest.raises(InvalidInputError) as caught:
        parse_bundle(document)
    assert caught.value.field == field


def test_invalid_json_text_raises() -> None:
    """Text that is not JSON raises an InvalidInputError naming the line."""
    with pytest.raises(InvalidInputError, match="line 1"):
        parse_bundle("{not json")


def test_bundle_source_reads_a_file(tmp_path: Path) -> None:
    """FhirBundleSource is a SlotSource reading a Bundle file, named after it."""
    path = tmp_path / "slots.json"
    path.write_text(json.dumps(bundle(slot("s1"), *support())), encoding="utf-8")
    source = FhirBundleSource(path)
    assert isinstance(source, SlotSource)
    assert source.name == "fhir:slots.json"
    batch = source.fetch(*WINDOW)
    assert [s.id for s in batch.slots] == ["fhir:s1"]
    with pytest.raises(InvalidInputError):
        source.fetch(T0.replace(tzinfo=None), WINDOW[1])


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    ["resourceType", "id", "status", "start", "end", "schedule", "serviceType", "actor", "entry"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        JSON,
        st.builds(
            lambda entries: {"resourceType": "Bundle", "type": "searchset", "entry": entries},
            st.lists(st.dictionaries(st.sampled_from(["resource", "fullUrl"]), JSON), max_size=4),
        ),
        st.builds(
            lambda extra: bundle({**slot("s1"), **extra}, *support()),
            st.dictionaries(FIELDS, JSON, max_size=3),
        ),
    )
)
def test_arbitrary_json_raises_only_library_errors(document: Any) -> None:
    """Arbitrary JSON gives a batch with issues or an InvalidInputError, nothing else."""
    try:
        result = read(document)
    except InvalidInputError:
        return
    assert result.stats.offered == len(result.batch.slots)


# -- REST ------------------------------------------------------------------------------------


class FhirServer:
    """A loopback FHIR server whose Slot search returns ``pages`` bundles, linked by ``next``."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.fail_page: int | None = None
        self.delay = 0.0
        self.metadata: dict[str, Any] | None = None
        self.next_host: str | None = None
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

            def do_GET(self) -> None:
                """Serve the metadata or one page of the Slot search."""
                server.requests.append(self.path)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path.endswith("/metadata"):
                    if server.metadata is None:
                        self.send_error(404)
                        return
                    self.reply(server.metadata)
                    return
                page = int(query.get("page", ["1"])[0])
                if page == server.fail_page:
                    self.send_error(503)
                    return
                if server.delay:
                    time.sleep(server.delay)
                body = copy.deepcopy(server.pages[page - 1])
                if page < len(server.pages):
                    host = server.next_host or f"127.0.0.1:{server.httpd.server_address[1]}"
                    body["link"] = [
                        {"relation": "next", "url": f"http://{host}/fhir/Slot?page={page + 1}"}
                    ]
                self.reply(body)

            def reply(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)  # the client may have given up (the timeout test)

        return Handler

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[FhirServer]:
    """A loopback FHIR server with three pages of 4 slots, the supporting resources on each."""
    fake = FhirServer()
    for page in range(3):
        slots = [slot(f"s{page}-{i}", minutes=60 * (4 * page + i)) for i in range(4)]
        fake.pages.append(bundle(*slots, *support()))
    yield fake
    fake.close()


def test_rest_reads_all_pages(server: FhirServer) -> None:
    """Three pages are followed; included resources repeated on each page count once."""
    source = FhirRestSource(server.base, include_actors=False)
    assert isinstance(source, SlotSource)
    batch = source.fetch(*WINDOW)
    assert len(batch.slots) == 12
    assert batch.issues == ()
    assert len(batch.facilities) == 1
    first = parse_qs(urlsplit(server.requests[0]).query)
    assert first["start"] == ["ge" + WINDOW[0].isoformat(), "lt" + WINDOW[1].isoformat()]
    assert first["status"] == ["free"]
    assert first["_include"] == ["Slot:schedule"]
    assert "_include:iterate" not in first


def test_rest_asks_for_actor_includes_when_the_server_lists_them(server: FhirServer) -> None:
    """A CapabilityStatement listing Schedule:actor makes the search ask _include:iterate."""
    server.metadata = {
        "resourceType": "CapabilityStatement",
        "rest": [{"resource": [{"type": "Slot", "searchInclude": ["Schedule:actor"]}]}],
    }
    FhirRestSource(server.base).fetch(*WINDOW)
    query = parse_qs(urlsplit(server.requests[1]).query)
    assert "Schedule:actor" in query["_include:iterate"]


def test_rest_server_declaring_stu3_is_named(server: FhirServer) -> None:
    """A CapabilityStatement with fhirVersion 3.0.2 makes the search's bundles an STU3 error."""
    server.metadata = {"resourceType": "CapabilityStatement", "fhirVersion": "3.0.2"}
    with pytest.raises(InvalidInputError, match="STU3") as caught:
        FhirRestSource(server.base).fetch(*WINDOW)
    assert caught.value.field == "fhirVersion"


def test_rest_server_declared_version_is_the_one_read(server: FhirServer) -> None:
    """The declared version decides: R5-shaped pages read under 5.0.0, refused under 4.0.1."""
    server.metadata = {"resourceType": "CapabilityStatement", "fhirVersion": "5.0.0"}
    batch = FhirRestSource(server.base).fetch(*WINDOW)
    assert batch.slots
    assert not batch.issues
    server.metadata["fhirVersion"] = "4.0.1"
    batch = FhirRestSource(server.base).fetch(*WINDOW)
    assert not batch.slots
    assert all("R4B" in issue.reason for issue in batch.issues)


def test_rest_without_metadata_does_not_ask_iterate(server: FhirServer) -> None:
    """No CapabilityStatement (404) means no _include:iterate."""
    FhirRestSource(server.base).fetch(*WINDOW)
    assert "_include%3Aiterate" not in server.requests[1]
    assert "_include:iterate" not in parse_qs(urlsplit(server.requests[1]).query)


def test_rest_page_limit_is_an_issue(server: FhirServer) -> None:
    """Reaching max_pages keeps what was read and reports that more exist."""
    batch = FhirRestSource(server.base, include_actors=False, max_pages=2).fetch(*WINDOW)
    assert len(batch.slots) == 8
    assert [i.reason for i in batch.issues] == ["stopped after 2 pages; more exist"]


def test_rest_slot_limit_is_an_issue(server: FhirServer) -> None:
    """Reaching max_slots stops reading and is reported."""
    batch = FhirRestSource(server.base, include_actors=False, max_slots=5).fetch(*WINDOW)
    assert len(batch.slots) == 8
    assert "max_slots" in batch.issues[0].reason


def test_rest_server_error_is_retryable_and_keeps_earlier_pages(server: FhirServer) -> None:
    """HTTP 503 on page 2 is a retryable issue; page 1's slots are kept."""
    server.fail_page = 2
    batch = FhirRestSource(server.base, include_actors=False).fetch(*WINDOW)
    assert len(batch.slots) == 4
    (issue,) = batch.issues
    assert (issue.record, issue.retryable) == ("page 2", True)
    assert "503" in issue.reason
    with pytest.raises(InvalidProblemError):
        FhirRestSource(server.base, FhirOptions(strict=True), include_actors=False).fetch(*WINDOW)


def test_rest_timeout_is_retryable(server: FhirServer) -> None:
    """A server slower than the timeout gives a retryable issue, not an exception."""
    server.delay = 0.5
    batch = FhirRestSource(server.base, include_actors=False, timeout=0.1).fetch(*WINDOW)
    assert batch.slots == ()
    assert [(i.record, i.retryable) for i in batch.issues] == [("page 1", True)]


def test_rest_next_link_to_another_host_is_not_followed(server: FhirServer) -> None:
    """A next link that leaves the server is reported and not followed."""
    server.next_host = "example.invalid"
    batch = FhirRestSource(server.base, include_actors=False).fetch(*WINDOW)
    assert len(batch.slots) == 4
    assert batch.issues[0].reason == "the next link leaves the server"


def test_rest_unreachable_server_is_retryable() -> None:
    """A closed port gives a retryable issue."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    batch = FhirRestSource(f"http://127.0.0.1:{port}/fhir", include_actors=False).fetch(*WINDOW)
    assert [i.retryable for i in batch.issues] == [True]


@pytest.mark.parametrize("url", ["ftp://x/fhir", "fhir", "http://"])
def test_rest_rejects_bad_base_url(url: str) -> None:
    """Only http(s) URLs with a host are accepted."""
    with pytest.raises(InvalidInputError, match="base_url"):
        FhirRestSource(url)
