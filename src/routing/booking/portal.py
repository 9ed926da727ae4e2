"""The city appointment portal as a booking back-end (no holds: book, and cancel on failure).

The portal's booking calls (base ``/_api/api/v2``, the envelope of
:func:`routing.adapters.gorzdrav.read_envelope`):

- ``POST /patient/search`` with ``lpuId`` and the patient's name and birth date gives the
  clinic's ``patientId`` (asked once per clinic, then kept in memory);
- ``POST /appointment/create`` with ``lpuId``, ``patientId``, ``appointmentId`` (the portal's
  slot id) and the patient's name, birth date and e-mail books one ticket;
- ``POST /appointment/cancel`` with ``lpuId``, ``patientId``, ``appointmentId`` cancels it;
- ``GET /appointments?lpuId=&patientId=`` lists the patient's bookings.

A booking is final until cancelled: :attr:`PortalBackend.supports_hold` is false, so the saga
books stage by stage. A ticket taken meanwhile comes back as ``success: false`` with an error
code: the codes read as "taken" are :attr:`PortalBackend.taken_codes` (by default 39, "no free
tickets", the portal's documented code for a doctor without free tickets; the portal publishes
no separate code for a ticket taken between listing and booking, so set the codes your
deployment sees).

The portal takes no idempotency key. A create or cancel whose answer did not come (a timeout
after the request was sent, an HTTP 5xx, the clinic's system timing out, code 603) may have been
made: it raises :class:`~routing.exceptions.UnknownOutcomeError`, and before the same key is sent
again the back-end lists the patient's bookings (:meth:`PortalBackend.reconcile`): a ticket
already there is the call's result, so a retried call never books twice.

The patient's name, birth date and e-mail (:class:`PortalPatient`) are held in memory only: they
are sent in request bodies and never appear in a log line, an error, a repr or a step record.
Slot ids are the library's (``"gorzdrav:<lpuId>:<appointment id>"``, as
:mod:`routing.adapters.gorzdrav` makes them).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from types import TracebackType
from typing import Any, Self

from routing.adapters.gorzdrav import (
    SOURCE_NAME,
    GorzdravFormatError,
    PortalError,
    PortalRetryableError,
    read_envelope,
)
from routing.adapters.gorzdrav_client import ClientConfig
from routing.adapters.http import HttpClient, HttpError, HttpFailureKind, HttpResponse, TokenBucket
from routing.booking.backend import Booking, Hold
from routing.exceptions import (
    BackendUnavailableError,
    BookingError,
    SlotTakenError,
    UnknownOutcomeError,
)

__all__ = ["DEFAULT_TAKEN_CODES", "PortalBackend", "PortalPatient", "split_slot_id"]

logger = logging.getLogger(__name__)

DEFAULT_TAKEN_CODES = frozenset({39})
"""Error codes of ``/appointment/create`` read as "the ticket is taken"."""

_UNSURE_CODES = frozenset({603})
"""The clinic's system timed out: the booking may have been made."""


@dataclass(frozen=True)
class PortalPatient:
    """The patient as the portal knows them: personal data, held in memory only.

    No field appears in ``repr()`` or ``str()``; the object is not meant to be stored.
    """

    last_name: str = field(repr=False)
    first_name: str = field(repr=False)
    middle_name: str = field(repr=False, default="")
    birth_date: date = field(repr=False, default=date(1900, 1, 1))
    email: str = field(repr=False, default="")

    def __repr__(self) -> str:
        return "PortalPatient(<personal data hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a PortalPatient holds personal data and is not pickled")

    def identity(self) -> dict[str, str]:
        """The fields ``/patient/search`` and ``/appointment/create`` take."""
        return {
            "lastName": self.last_name,
            "firstName": self.first_name,
            "middleName": self.middle_name,
            "birthdate": self.birth_date.isoformat() + "T00:00:00",
        }


def split_slot_id(slot_id: str) -> tuple[str, str]:
    """The portal's ``(lpuId, appointmentId)`` of a library slot id.

    Raises
    ------
    BookingError
        If ``slot_id`` is not a portal slot id.

    Examples
    --------
    >>> split_slot_id("gorzdrav:100:17.02.2025;10:30;п100.136")
    ('100', '17.02.2025;10:30;п100.136')
    """
    prefix = SOURCE_NAME + ":"
    lpu, _, appointment = slot_id.removeprefix(prefix).partition(":")
    if not slot_id.startswith(prefix) or not lpu or not appointment:
        raise BookingError(slot_id, "not a slot of the city portal")
    return lpu, appointment


