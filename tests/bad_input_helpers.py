"""A small valid problem document that the bad-input tests corrupt one record at a time."""

from __future__ import annotations

from typing import Any

__all__ = ["good_document"]


def _pathway(pathway_id: str) -> dict[str, Any]:
    return {
        "id": pathway_id,
        "title": {"ru": "Приём", "en": "A visit"},
        "applicability": {"codes": ["J45"]},
        "stages": [
            {"id": "visit", "title": {"ru": "Приём", "en": "Visit"}, "services": ["fer:27"]}
        ],
    }


def _slot(slot_id: str, facility_id: str, day: int) -> dict[str, Any]:
    return {
        "id": slot_id,
        "facility_id": facility_id,
        "service": "fer:27",
        "start": f"2026-05-{day}T10:00:00+03:00",
        "end": f"2026-05-{day}T10:30:00+03:00",
    }


def _request(request_id: str, patient_id: str, pathway_id: str) -> dict[str, Any]:
    return {
        "id": request_id,
        "patient": {"id": patient_id},
        "pathway_id": pathway_id,
        "referral": "2026-05-08T09:00:00+03:00",
    }


def good_document() -> dict[str, Any]:
    """The valid problem every case corrupts (a fresh copy each call)."""
    return {
        "format_version": 1,
        "facilities": [
            {"id": "F1", "name": "Polyclinic 1", "level": 1, "services": ["fer:27"]},
            {"id": "F2", "name": "Polyclinic 2", "level": 2, "services": ["fer:27"]},
        ],
        "slots": [_slot("S1", "F1", 12), _slot("S2", "F1", 13), _slot("S3", "F2", 14)],
        "pathways": [_pathway("one_visit"), _pathway("other_visit")],
        "requests": [_request("R1", "P-1", "one_visit"), _request("R2", "P-2", "other_visit")],
    }
