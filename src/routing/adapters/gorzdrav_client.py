"""The live client of the city appointment portal, and the crawl that turns it into a slot batch.

The client
----------
:class:`GorzdravClient` sends GET requests through the shared HTTP layer
(:class:`routing.adapters.http.HttpClient`: one connection pool, a per-call deadline, redirects that
never carry credentials to another origin, ``Retry-After`` honoured, TLS errors not retried), under
a request-rate limit (a :class:`TokenBucket`). It retries what may succeed later (timeouts,
connection failures, HTTP 5xx and 429, portal errors 603 and 616) up to ``max_attempts`` times,
waiting ``min(backoff_max_s, backoff_initial_s * 2**attempt)`` scaled by ``1 ± jitter`` between
attempts (at least the server's ``Retry-After``). The jitter is drawn from a
:class:`random.Random` seeded with ``(seed, "gorzdrav", path, attempt)``, so a run is repeatable
whatever the order the threads run in.

The crawl
---------
:func:`crawl` walks districts → facilities → specialties (only those whose ``ferId`` a requested
service names) → doctors (skipping those with no free ticket in the window, by ``nearestDate`` and
``lastDate``) → appointments, with at most ``max_concurrency`` requests in flight, and returns what
it could get: a :class:`~routing.adapters.source.SlotBatch` whose issues name every endpoint that
failed, with the kind of failure (:class:`FailureKind`), every record that was rejected and every
inactive facility skipped.
"""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import Field, PositiveFloat, PositiveInt, StringConstraints, field_validator

from nosology.pathway import ServiceRef
from routing.adapters.gorzdrav import (
    SOURCE_NAME,
    Appointment,
    District,
    Doctor,
    GorzdravError,
    GorzdravFormatError,
    Lpu,
    MappingOptions,
    PortalAnswer,
    PortalError,
    PortalModel,
    Specialty,
    TimetableDay,
    appointments_to_slots,
    lpus_to_facilities,
    parse_appointments,
    parse_districts,
    parse_doctors,
    parse_lpus,
    parse_specialties,
    parse_timetable,
    read_envelope,
    specialty_service,
)
from routing.adapters.http import (
    HttpClient,
    HttpError,
    HttpPolicy,
    HttpResponse,
    OwnsHttpClient,
    TokenBucket,
    check_http_url,
)
from routing.adapters.source import SlotBatch, SourceIssue, check_window
from routing.domain import Facility, Slot, record_name
from routing.domain.common import TimezoneName, resolve_timezone

__all__ = [
    "DEFAULT_BASE_URL",
    "ClientConfig",
    "CrawlFailure",
    "CrawlResult",
    "FailureKind",
    "GorzdravClient",
    "GorzdravSource",
    "TokenBucket",
    "TransportError",
    "crawl",
]

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://gorzdrav.spb.ru/_api/api/v2"
"""The portal's public API."""

T = TypeVar("T", bound=PortalModel)
R = TypeVar("R")


class FailureKind(StrEnum):
    """Why a request failed (every :class:`~routing.adapters.http.HttpFailureKind`, and more)."""

    TIMEOUT = "timeout"
    """No answer within the client's timeout."""
    DEADLINE = "deadline"
    """No complete answer within the call's overall deadline (a slow or trickling server)."""
    CONNECTION = "connection"
    """The connection failed or broke off."""
    TLS = "tls"
    """The TLS handshake failed (an untrusted or invalid certificate): not retried."""
    REDIRECT = "redirect"
    """A redirect not followed: too many, https to http, or not to an http(s) URL."""
    HTTP_STATUS = "http_status"
    """An HTTP error status without a portal envelope."""
    MALFORMED = "malformed"
    """An answer that is not the portal's JSON."""
    PORTAL_ERROR = "portal_error"
    """An error envelope from the portal."""
    CLINIC_SYSTEM = "clinic_system"
    """Portal error 603 or 616: the clinic's own system failed."""