class PortalBackend:
    """Books a patient's tickets on the city portal (see the module doc).

    Parameters
    ----------
    patient
        The patient's personal data (memory only).
    config
        The portal's base URL, the HTTP policy (timeouts, deadline, retries) and rate limit.
    taken_codes
        Error codes of ``/appointment/create`` that mean the ticket is taken.
    sleep
        How to wait (backoff, rate limit), injectable for tests.
    """

    supports_hold = False

    def __init__(
        self,
        patient: PortalPatient,
        config: ClientConfig | None = None,
        *,
        taken_codes: Collection[int] = DEFAULT_TAKEN_CODES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._patient = patient
        self.config = config or ClientConfig()
        self.taken_codes = frozenset(taken_codes)
        bucket = TokenBucket(self.config.rate_per_s, self.config.burst, sleep=sleep)
        self._http = HttpClient(
            self.config,
            name=SOURCE_NAME + "-booking",
            headers={"Accept": "application/json"},
            throttle=bucket.acquire,
            sleep=sleep,
        )
        self._lock = threading.Lock()
        self._patient_ids: dict[str, str] = {}
        self._done: dict[str, Booking | None] = {}
        self._unsure: set[str] = set()

    def __repr__(self) -> str:
        return f"PortalBackend({self.config.base_url!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ protocol

    def hold(self, slot_id: str, key: str) -> Hold:
        """A token: the portal has no holds (nothing is sent)."""
        split_slot_id(slot_id)
        return Hold(slot_id, key, provisional=False)

    def confirm(self, hold: Hold, key: str) -> Booking:
        """``POST /appointment/create``: book the slot's ticket (reconciled first on a retry)."""
        slot_id = hold.slot_id
        with self._lock:
            done = self._done.get(key)
        if isinstance(done, Booking):
            return done
        if key in self._unsure:
            found = self.reconcile(hold, key)
            if found is not None:
                return found
        lpu, appointment = split_slot_id(slot_id)
        body = {
            "lpuId": lpu,
            "patientId": self._patient_id(slot_id, lpu),
            "appointmentId": appointment,
            **self._patient.identity(),
            "recipientEmail": self._patient.email,
        }
        try:
            answer = self._post(slot_id, "/appointment/create", body)
        except UnknownOutcomeError:
            self._unsure.add(key)
            raise
        if not answer.success:
            raise SlotTakenError(slot_id, f"the ticket is taken (portal error {answer.error_code})")
        booking = Booking(slot_id, key, ref=appointment)
        with self._lock:
            self._done[key] = booking
        self._unsure.discard(key)
        return booking

    def release(self, hold: Hold, key: str) -> None:
        """Nothing to give back: the portal has no holds."""

    def cancel(self, booking: Booking, key: str) -> None:
        """``POST /appointment/cancel``; a ticket not (or no longer) listed counts as cancelled."""
        slot_id = booking.slot_id
        with self._lock:
            if key in self._done:
                return
        lpu, appointment = split_slot_id(slot_id)
        if key in self._unsure and not self._listed(slot_id, lpu, appointment):
            self._finish(key)
            return
        body = {
            "lpuId": lpu,
            "patientId": self._patient_id(slot_id, lpu),
            "appointmentId": appointment,
        }
        try:
            answer = self._post(slot_id, "/appointment/cancel", body)
        except UnknownOutcomeError:
            self._unsure.add(key)
            raise
        except BackendUnavailableError:
            raise
        except BookingError:  # refused: cancelled already, or not ours
            answer = None
        if (answer is None or not answer.success) and self._listed(slot_id, lpu, appointment):
            raise BookingError(slot_id, "the portal refused to cancel the ticket")
        self._finish(key)

    def reconcile(self, hold: Hold, key: str) -> Booking | None:
        """``GET /appointments``: the booking of the slot if the patient's list has it."""
        slot_id = hold.slot_id
        lpu, appointment = split_slot_id(slot_id)
        if not self._listed(slot_id, lpu, appointment):
            return None
        booking = Booking(slot_id, key, ref=appointment)
        with self._lock:
            self._done[key] = booking
        self._unsure.discard(key)
        return booking

    # ------------------------------------------------------------------ calls

    def _finish(self, key: str) -> None:
        with self._lock:
            self._done[key] = None
        self._unsure.discard(key)

    def _patient_id(self, slot_id: str, lpu: str) -> str:
        """The clinic's id of the patient (``/patient/search``, once per clinic)."""
        with self._lock:
            known = self._patient_ids.get(lpu)
        if known is not None:
            return known
        body = {"lpuId": lpu, **self._patient.identity()}
        try:
            answer = self._post(slot_id, "/patient/search", body)
        except UnknownOutcomeError as error:  # a search changes nothing: just unavailable
            raise BackendUnavailableError(slot_id, error.reason) from None
        found = answer.result
        if not answer.success or not isinstance(found, str | int) or isinstance(found, bool):
            raise BookingError(slot_id, "the clinic does not know the patient")
        with self._lock:
            self._patient_ids[lpu] = str(found)
        return str(found)

    def _listed(self, slot_id: str, lpu: str, appointment: str) -> bool:
        """Whether the patient's bookings at ``lpu`` include ``appointment``."""
        query = urllib.parse.urlencode({"lpuId": lpu, "patientId": self._patient_id(slot_id, lpu)})
        endpoint = "/appointments"
        try:
            envelope = self._http.request(
                "GET",
                f"{self.config.base_url}{endpoint}?{query}",
                endpoint=endpoint,
                read=lambda r: read_envelope(r.body, endpoint),
                on_error_status=lambda status, body: _envelope_error(body, endpoint),
                retry_on=(PortalError,),
            )
        except (HttpError, PortalError, GorzdravFormatError) as error:
            raise BackendUnavailableError(
                slot_id, f"the patient's bookings could not be listed ({_what(error)})"
            ) from None
        records = envelope.result if envelope.success and isinstance(envelope.result, list) else []
        return any(_appointment_of(r) == appointment for r in records)

    def _post(self, slot_id: str, endpoint: str, body: Mapping[str, Any]) -> Any:
        """POST ``body``; its envelope, or the booking error that says what happened."""

        def read(response: HttpResponse) -> Any:
            return read_envelope(response.body, endpoint)

        try:
            return self._http.request(
                "POST",
                self.config.base_url + endpoint,
                endpoint=endpoint,
                read=read,
                json_body=dict(body),
                on_error_status=lambda status, raw: _envelope_error(raw, endpoint),
            )
        except PortalRetryableError as error:
            if error.error_code in _UNSURE_CODES:
                raise UnknownOutcomeError(slot_id, f"{endpoint}: {_what(error)}") from None
            raise BackendUnavailableError(slot_id, f"{endpoint}: {_what(error)}") from None
        except PortalError as error:
            if error.error_code in self.taken_codes:
                reason = f"the ticket is taken (portal error {error.error_code})"
                raise SlotTakenError(slot_id, reason) from None
            raise BookingError(slot_id, f"{endpoint}: {_what(error)}") from None
        except GorzdravFormatError as error:
            raise UnknownOutcomeError(slot_id, f"{endpoint}: {error.reason}") from None
        except HttpError as error:
            sent = not (error.kind is HttpFailureKind.CONNECTION and error.retryable)
            sent = sent and error.kind is not HttpFailureKind.TLS
            if error.status == 429 or not sent:
                raise BackendUnavailableError(slot_id, f"{endpoint}: {_what(error)}") from None
            raise UnknownOutcomeError(slot_id, f"{endpoint}: {_what(error)}") from None


def _envelope_error(body: bytes, endpoint: str) -> None:
    """An HTTP error that carries the portal's error envelope raises the portal's error."""
    if body:
        try:
            read_envelope(body, endpoint)
        except GorzdravFormatError:
            return


def _appointment_of(record: Any) -> str | None:
    if isinstance(record, Mapping):
        value = record.get("appointmentId", record.get("id"))
        return None if value is None else str(value)
    return None


def _what(error: Exception) -> str:
    """An error's kind and code, never its text from the source."""
    if isinstance(error, PortalError):
        return f"portal error {error.error_code}, request id {error.request_id or 'absent'}"
    if isinstance(error, HttpError):
        return f"{error.kind.value}: {error.detail}"
    return type(error).__name__
