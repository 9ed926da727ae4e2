"""A FHIR server's Appointment resource as a booking back-end (R4/R5 JSON over REST).

- :meth:`FhirBackend.hold`: ``POST <base>/Appointment`` with status ``pending`` (or
  ``proposed``), the slot referenced, the call's idempotency key as an identifier, and
  ``If-None-Exist: identifier=<system>|<key>``: sent again, the server answers with the
  Appointment the first call made (conditional create), never a second one.
- :meth:`FhirBackend.confirm`: ``PUT <base>/Appointment/<id>`` with status ``booked`` and
  ``If-Match: W/"<version>"``.
- :meth:`FhirBackend.release` and :meth:`FhirBackend.cancel`: the same with status
  ``cancelled``.

A version conflict (HTTP 412, or 409 whose OperationOutcome says ``conflict``) raises
:class:`~routing.exceptions.BookingConflictError`, except when the Appointment already has the
status asked for (a repeated update whose first answer was lost: read back, it is the result),
and except for a cancellation, sent once more with the version read back (the saga's own
Appointment is cancelled whatever changed in it meanwhile: compensation must go through).
A slot taken (HTTP 409 otherwise, or 422 whose OperationOutcome says ``business-rule`` or
``duplicate``) raises :class:`~routing.exceptions.SlotTakenError`. A request sent without an
answer raises :class:`~routing.exceptions.UnknownOutcomeError`; :meth:`FhirBackend.reconcile`
reads the Appointment back. Connection failures, HTTP 429 and 5xx are
:class:`~routing.exceptions.BackendUnavailableError` (PUT and GET are retried by the HTTP layer
first). Messages name the slot id and the endpoint, never a body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Self

from routing.adapters.http import HttpClient, HttpError, HttpFailureKind, HttpPolicy, check_http_url
from routing.booking.backend import Booking, Hold
from routing.exceptions import (
    BackendUnavailableError,
    BookingConflictError,
    BookingError,
    SlotTakenError,
    UnknownOutcomeError,
)

__all__ = ["DEFAULT_KEY_SYSTEM", "FhirBackend", "slot_reference"]

logger = logging.getLogger(__name__)

DEFAULT_KEY_SYSTEM = "urn:patient-routing:booking-key"
"""The identifier system of the idempotency keys."""

_FHIR_JSON = "application/fhir+json"


def slot_reference(slot_id: str) -> str:
    """The FHIR reference of a library slot id made by :mod:`routing.adapters.fhir`
    (``"<prefix>:<Slot id>"``).

    Examples
    --------
    >>> slot_reference("fhir:s-17")
    'Slot/s-17'
    """
    return "Slot/" + slot_id.rsplit(":", 1)[-1]


class _RefusedError(Exception):
    """An error status of the server, with what its OperationOutcome says."""

    def __init__(self, status: int, codes: frozenset[str]) -> None:
        super().__init__(status)
        self.status = status
        self.codes = codes


def _refuse(status: int, body: bytes) -> None:
    if status in (409, 412, 422):
        raise _RefusedError(status, _issue_codes(body))


def _issue_codes(body: bytes) -> frozenset[str]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return frozenset()
    if not isinstance(data, Mapping) or data.get("resourceType") != "OperationOutcome":
        return frozenset()
    issues = data.get("issue")
    return frozenset(
        str(i.get("code")) for i in issues or () if isinstance(i, Mapping) and i.get("code")
    )


def _version(headers: Mapping[str, str], resource: Mapping[str, Any]) -> str | None:
    tag = headers.get("ETag")
    if tag:
        return tag.removeprefix("W/").strip('"')
    meta = resource.get("meta")
    value = meta.get("versionId") if isinstance(meta, Mapping) else None
    return None if value is None else str(value)


class FhirBackend:
    """Books Appointments on a FHIR server (see the module doc).

    Parameters
    ----------
    base_url
        The server's base (http or https).
    patient_reference
        The patient as the server knows them, a pseudonymous reference (``"Patient/p-1"``).
    policy
        Timeouts, deadline, retries.
    key_system
        The identifier system of the idempotency keys.
    hold_status
        The status of a held Appointment.
    reference
        Maps a library slot id to the server's Slot reference.
    headers
        Headers for every request (credentials: never sent to another origin, never logged).
    """

    supports_hold = True

    def __init__(
        self,
        base_url: str,
        *,
        patient_reference: str,
        policy: HttpPolicy | None = None,
        key_system: str = DEFAULT_KEY_SYSTEM,
        hold_status: Literal["pending", "proposed"] = "pending",
        reference: Callable[[str], str] = slot_reference,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = check_http_url(base_url)
        self.patient_reference = patient_reference
        self.key_system = key_system
        self.hold_status = hold_status
        self._reference = reference
        self._http = HttpClient(
            policy or HttpPolicy(),
            name="fhir-booking",
            headers={"Accept": _FHIR_JSON},
            credentials=headers,
        )

    def __repr__(self) -> str:
        return f"FhirBackend({self.base_url!r})"

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
        """Create a pending Appointment for the slot (conditionally, by the key)."""
        resource = self._appointment(slot_id, key, self.hold_status)
        _, headers, made = self._send(
            slot_id,
            "POST",
            "/Appointment",
            resource,
            {"If-None-Exist": f"identifier={self.key_system}|{key}"},
        )
        ref = made.get("id")
        if not isinstance(ref, str) or not ref:
            raise UnknownOutcomeError(slot_id, "/Appointment: the answer names no Appointment")
        if made.get("status") not in (self.hold_status, "booked"):
            raise BookingConflictError(slot_id, "the Appointment of this key is no longer held")
        return Hold(slot_id, key, ref=ref, version=_version(headers, made))

    def confirm(self, hold: Hold, key: str) -> Booking:
        """Update the held Appointment to ``booked``."""
        version = self._update(hold, "booked")
        return Booking(hold.slot_id, key, ref=hold.ref, version=version)

    def release(self, hold: Hold, key: str) -> None:
        """Update the held Appointment to ``cancelled``."""
        self._update(hold, "cancelled")

    def cancel(self, booking: Booking, key: str) -> None:
        """Update the booked Appointment to ``cancelled``."""
        self._update(Hold(booking.slot_id, booking.key, booking.ref, booking.version), "cancelled")

    def reconcile(self, hold: Hold, key: str) -> Booking | None:
        """Read the Appointment back: the booking if it is ``booked``."""
        current, version = self._read(hold)
        if current.get("status") != "booked":
            return None
        return Booking(hold.slot_id, key, ref=hold.ref, version=version)

    # ------------------------------------------------------------------ calls

    def _appointment(
        self, slot_id: str, hold_key: str, status: str, ref: str | None = None
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Appointment",
            "status": status,
            "identifier": [{"system": self.key_system, "value": hold_key}],
            "slot": [{"reference": self._reference(slot_id)}],
            "participant": [{"actor": {"reference": self.patient_reference}, "status": "accepted"}],
        }
        if ref is not None:
            resource = {"resourceType": "Appointment", "id": ref, **resource}
        return resource

    def _update(self, hold: Hold, status: str) -> str | None:
        """PUT the Appointment with ``status``; its new version."""
        path = f"/Appointment/{hold.ref}"
        body = self._appointment(hold.slot_id, hold.key, status, hold.ref)
        extra = {} if hold.version is None else {"If-Match": f'W/"{hold.version}"'}
        try:
            _, headers, made = self._send(hold.slot_id, "PUT", path, body, extra)
        except BookingConflictError:
            current, version = self._read(hold)
            if current.get("status") == status:  # an earlier update of ours took effect
                return version
            if status != "cancelled" or version is None:
                raise
            # a cancellation of our own Appointment wins over a change made meanwhile
            extra = {"If-Match": f'W/"{version}"'}
            _, headers, made = self._send(hold.slot_id, "PUT", path, body, extra)
        return _version(headers, made)

    def _read(self, hold: Hold) -> tuple[Mapping[str, Any], str | None]:
        _, headers, current = self._send(hold.slot_id, "GET", f"/Appointment/{hold.ref}")
        return current, _version(headers, current)

    def _send(
        self,
        slot_id: str,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Mapping[str, str], Mapping[str, Any]]:
        """One request; (status, headers, resource) or the booking error that says why not."""
        endpoint = "/Appointment" if method == "POST" else "/Appointment/{id}"
        extra = dict(headers or {})
        if body is not None:
            extra["Content-Type"] = _FHIR_JSON
        try:
            status, answer_headers, resource = self._http.request(
                method,
                self.base_url + path,
                endpoint=endpoint,
                read=lambda r: (r.status, r.headers, r.json(endpoint)),
                json_body=None if body is None else dict(body),
                headers=extra,
                on_error_status=_refuse,
            )
        except _RefusedError as refused:
            raise _refusal(slot_id, endpoint, refused) from None
        except HttpError as error:
            raise _failure(slot_id, endpoint, error, sent=method != "GET") from None
        if not isinstance(resource, Mapping) or resource.get("resourceType") != "Appointment":
            raise UnknownOutcomeError(slot_id, f"{endpoint}: the answer is not an Appointment")
        return int(status), dict(answer_headers), resource


def _refusal(slot_id: str, endpoint: str, refused: _RefusedError) -> BookingError:
    codes = refused.codes
    if refused.status == 412 or (refused.status == 409 and "conflict" in codes):
        return BookingConflictError(slot_id, f"{endpoint}: HTTP {refused.status}, version conflict")
    if refused.status == 409 or codes & {"business-rule", "duplicate"}:
        return SlotTakenError(slot_id, f"{endpoint}: HTTP {refused.status}, the slot is taken")
    return BookingError(slot_id, f"{endpoint}: HTTP {refused.status}, refused")


def _failure(slot_id: str, endpoint: str, error: HttpError, *, sent: bool) -> BookingError:
    what = f"{endpoint}: {error.kind.value}: {error.detail}"
    if error.kind is HttpFailureKind.HTTP_STATUS and error.status is not None:
        if error.status == 429 or error.status >= 500:
            return BackendUnavailableError(slot_id, what)
        return BookingError(slot_id, what)
    not_sent = (error.kind is HttpFailureKind.CONNECTION and error.retryable) or (
        error.kind is HttpFailureKind.TLS
    )
    if sent and not not_sent and error.kind is not HttpFailureKind.REDIRECT:
        return UnknownOutcomeError(slot_id, what)
    return BackendUnavailableError(slot_id, what)