class TransportError(GorzdravError):
    """A request that got no usable HTTP answer.

    Parameters
    ----------
    endpoint
        The endpoint path.
    kind
        Any kind but :attr:`FailureKind.PORTAL_ERROR` and :attr:`~FailureKind.CLINIC_SYSTEM`.
    detail
        What happened (no input values).
    retryable
        Whether trying again may succeed.
    """

    def __init__(self, endpoint: str, kind: FailureKind, detail: str, *, retryable: bool) -> None:
        self.endpoint = endpoint
        self.kind = kind
        self.detail = detail
        self.retryable = retryable
        super().__init__(f"{SOURCE_NAME} {endpoint}: {kind.value}: {detail}")

    @classmethod
    def from_http(cls, error: HttpError) -> TransportError:
        """The portal's view of an error of the HTTP layer."""
        return cls(
            error.endpoint, FailureKind(error.kind.value), error.detail, retryable=error.retryable
        )


class ClientConfig(HttpPolicy):
    """How the client talks to the portal: the HTTP policy, the portal and the crawl.

    Attributes
    ----------
    base_url
        The API root (default :data:`DEFAULT_BASE_URL`).
    rate_per_s, burst
        The request-rate limit: on average ``rate_per_s`` requests a second, at most ``burst`` at
        once.
    max_concurrency
        Requests in flight at once during a crawl.
    timezone
        The zone of the portal's naive times.

    The rest (timeouts, deadline, retries, backoff, redirects, TLS, proxies) is
    :class:`~routing.adapters.http.HttpPolicy`.
    """

    base_url: Annotated[str, StringConstraints(max_length=500)] = DEFAULT_BASE_URL
    rate_per_s: PositiveFloat = 5.0
    burst: PositiveInt = 5
    max_concurrency: Annotated[int, Field(ge=1, le=32)] = 4
    timezone: TimezoneName = "Europe/Moscow"

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, url: str) -> str:
        return check_http_url(url)


