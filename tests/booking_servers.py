"""Stateful fake booking servers on real loopback sockets, for the booking back-ends' tests.

- :class:`PortalServer`: the city portal's ``/patient/search``, ``/appointment/create``,
  ``/appointment/cancel`` and ``/appointments`` under ``/_api/api/v2``, with the portal's
  envelope; a ticket taken is ``success: false`` with error code 39.
- :class:`FhirServer`: ``Appointment`` create (with ``If-None-Exist``), read and update (with
  ``If-Match`` on ``W/"<version>"``, 412 on a mismatch), 409 with an OperationOutcome
  (``business-rule``) when the slot has another live Appointment.

Both take faults for the next calls of a kind: ``"commit-then-timeout"`` (the change is made,
then the answer comes after ``delay`` seconds, past the client's deadline), ``"500"`` (nothing
changes, HTTP 500).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from http_servers import LocalServer, Received, Reply, json_reply

__all__ = ["BASE", "FhirServer", "PortalServer", "fhir_server", "portal_server"]

BASE = "/_api/api/v2"
TAKEN_CODE = 39


def _envelope(result: Any = None, *, success: bool = True, code: int = 0) -> Reply:
    body = {
        "result": result,
        "success": success,
        "errorCode": code,
        "message": None if success else "Талон уже занят",
        "stackTrace": None,
        "requestId": "req-1",
    }
    return json_reply(json.dumps(body, ensure_ascii=False))


class PortalServer:
    """The portal's booking calls over a set of free tickets per clinic.

    Parameters
    ----------
    tickets
        Free ticket ids by ``lpuId``.
    patients
        The clinic's patient id by ``(lpuId, lastName, birthdate)``.
    delay
        The answer delay of a ``commit-then-timeout`` fault, in seconds.
    """

    def __init__(
        self,
        tickets: dict[str, set[str]],
        patients: dict[tuple[str, str, str], str],
        *,
        delay: float = 1.0,
    ) -> None:
        self.free = {lpu: set(ids) for lpu, ids in tickets.items()}
        self.patients = dict(patients)
        self.booked: dict[tuple[str, str], str] = {}
        self.faults: dict[str, list[str]] = {}
        self.delay = delay
        self.lock = threading.Lock()
        self.server = LocalServer()
        self.server.handler = self.answer
        self.base_url = self.server.url(BASE)

    def fault(self, endpoint: str, *kinds: str) -> None:
        """Make the next calls of ``endpoint`` (e.g. ``"/appointment/create"``) fail so."""
        self.faults.setdefault(endpoint, []).extend(kinds)

    def bookings_of(self, patient_id: str) -> list[tuple[str, str]]:
        """The ``(lpuId, ticket)`` the patient holds, sorted."""
        with self.lock:
            return sorted(k for k, who in self.booked.items() if who == patient_id)

    def hits(self, endpoint: str) -> int:
        """Requests received for ``endpoint``."""
        return self.server.hits(BASE + endpoint)

    def answer(self, received: Received) -> Reply:
        """The portal's answer (the handler of the local server)."""
        parts = urllib.parse.urlsplit(received.path)
        endpoint = parts.path.removeprefix(BASE)
        with self.lock:
            faults = self.faults.get(endpoint)
            fault = faults.pop(0) if faults else None
        if fault == "500":
            return Reply(500, b"internal error")
        if received.method == "GET" and endpoint == "/appointments":
            query = dict(urllib.parse.parse_qsl(parts.query))
            return self._list(query.get("lpuId", ""), query.get("patientId", ""))
        body = json.loads(received.body or b"{}")
        with self.lock:
            if endpoint == "/patient/search":
                key = (body.get("lpuId"), body.get("lastName"), body.get("birthdate"))
                found = self.patients.get(key)  # type: ignore[arg-type]
                return _envelope(found) if found else _envelope(success=False, code=11)
            if endpoint == "/appointment/create":
                reply = self._create(body)
            elif endpoint == "/appointment/cancel":
                reply = self._cancel(body)
            else:
                return Reply(404, b"not found")
        if fault == "commit-then-timeout":
            return Reply(reply.status, reply.body, reply.headers, delay=self.delay)
        return reply

    def _create(self, body: dict[str, Any]) -> Reply:
        lpu, ticket, who = body.get("lpuId"), body.get("appointmentId"), body.get("patientId")
        if not (isinstance(lpu, str) and isinstance(ticket, str) and isinstance(who, str)):
            return _envelope(success=False, code=1)
        if ticket not in self.free.get(lpu, set()):
            return _envelope(success=False, code=TAKEN_CODE)
        self.free[lpu].discard(ticket)
        self.booked[(lpu, ticket)] = who
        return _envelope(True)

    def _cancel(self, body: dict[str, Any]) -> Reply:
        key = (str(body.get("lpuId")), str(body.get("appointmentId")))
        if self.booked.get(key) != body.get("patientId"):
            return _envelope(success=False, code=2)
        del self.booked[key]
        self.free.setdefault(key[0], set()).add(key[1])
        return _envelope(True)

    def _list(self, lpu: str, patient_id: str) -> Reply:
        with self.lock:
            held = sorted(self.booked.items())
            mine = [t for (at, t), who in held if at == lpu and who == patient_id]
        return _envelope([{"id": t, "lpuId": lpu} for t in mine])

    def close(self) -> None:
        """Stop serving."""
        self.server.close()


