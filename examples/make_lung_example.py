"""Regenerate the built-in example problem ``src/routing/examples/lung_spb.json`` (seeded).

A suspected lung cancer case (МКБ-10 C34.x) in Saint Petersburg, for the built-in pathway
``zno_lung``:

- level 1: adult city polyclinics of the Nevsky district, as the city appointment portal lists them
  (real ids, names, coordinates; the recorded response ``DistrictResponse_example.json``,
  committed in ``tests/data/gorzdrav``);
- level 2: the real outpatient oncology centre (ЦАОП) of the War Veterans' Hospital from the same
  response, plus one synthetic ЦАОП;
- level 3: a synthetic city oncology dispensary and a synthetic multi-field hospital.

Synthetic facilities have ids starting ``synthetic-`` and say so in their names. Every slot is
synthetic: four weeks of working days (the production calendar's days off skipped) from Monday
2026-03-02, with realistic hours and durations, most of them already taken, drawn with a fixed
seed. Everything it reads is in the repository; run it from anywhere in a clone::

    python examples/make_lung_example.py            # writes the package's example file
    python examples/make_lung_example.py --check    # exit 1 if the committed file differs

Exit status: 0 written (or up to date), 1 the committed file differs, 2 the portal response
cannot be read.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from routing.calendar import default_calendar
from routing.outputs.atomic import write_text
from routing.problem import load_problem

__all__ = ["DEFAULT_DATA", "DEFAULT_OUTPUT", "SEED", "build_document", "main", "render"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "tests" / "data" / "gorzdrav" / "DistrictResponse_example.json"
DEFAULT_OUTPUT = ROOT / "src" / "routing" / "examples" / "lung_spb.json"
SEED = 20260302
FIRST_DAY = date(2026, 3, 2)
WEEKS = 4
ZONE = "Europe/Moscow"
OFFSET = "+03:00"  # Moscow time has no daylight saving time

CONSULTATION = "nmu:B01.027.001"  # приём врача-онколога первичный
CT = "nmu:A06.09.005"  # КТ органов грудной полости
CT_CONTRAST = "nmu:A06.09.005.002"  # the same with intravenous bolus contrast
BRONCHOSCOPY = "nmu:A03.09.001"  # бронхоскопия (with biopsy)
TUMOUR_BOARD = "catalogue:oncology_tumour_board"
TREATMENT = "catalogue:oncology_specialised_treatment"
THERAPIST = "nmu:B01.047.001"  # приём врача-терапевта первичный (primary care, not in the pathway)
FLUOROGRAPHY = "nmu:A06.09.006"  # флюорография лёгких (primary care, not in the pathway)

LEVEL1_PORTAL_IDS = (44, 45, 241, 244, 245, 247, 248)
"""Adult city polyclinics (ГП) of the Nevsky district in the recorded portal response."""
CAOP_PORTAL_ID = 1050
"""«Онкоцентр ГВВ ЦАОП»: the War Veterans' Hospital's outpatient oncology centre (real)."""

SYNTHETIC_FACILITIES: tuple[dict[str, Any], ...] = (
    {
        "id": "synthetic-caop-kalininsky",
        "name": "ЦАОП Калининского района (синтетический пример / synthetic)",
        "district": "Калининский",
        "location": {"lat": 60.0086, "lon": 30.3949},
        "level": 2,
        "services": [CONSULTATION, CT],
    },
    {
        "id": "synthetic-oncology-dispensary",
        "name": "Городской онкологический диспансер (синтетический пример / synthetic)",
        "district": "Красносельский",
        "location": {"lat": 59.8335, "lon": 30.2126},
        "level": 3,
        "services": [CONSULTATION, CT, CT_CONTRAST, BRONCHOSCOPY, TUMOUR_BOARD, TREATMENT],
    },
    {
        "id": "synthetic-city-hospital",
        "name": "Многопрофильная городская больница (синтетический пример / synthetic)",
        "district": "Выборгский",
        "location": {"lat": 60.0231, "lon": 30.3377},
        "level": 3,
        "services": [CT, BRONCHOSCOPY, TREATMENT],
    },
)


@dataclass(frozen=True)
class Session:
    """A recurring block of appointments of one resource (doctor, room or device)."""

    facility_id: str
    service: str
    resource: str
    weekdays: tuple[int, ...]  # Monday = 0
    first: time
    last: time  # the last appointment ends by this time
    minutes: int
    free_share: float  # the chance that an appointment is still free
    mode: str = "in_person"
    capacity: int = 1


def _sessions(caop_id: str) -> list[Session]:
    """The appointment blocks of the level 2 and 3 facilities."""
    weekdays = (0, 1, 2, 3, 4)
    disp, hosp, caop2 = (
        "synthetic-oncology-dispensary",
        "synthetic-city-hospital",
        "synthetic-caop-kalininsky",
    )
    return [
        Session(caop_id, CONSULTATION, "oncologist-1", weekdays, time(9), time(15), 30, 0.12),
        Session(caop_id, CONSULTATION, "oncologist-2", (1, 3), time(14), time(19), 30, 0.12),
        Session(caop_id, CT, "ct-1", weekdays, time(8), time(20), 20, 0.06),
        Session(caop2, CONSULTATION, "oncologist-1", weekdays, time(8, 30), time(14), 30, 0.15),
        Session(caop2, CT, "ct-1", weekdays, time(8), time(16), 20, 0.08),
        Session(disp, CONSULTATION, "oncologist-3", weekdays, time(9), time(13), 30, 0.10),
        Session(disp, CT, "ct-2", weekdays, time(8), time(20), 20, 0.05),
        Session(disp, CT_CONTRAST, "ct-2c", (0, 2, 4), time(13), time(17), 30, 0.10),
        Session(disp, BRONCHOSCOPY, "endoscopy-1", weekdays, time(9), time(13), 45, 0.15),
        Session(disp, TUMOUR_BOARD, "board", (1, 3), time(14), time(17), 30, 0.5, "remote", 2),
        Session(disp, TREATMENT, "surgery-ward", weekdays, time(9), time(15), 60, 0.10),
        Session(hosp, CT, "ct-1", weekdays, time(8), time(18), 20, 0.05),
        Session(hosp, BRONCHOSCOPY, "endoscopy-1", (0, 2, 4), time(10), time(13), 45, 0.15),
        Session(hosp, TREATMENT, "oncology-ward", (1, 3), time(10), time(14), 60, 0.10),
    ]


def _portal_facilities(path: Path) -> tuple[list[dict[str, Any]], str]:
    """Level 1 polyclinics and the real ЦАОП from the recorded portal response; the ЦАОП's id."""
    records = {r["id"]: r for r in json.loads(path.read_text(encoding="utf-8"))["result"]}
    facilities = []
    for portal_id, level in [(i, 1) for i in LEVEL1_PORTAL_IDS] + [(CAOP_PORTAL_ID, 2)]:
        record = records[portal_id]
        facilities.append(
            {
                "id": f"gorzdrav-{portal_id}",
                "name": record["lpuFullName"].strip(),
                "district": record["districtName"],
                "location": {"lat": float(record["latitude"]), "lon": float(record["longitude"])},
                "address": record["address"].strip(),
                "phone": record["phone"].strip(),
                "level": level,
                "services": [THERAPIST, FLUOROGRAPHY] if level == 1 else [CONSULTATION, CT],
            }
        )
    return facilities, f"gorzdrav-{CAOP_PORTAL_ID}"


