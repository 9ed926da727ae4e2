"""``routing book --backend``: the booking back-end a command-line booking goes through.

- ``memory`` (the default): the journal's own live places, the reference back-end;
- ``fhir``: Appointments on a FHIR server (``--fhir-url``), for the patient as the server knows
  them (``--patient-reference``, a pseudonymous ``Patient/...`` reference; by default
  ``Patient/<the request's patient id>``), with an optional bearer token read from a file;
- ``portal``: tickets of the Saint Petersburg appointment portal (``--portal-url``), for the
  patient whose identity is read from ``--patient-file`` (JSON: ``last_name``, ``first_name``,
  ``middle_name``, ``birth_date``, ``email``). The identity stays in memory: it is never
  journalled, logged or printed.

The slots booked are the journal's: a FHIR slot id maps to ``Slot/<its last part>``, a portal
slot id must be one the portal adapter made (``gorzdrav:<clinic>:<ticket>``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routing.exceptions import InvalidInputError

if TYPE_CHECKING:  # the back-ends are imported when one is opened, not to build the parser
    from routing.booking.backend import BookingBackend
    from routing.booking.portal import PortalPatient
    from routing.lifecycle.service import Service
    from routing.live import LiveSlots

__all__ = ["BACKENDS", "BackendChoice", "add_backend_arguments", "open_backend"]

BACKENDS = ("memory", "fhir", "portal")
"""The back-ends ``routing book`` can book through."""

_IDENTITY_FIELDS = ("last_name", "first_name", "middle_name", "birth_date", "email")


@dataclass(frozen=True, slots=True)
class BackendChoice:
    """An opened back-end and the live places a re-plan reads.

    Attributes
    ----------
    backend
        Where the saga books (close it when done: :meth:`close`).
    live
        The live capacity re-plans read: the memory back-end's own copy, else the journal's.
    """

    backend: BookingBackend
    live: LiveSlots

    def close(self) -> None:
        """Release the back-end's connections (if it holds any)."""
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of :func:`open_backend` on ``parser``."""
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="memory",
        help="where to book: the journal's places (memory), a FHIR server (fhir) or the city "
        "portal (portal)",
    )
    parser.add_argument("--fhir-url", metavar="URL", help="the FHIR server's base (fhir)")
    parser.add_argument(
        "--patient-reference",
        metavar="REF",
        help="the patient on the FHIR server (default Patient/<the request's patient id>)",
    )
    parser.add_argument(
        "--fhir-token-file",
        metavar="FILE",
        help="a file holding a bearer token for the FHIR server (fhir; never printed)",
    )
    parser.add_argument(
        "--portal-url", metavar="URL", help="the portal API root (portal; default the city's)"
    )
    parser.add_argument(
        "--patient-file",
        metavar="FILE",
        help="the patient's identity for the portal, JSON (portal; kept in memory only)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds one HTTP request to the FHIR server or portal may take, retries within "
        "three times that (default 10)",
    )


def open_backend(args: argparse.Namespace, service: Service, patient_id: str) -> BackendChoice:
    """The back-end ``args`` name, opened.

    Raises
    ------
    InvalidInputError
        If an option the back-end needs is missing or wrong, naming the option.
    """
    from routing.adapters.gorzdrav_client import ClientConfig
    from routing.adapters.http import HttpPolicy
    from routing.booking.fhir import FhirBackend
    from routing.booking.portal import PortalBackend
    from routing.lifecycle.booking import memory_backend

    live = service.state().live
    if live is None:
        raise InvalidInputError("journal", "slots", "no slots are published")
    if args.timeout <= 0:
        raise InvalidInputError("routing book", "--timeout", "must be more than 0 seconds")
    _only_for(args)
    if args.backend == "memory":
        memory = memory_backend(service)
        return BackendChoice(memory, memory.live)
    if args.backend == "fhir":
        if not args.fhir_url:
            raise InvalidInputError("routing book", "--fhir-url", "the fhir back-end needs it")
        headers = None
        if args.fhir_token_file:
            headers = {"Authorization": f"Bearer {_read_token(args.fhir_token_file)}"}
        reference = args.patient_reference or f"Patient/{patient_id}"
        policy = HttpPolicy(timeout_s=args.timeout, deadline_s=3 * args.timeout)
        try:
            fhir = FhirBackend(
                args.fhir_url, patient_reference=reference, policy=policy, headers=headers
            )
        except ValueError as exc:
            raise InvalidInputError("routing book", "--fhir-url", str(exc)) from None
        return BackendChoice(fhir, live)
    if not args.patient_file:
        raise InvalidInputError("routing book", "--patient-file", "the portal back-end needs it")
    patient = read_portal_patient(Path(args.patient_file))
    settings: dict[str, Any] = {"timeout_s": args.timeout, "deadline_s": 3 * args.timeout}
    if args.portal_url:
        settings["base_url"] = args.portal_url
    try:
        config = ClientConfig(**settings)
    except ValueError:
        raise InvalidInputError("routing book", "--portal-url", "not an http(s) URL") from None
    return BackendChoice(PortalBackend(patient, config), live)


def read_portal_patient(path: Path) -> PortalPatient:
    """The portal identity in ``path`` (JSON object of :data:`_IDENTITY_FIELDS`).

    Raises
    ------
    InvalidInputError
        Naming the file and the field at fault, never its value.
    """
    from routing.booking.portal import PortalPatient

    record = f"patient file {path.name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = "cannot be read" if isinstance(exc, OSError) else "is not JSON"
        raise InvalidInputError(record, "file", reason) from None
    if not isinstance(data, dict):
        raise InvalidInputError(record, "file", "must be a JSON object")
    unknown = sorted(set(data) - set(_IDENTITY_FIELDS))
    if unknown:
        raise InvalidInputError(record, unknown[0], "is not a field of the identity")
    for name in ("last_name", "first_name"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise InvalidInputError(record, name, "is required (a non-empty string)")
    for name in ("middle_name", "email"):
        if not isinstance(data.get(name, ""), str):
            raise InvalidInputError(record, name, "must be a string")
    try:
        birth = date.fromisoformat(str(data["birth_date"]))
    except (KeyError, ValueError):
        raise InvalidInputError(record, "birth_date", "is required, as YYYY-MM-DD") from None
    return PortalPatient(
        data["last_name"].strip(),
        data["first_name"].strip(),
        data.get("middle_name", "").strip(),
        birth,
        data.get("email", "").strip(),
    )


def _read_token(path: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise InvalidInputError("routing book", "--fhir-token-file", "cannot be read") from None
    if not token or any(c.isspace() for c in token):
        raise InvalidInputError("routing book", "--fhir-token-file", "holds no single token")
    return token


def _only_for(args: argparse.Namespace) -> None:
    """Options of one back-end given for another are a mistake, not silently ignored."""
    owners = {
        "fhir_url": "fhir",
        "patient_reference": "fhir",
        "fhir_token_file": "fhir",
        "portal_url": "portal",
        "patient_file": "portal",
    }
    for name, owner in owners.items():
        if getattr(args, name) and args.backend != owner:
            option = "--" + name.replace("_", "-")
            raise InvalidInputError(
                "routing book", option, f"is for --backend {owner}, not {args.backend}"
            )
