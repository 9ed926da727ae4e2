"""Turning pydantic's validation errors into :class:`~routing.exceptions.InvalidInputError` issues.

Each issue names the record (by its id where the input gives a usable one, else by its position)
and the field, and says what was expected. Input values are never echoed: the offending value
is kept on the issue's :attr:`~routing.exceptions.InvalidInputError.value` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from routing.domain.common import record_name
from routing.exceptions import InvalidInputError, InvalidProblemError

__all__ = ["issues_from_validation_error"]

_REASONS = {
    "timezone_aware": "a datetime without a UTC offset: add one (e.g. +03:00) or give a 'timezone'",
    "extra_forbidden": "unknown field",
    "missing": "required",
    "int_type": "expected a whole number (not true/false, a string or a decimal)",
    "int_parsing_size": "the number is too large",
    "float_type": "expected a number (not true/false or a string)",
    "finite_number": "expected a finite number (not NaN or Infinity)",
}
"""Clearer wording for a few pydantic error types."""


_PRIVATE_KEYS = frozenset({"reference_dates"})
"""Mappings whose keys are personal (a ``last_menstrual_period`` key tells of a pregnancy): a
location names such a key by its position (``reference_dates.#0``), never by its text."""


def _mask(loc: tuple[int | str, ...], raw: Any) -> tuple[int | str, ...]:
    """``loc`` with every key of a private mapping replaced by its position in ``raw``."""
    masked: list[int | str] = []
    current: Any = raw
    hide_next = False
    for part in loc:
        if hide_next and isinstance(part, str) and part != "[key]":
            position = "?"
            if isinstance(current, Mapping):
                keys = list(current)
                position = str(keys.index(part)) if part in keys else "?"
            masked.append(f"#{position}")
            current = current.get(part) if isinstance(current, Mapping) else None
            hide_next = False
            continue
        hide_next = part in _PRIVATE_KEYS
        masked.append(part)
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, Sequence) and not isinstance(current, str):
            current = current[part] if isinstance(part, int) and part < len(current) else None
        else:
            current = None
    return tuple(masked)


def _locate(
    loc: tuple[int | str, ...], raw: Any, collections: Mapping[str, str], root: str
) -> tuple[str, tuple[int | str, ...]]:
    """Split an error location into the record's name and the location inside it."""
    if len(loc) >= 2 and loc[0] in collections and isinstance(loc[1], int):
        key, index = str(loc[0]), loc[1]
        item: Any = None
        if isinstance(raw, Mapping):
            items = raw.get(key)
            if isinstance(items, Sequence) and not isinstance(items, str) and index < len(items):
                item = items[index]
        record = f"{key}[{index}]"
        on_id = len(loc) > 2 and loc[2] == "id"
        if isinstance(item, Mapping) and not on_id:
            named = record_name(collections[key], item.get("id"))
            if named != collections[key]:
                record = named
        return record, loc[2:]
    return root, loc


def issues_from_validation_error(
    error: ValidationError,
    raw: Any,
    collections: Mapping[str, str],
    *,
    root: str = "problem",
) -> InvalidProblemError:
    """All the issues of ``error`` as one :class:`InvalidProblemError`.

    Parameters
    ----------
    error
        The error from validating ``raw``.
    raw
        The input as given, used only to read the ids of records that failed.
    collections
        Top-level list field → the noun of its records, e.g. ``{"slots": "slot"}``.
    root
        How to name the document itself, for errors outside the collections.
    """
    issues: list[InvalidInputError] = []
    for detail in error.errors(include_url=False):
        cause = detail.get("ctx", {}).get("error")
        if isinstance(cause, InvalidProblemError):
            issues.extend(cause.issues)
            continue
        record, inner = _locate(_mask(tuple(detail["loc"]), raw), raw, collections, root)
        field = ".".join(str(part) for part in inner)
        if isinstance(cause, InvalidInputError):
            reason = cause.reason
            if cause.field and not (field == cause.field or field.endswith("." + cause.field)):
                field = f"{field}.{cause.field}" if field else cause.field
        elif isinstance(cause, BaseException):
            reason = str(cause)
        else:
            reason = _REASONS.get(detail["type"], detail["msg"])
        issues.append(InvalidInputError(record, field, reason, value=detail.get("input")))
    return InvalidProblemError(issues)