def _slots(sessions: list[Session], rng: random.Random) -> list[dict[str, Any]]:
    """Free appointments of every session over the working days of the horizon."""
    calendar = default_calendar()
    days = [FIRST_DAY + timedelta(days=n) for n in range(7 * WEEKS)]
    working = [d for d in days if calendar.is_working_day(d)]
    slots = []
    for session in sessions:
        for day in working:
            if day.weekday() not in session.weekdays:
                continue
            start = datetime.combine(day, session.first)
            close = datetime.combine(day, session.last)
            while start + timedelta(minutes=session.minutes) <= close:
                end = start + timedelta(minutes=session.minutes)
                if rng.random() < session.free_share:
                    slots.append(_slot(session, start, end))
                start = end
    slots.sort(key=lambda s: (s["start"], s["facility_id"], s["service"], s["resource"]))
    for n, slot in enumerate(slots, start=1):
        slot["id"] = f"slot-{n:04d}"
    return [{"id": s.pop("id"), **s} for s in slots]


def _slot(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    slot: dict[str, Any] = {
        "facility_id": session.facility_id,
        "service": session.service,
        "start": f"{start:%Y-%m-%dT%H:%M}:00{OFFSET}",
        "end": f"{end:%Y-%m-%dT%H:%M}:00{OFFSET}",
        "resource": session.resource,
    }
    if session.mode != "in_person":
        slot["mode"] = session.mode
    if session.capacity != 1:
        slot["capacity"] = session.capacity
    return slot


def _requests(caop_id: str) -> list[dict[str, Any]]:
    """Three pseudonymous patients referred with suspected lung cancer in the first week."""
    return [
        {
            "id": "R-0001",
            "patient": {
                "id": "P-7F3A21",
                "district": "Невский",
                "location": {"lat": 59.8991, "lon": 30.4702},
                "preferred_facilities": [caop_id],
            },
            "diagnoses": ["C34.1"],
            "referral": f"2026-03-02T09:00:00{OFFSET}",
        },
        {
            "id": "R-0002",
            "patient": {
                "id": "P-2C9B04",
                "district": "Невский",
                "location": {"lat": 59.8712, "lon": 30.4418},
                "max_visits_per_day": 1,
            },
            "diagnoses": ["C34.3"],
            "referral": f"2026-03-03T11:30:00{OFFSET}",
        },
        {
            "id": "R-0003",
            "patient": {
                "id": "P-91D5E8",
                "district": "Калининский",
                "location": {"lat": 60.0122, "lon": 30.3960},
                "unavailable": [
                    {"start": f"2026-03-05T00:00:00{OFFSET}", "end": f"2026-03-07T00:00:00{OFFSET}"}
                ],
            },
            "diagnoses": ["C34.9"],
            "referral": f"2026-03-04T14:00:00{OFFSET}",
        },
    ]


def build_document(data: Path = DEFAULT_DATA, seed: int = SEED) -> dict[str, Any]:
    """The example problem as a JSON-ready mapping (validated before it is returned)."""
    rng = random.Random(seed)
    portal, caop_id = _portal_facilities(data)
    facilities = sorted([*portal, *SYNTHETIC_FACILITIES], key=lambda f: (f["level"], f["id"]))
    document = {
        "format_version": 1,
        "timezone": ZONE,
        "facilities": facilities,
        "slots": _slots(_sessions(caop_id), rng),
        "requests": _requests(caop_id),
    }
    load_problem(document)  # raises if the generator ever writes an invalid problem
    return document


def render(document: dict[str, Any]) -> str:
    """JSON text with one facility, slot or request per line (small diffs, easy to read)."""
    lines = ["{"]
    items = list(document.items())
    for n, (key, value) in enumerate(items):
        comma = "," if n < len(items) - 1 else ""
        if isinstance(value, list):
            lines.append(f"  {json.dumps(key)}: [")
            rows = [json.dumps(v, ensure_ascii=False) for v in value]
            lines.extend(
                f"    {row}{',' if i < len(rows) - 1 else ''}" for i, row in enumerate(rows)
            )
            lines.append(f"  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) the example file; the exit status says how it went."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the portal response")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    try:
        document = build_document(args.data, args.seed)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"unexpected content ({exc!r})"
        print(f"cannot read the portal response {args.data}: {reason}", file=sys.stderr)
        return 2
    text = render(document)
    if args.check:
        same = args.output.is_file() and args.output.read_text(encoding="utf-8") == text
        print(f"{args.output}: {'up to date' if same else 'DIFFERS from the generator output'}")
        return 0 if same else 1
    write_text(args.output, text)
    print(
        f"wrote {args.output}: {len(document['facilities'])} facilities, "
        f"{len(document['slots'])} slots, {len(document['requests'])} requests"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