class GorzdravClient(OwnsHttpClient):
    """A client of the portal's JSON API (GET only), holding one connection pool.

    Each method returns the endpoint's :class:`~routing.adapters.gorzdrav.PortalAnswer` or raises
    a :class:`~routing.adapters.gorzdrav.GorzdravError`: :class:`TransportError`,
    :class:`~routing.adapters.gorzdrav.PortalError` (its subclass
    :class:`~routing.adapters.gorzdrav.PortalRetryableError` after the retries ran out) or
    :class:`~routing.adapters.gorzdrav.GorzdravFormatError`. Close it (or use it in a ``with``
    block) to close its connections.

    Parameters
    ----------
    config
        Timeouts, deadline, retries, rate limit and base URL.
    sleep
        How to wait (backoff and rate limit), injectable for tests.
    """

    def __init__(
        self, config: ClientConfig | None = None, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.config = config or ClientConfig()
        self._zone = resolve_timezone(self.config.timezone)
        self._bucket = TokenBucket(self.config.rate_per_s, self.config.burst, sleep=sleep)
        self._http = HttpClient(
            self.config,
            name=SOURCE_NAME,
            headers={"Accept": "application/json"},
            throttle=self._bucket.acquire,
            sleep=sleep,
        )

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (retries and redirects included)."""
        return self._http.requests

    @property
    def retries(self) -> int:
        """Requests that were retries."""
        return self._http.retries

    # ------------------------------------------------------------------ endpoints

    def districts(self) -> PortalAnswer[District]:
        """``GET /shared/districts``."""
        return self._call(("shared", "districts"), parse_districts)

    def lpus(self, district_id: str) -> PortalAnswer[Lpu]:
        """``GET /shared/district/{districtId}/lpus``."""
        return self._call(("shared", "district", district_id, "lpus"), parse_lpus)

    def specialties(self, lpu_id: str) -> PortalAnswer[Specialty]:
        """``GET /schedule/lpu/{lpuId}/specialties``."""
        return self._timed(("schedule", "lpu", lpu_id, "specialties"), parse_specialties)

    def doctors(self, lpu_id: str, specialty_id: str) -> PortalAnswer[Doctor]:
        """``GET /schedule/lpu/{lpuId}/speciality/{specialtyId}/doctors``."""
        parts = ("schedule", "lpu", lpu_id, "speciality", specialty_id, "doctors")
        return self._timed(parts, parse_doctors)

    def appointments(self, lpu_id: str, doctor_id: str) -> PortalAnswer[Appointment]:
        """``GET /schedule/lpu/{lpuId}/doctor/{doctorId}/appointments`` (free slots)."""
        parts = ("schedule", "lpu", lpu_id, "doctor", doctor_id, "appointments")
        return self._timed(parts, parse_appointments)

    def timetable(self, lpu_id: str, doctor_id: str) -> PortalAnswer[TimetableDay]:
        """``GET /schedule/lpu/{lpuId}/doctor/{doctorId}/timetable``."""
        parts = ("schedule", "lpu", lpu_id, "doctor", doctor_id, "timetable")
        return self._timed(parts, parse_timetable)

    # ------------------------------------------------------------------ machinery

    def _timed(
        self, parts: tuple[str, ...], parser: Callable[..., PortalAnswer[T]]
    ) -> PortalAnswer[T]:
        return self._call(parts, lambda body, endpoint: parser(body, endpoint, zone=self._zone))

    def _call(
        self, parts: tuple[str, ...], parser: Callable[[bytes, str], PortalAnswer[T]]
    ) -> PortalAnswer[T]:
        path = _path(*parts)

        def read(response: HttpResponse) -> PortalAnswer[T]:
            return parser(response.body, path)

        def portal_error(status: int, body: bytes) -> None:
            """An HTTP error carrying the portal's error envelope raises the portal's error."""
            if body:
                with contextlib.suppress(GorzdravFormatError):
                    read_envelope(body, path)

        try:
            return self._http.request(
                "GET",
                self.config.base_url + _url_path(*parts),
                endpoint=path,
                read=read,
                on_error_status=portal_error,
                retry_on=(PortalError,),
            )
        except HttpError as error:
            raise TransportError.from_http(error) from None


def _path(*parts: str) -> str:
    """The endpoint's label: its path with the ids as given (used in messages and issues)."""
    return "".join("/" + part for part in parts)


def _url_path(*parts: str) -> str:
    """The endpoint's path with each part percent-encoded as one segment."""
    return "".join("/" + urllib.parse.quote(part, safe="") for part in parts)


# ---------------------------------------------------------------------- crawl


@dataclass(frozen=True, slots=True)
class CrawlFailure:
    """An endpoint the crawl could not read.

    Attributes
    ----------
    endpoint
        The path (ids only).
    kind
        Why it failed.
    detail
        The error's message.
    retryable
        Whether a later crawl may succeed.
    request_id
        The portal's ``requestId``, for a portal error.
    """

    endpoint: str
    kind: FailureKind
    detail: str
    retryable: bool
    request_id: str | None = None

    def to_issue(self) -> SourceIssue:
        """The failure as an issue of the batch."""
        return SourceIssue(
            source=SOURCE_NAME,
            record=record_name("endpoint", self.endpoint),
            field="",
            reason=f"{self.kind.value}: {self.detail}"[:2000],
            retryable=self.retryable,
        )


@dataclass(frozen=True, slots=True)
class CrawlResult:
    """What a crawl got.

    Attributes
    ----------
    batch
        Facilities, slots and every issue, in crawl order.
    failures
        The endpoints that could not be read.
    requests
        HTTP requests sent, retries included.
    empty_answers
        Answers with error 37, 38 or 39 (nothing there: not failures).
    """

    batch: SlotBatch
    failures: tuple[CrawlFailure, ...]
    requests: int
    empty_answers: int


def _failure(error: GorzdravError, endpoint: str) -> CrawlFailure:
    if isinstance(error, TransportError):
        return CrawlFailure(error.endpoint, error.kind, error.detail, error.retryable)
    if isinstance(error, PortalError):
        kind = FailureKind.CLINIC_SYSTEM if error.retryable else FailureKind.PORTAL_ERROR
        code = f"portal error {error.error_code}, request id {error.request_id or 'absent'}"
        return CrawlFailure(error.endpoint, kind, code, error.retryable, error.request_id)
    if isinstance(error, GorzdravFormatError):
        return CrawlFailure(endpoint, FailureKind.MALFORMED, error.reason, False)
    return CrawlFailure(endpoint, FailureKind.MALFORMED, str(error), False)  # pragma: no cover


@dataclass
class _Crawl:
    """The state of one crawl (one thread writes it: workers only fetch)."""

    client: GorzdravClient
    start: datetime
    end: datetime
    wanted: frozenset[str] | None
    pool: ThreadPoolExecutor
    issues: list[SourceIssue] = field(default_factory=list)
    failures: list[CrawlFailure] = field(default_factory=list)
    empty: int = 0

    def fetch_all(
        self,
        jobs: Sequence[tuple[str, Callable[[], PortalAnswer[T]]]],
        noun: str,
    ) -> list[tuple[T, ...] | None]:
        """Run the jobs (endpoint, call) concurrently; records per job, ``None`` where it failed."""

        def run(job: tuple[str, Callable[[], PortalAnswer[T]]]) -> PortalAnswer[T] | CrawlFailure:
            endpoint, call = job
            try:
                return call()
            except GorzdravError as error:
                return _failure(error, endpoint)

        out: list[tuple[T, ...] | None] = []
        for outcome in self.pool.map(run, jobs):
            if isinstance(outcome, CrawlFailure):
                logger.warning("%s: %s", outcome.endpoint, outcome.kind.value)
                self.failures.append(outcome)
                self.issues.append(outcome.to_issue())
                out.append(None)
                continue
            self.empty += outcome.empty_code is not None
            self.issues.extend(SourceIssue.from_error(SOURCE_NAME, e) for e in outcome.rejected)
            out.append(outcome.records)
        logger.debug("%d %s requests, %d failed", len(jobs), noun, out.count(None))
        return out

    def in_window(self, nearest: datetime | None, last: datetime | None) -> bool:
        """Whether free tickets from day ``nearest`` to day ``last`` may start in the window."""
        if nearest is None or nearest >= self.end:
            return False
        return last is None or last + timedelta(days=1) > self.start

    def wants(self, specialty: Specialty) -> ServiceRef | None:
        """The specialty's service if the crawl needs it and it has tickets in the window."""
        service = specialty_service(specialty)
        if service is None or (self.wanted is not None and service.code not in self.wanted):
            return None
        if specialty.count_free_ticket == 0:
            return None
        return service if self.in_window(specialty.nearest_date, specialty.last_date) else None


def _unique(groups: Iterable[tuple[Lpu, ...] | None]) -> list[Lpu]:
    """The LPUs of every answer, each id once (the first), in order."""
    seen: dict[str, Lpu] = {}
    for group in groups:
        for lpu in group or ():
            seen.setdefault(lpu.id, lpu)
    return list(seen.values())


def crawl(
    client: GorzdravClient,
    start: datetime,
    end: datetime,
    services: Collection[ServiceRef] | None = None,
    *,
    district_ids: Sequence[str] | None = None,
    options: MappingOptions | None = None,
) -> CrawlResult:
    """Read the free slots starting in ``[start, end)`` from the portal, as far as it answers.

    Parameters
    ----------
    client
        The portal client.
    start, end
        The window; timezone-aware.
    services
        Only specialties whose ``ferId`` one of these ``fer`` services names (other systems are
        not on the portal); ``None`` for all specialties with a federal code.
    district_ids
        Only these districts (skips ``/shared/districts``); ``None`` for all.
    options
        Facility level mapping.

    Returns
    -------
    CrawlResult
        Never raises for what the portal does: failures are in the result.

    Raises
    ------
    InvalidInputError
        If the window is not two aware datetimes with ``start < end``.
    """
    check_window(start, end, record=record_name("source", SOURCE_NAME))
    wanted = None if services is None else frozenset(s.code for s in services if s.system == "fer")
    requests_before = client.requests
    with ThreadPoolExecutor(client.config.max_concurrency, "gorzdrav") as pool:
        state = _Crawl(client, start, end, wanted, pool)
        facilities, slots = _walk(state, district_ids, options or MappingOptions())
    result = CrawlResult(
        batch=SlotBatch(facilities=facilities, slots=slots, issues=tuple(state.issues)),
        failures=tuple(state.failures),
        requests=client.requests - requests_before,
        empty_answers=state.empty,
    )
    logger.info(
        "gorzdrav crawl: %d facilities, %d slots, %d failures, %d requests",
        len(facilities),
        len(slots),
        len(result.failures),
        result.requests,
    )
    return result


def _walk(
    state: _Crawl, district_ids: Sequence[str] | None, options: MappingOptions
) -> tuple[tuple[Facility, ...], tuple[Slot, ...]]:
    client = state.client
    if district_ids is None:
        answer = state.fetch_all([("/shared/districts", client.districts)], "district")[0]
        district_ids = [d.id for d in answer or ()]
    lpu_jobs = [
        (_path("shared", "district", d, "lpus"), _bind(client.lpus, d)) for d in district_ids
    ]
    lpus: list[Lpu] = _unique(state.fetch_all(lpu_jobs, "lpu"))
    active = [lpu for lpu in lpus if lpu.is_active]

    specialties: list[tuple[Specialty, ...] | None] = []
    if state.wanted is None or state.wanted:
        jobs = [
            (_path("schedule", "lpu", x.id, "specialties"), _bind(client.specialties, x.id))
            for x in active
        ]
        specialties = state.fetch_all(jobs, "specialty")
    offered: dict[str, list[ServiceRef]] = {}
    doctor_jobs: list[tuple[str, Callable[[], PortalAnswer[Doctor]]]] = []
    doctor_keys: list[tuple[str, ServiceRef]] = []
    for lpu, found in zip(active, specialties, strict=False):
        for specialty in found or ():
            service = specialty_service(specialty)
            if service is not None:
                offered.setdefault(lpu.id, []).append(service)
            if state.wants(specialty) is None or service is None:
                continue
            path = _path("schedule", "lpu", lpu.id, "speciality", specialty.id, "doctors")
            doctor_jobs.append((path, _bind(client.doctors, lpu.id, specialty.id)))
            doctor_keys.append((lpu.id, service))

    appointment_jobs: list[tuple[str, Callable[[], PortalAnswer[Appointment]]]] = []
    appointment_keys: list[tuple[str, ServiceRef, str]] = []
    for (lpu_id, service), doctors in zip(
        doctor_keys, state.fetch_all(doctor_jobs, "doctor"), strict=True
    ):
        for doctor in doctors or ():
            if doctor.free_ticket_count == 0:
                continue
            if not state.in_window(doctor.nearest_date, doctor.last_date):
                continue
            path = _path("schedule", "lpu", lpu_id, "doctor", doctor.id, "appointments")
            appointment_jobs.append((path, _bind(client.appointments, lpu_id, doctor.id)))
            appointment_keys.append((lpu_id, service, doctor.id))

    slots = _slots(state, appointment_keys, state.fetch_all(appointment_jobs, "appointment"))
    facilities, skipped = lpus_to_facilities(lpus, offered, options)
    state.issues.extend(skipped)
    return facilities, slots


def _slots(
    state: _Crawl,
    keys: Sequence[tuple[str, ServiceRef, str]],
    answers: Sequence[tuple[Appointment, ...] | None],
) -> tuple[Slot, ...]:
    by_id: dict[str, Slot] = {}
    for (lpu_id, service, doctor_id), appointments in zip(keys, answers, strict=True):
        wanted = [a for a in appointments or () if state.start <= a.visit_start < state.end]
        made, issues = appointments_to_slots(wanted, lpu_id, service, doctor_id)
        state.issues.extend(issues)
        for slot in made:
            known = by_id.setdefault(slot.id, slot)
            if known is not slot and known.service != slot.service:
                state.issues.append(
                    SourceIssue(
                        source=SOURCE_NAME,
                        record=record_name("slot", slot.id),
                        field="service",
                        reason=f"also listed under {known.service}; the first kept",
                    )
                )
    return tuple(by_id.values())


def _bind(method: Callable[..., R], *args: str) -> Callable[[], R]:
    return lambda: method(*args)


class GorzdravSource:
    """The city portal as a :class:`~routing.adapters.source.SlotSource` (a live crawl per fetch).

    Parameters
    ----------
    client
        The portal client (default: a client with the default configuration).
    district_ids
        Only these districts; ``None`` for all.
    options
        Facility level mapping.
    name
        The source's name in issues.
    """

    def __init__(
        self,
        client: GorzdravClient | None = None,
        *,
        district_ids: Sequence[str] | None = None,
        options: MappingOptions | None = None,
        name: str = SOURCE_NAME,
    ) -> None:
        self.client = client or GorzdravClient()
        self.district_ids = None if district_ids is None else tuple(district_ids)
        self.options = options or MappingOptions()
        self.name = name
        self.last: CrawlResult | None = None
        """The result of the latest :meth:`fetch`, with its failures and request count."""

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()

    def fetch(
        self,
        start: datetime,
        end: datetime,
        services: Collection[ServiceRef] | None = None,
    ) -> SlotBatch:
        """The free slots starting in ``[start, end)``, of ``services`` when given."""
        self.last = crawl(
            self.client,
            start,
            end,
            services,
            district_ids=self.district_ids,
            options=self.options,
        )
        return self.last.batch