class FhirServer:
    """Appointments with versions (see the module doc).

    Parameters
    ----------
    delay
        The answer delay of a ``commit-then-timeout`` fault, in seconds.
    """

    def __init__(self, *, delay: float = 1.0) -> None:
        self.appointments: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, int] = {}
        self.faults: dict[str, list[str]] = {}
        self.delay = delay
        self.lock = threading.Lock()
        self.server = LocalServer()
        self.server.handler = self.answer
        self.base_url = self.server.url("/fhir")

    def fault(self, method: str, *kinds: str) -> None:
        """Make the next ``method`` calls (``"POST"``, ``"PUT"``) fail so."""
        self.faults.setdefault(method, []).extend(kinds)

    def live(self, slot: str | None = None) -> list[dict[str, Any]]:
        """The Appointments not cancelled (of ``slot``, a reference, when given)."""
        with self.lock:
            return [
                a
                for a in self.appointments.values()
                if a["status"] != "cancelled"
                and (slot is None or a["slot"][0]["reference"] == slot)
            ]

    def touch(self, ref: str) -> None:
        """Someone else updates the Appointment (its version moves on)."""
        with self.lock:
            self._store(ref, dict(self.appointments[ref]))

    def answer(self, received: Received) -> Reply:
        """The server's answer (the handler of the local server)."""
        path = urllib.parse.urlsplit(received.path).path.removeprefix("/fhir")
        with self.lock:
            faults = self.faults.get(received.method)
            fault = faults.pop(0) if faults else None
        if fault == "500":
            return Reply(500, b"internal error")
        with self.lock:
            if received.method == "POST" and path == "/Appointment":
                reply = self._create(received)
            elif path.startswith("/Appointment/"):
                ref = path.removeprefix("/Appointment/")
                if ref not in self.appointments:
                    return self._outcome(404, "not-found")
                if received.method == "GET":
                    reply = self._resource(ref)
                elif received.method == "PUT":
                    reply = self._update(ref, received)
                else:
                    return Reply(405, b"")
            else:
                return Reply(404, b"")
        if fault == "commit-then-timeout":
            return Reply(reply.status, reply.body, reply.headers, delay=self.delay)
        return reply

    def _create(self, received: Received) -> Reply:
        condition = received.header("If-None-Exist") or ""
        wanted = condition.removeprefix("identifier=")
        if condition:
            for ref, made in self.appointments.items():
                if any(f"{i['system']}|{i['value']}" == wanted for i in made["identifier"]):
                    return self._resource(ref, 200)
        resource = json.loads(received.body)
        if self._taken(resource["slot"][0]["reference"], None):
            return self._outcome(409, "business-rule")
        ref = f"a{len(self.appointments) + 1}"
        self._store(ref, {**resource, "id": ref})
        return self._resource(ref, 201)

    def _update(self, ref: str, received: Received) -> Reply:
        match = received.header("If-Match")
        if match is not None and match != f'W/"{self.versions[ref]}"':
            return self._outcome(412, "conflict")
        resource = json.loads(received.body)
        if resource["status"] != "cancelled" and self._taken(resource["slot"][0]["reference"], ref):
            return self._outcome(409, "business-rule")
        self._store(ref, {**resource, "id": ref})
        return self._resource(ref)

    def _taken(self, slot: str, other_than: str | None) -> bool:
        return any(
            ref != other_than and a["status"] != "cancelled" and a["slot"][0]["reference"] == slot
            for ref, a in self.appointments.items()
        )

    def _store(self, ref: str, resource: dict[str, Any]) -> None:
        version = self.versions.get(ref, 0) + 1
        self.versions[ref] = version
        self.appointments[ref] = {**resource, "meta": {"versionId": str(version)}}

    def _resource(self, ref: str, status: int = 200) -> Reply:
        body = json.dumps(self.appointments[ref])
        return Reply(
            status,
            body.encode(),
            {"Content-Type": "application/fhir+json", "ETag": f'W/"{self.versions[ref]}"'},
        )

    @staticmethod
    def _outcome(status: int, code: str) -> Reply:
        body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code}]}
        return Reply(status, json.dumps(body).encode(), {"Content-Type": "application/fhir+json"})

    def close(self) -> None:
        """Stop serving."""
        self.server.close()


@contextmanager
def portal_server(
    tickets: dict[str, set[str]], patients: dict[tuple[str, str, str], str], *, delay: float = 1.0
) -> Iterator[PortalServer]:
    """A :class:`PortalServer`, closed afterwards."""
    server = PortalServer(tickets, patients, delay=delay)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def fhir_server(*, delay: float = 1.0) -> Iterator[FhirServer]:
    """A :class:`FhirServer`, closed afterwards."""
    server = FhirServer(delay=delay)
    try:
        yield server
    finally:
        server.close()
