"""The common interface of slot sources: what an adapter returns and how batches are combined.

An adapter (FHIR, city portal, CSV, ...) is a :class:`SlotSource`: it has a ``name`` and a
``fetch(start, end, services)`` that returns a :class:`SlotBatch` of facilities, slots and
:class:`SourceIssue` records. A bad record never stops the rest from loading: it becomes an issue
naming the record and field. :func:`combine` merges batches from several sources.

Combining
---------
- Facilities are merged by id; two different records with one id give an issue naming the id
  (the first is kept).
- The same slot from two sources (same facility, service, start, end and resource) is counted
  once (the first is kept; a different capacity or mode is an issue).
- Two different slots with one id: the first is kept, the other is dropped and reported.
- Slots of one resource (same facility and resource) whose times intersect are kept and each
  reported as an issue.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Protocol, runtime_checkable

from pydantic import StringConstraints

from nosology.pathway import FrozenModel, ServiceRef
from routing.domain import Facility, Slot, record_name
from routing.exceptions import InvalidInputError, NaiveDatetimeError

__all__ = [
    "CombinedSource",
    "SlotBatch",
    "SlotSource",
    "SourceIssue",
    "check_window",
    "combine",
    "select_slots",
]

logger = logging.getLogger(__name__)

_Text = Annotated[str, StringConstraints(max_length=2000)]


class SourceIssue(FrozenModel):
    """A record a source could not use, or a conflict found while combining sources.

    Attributes
    ----------
    source
        The source's name (e.g. ``"fhir:bundle.json"``, ``"csv:slots.csv"``, ``"combine"``).
    record
        The record, by id where it has one (``"slot 'S17'"``), else by position
        (``"Bundle.entry[3]"``, ``"line 12"``).
    field
        The offending field as a dotted path, or ``""`` for the record as a whole.
    reason
        What is wrong and what was expected; never an input value or patient data.
    retryable
        Whether trying again later may succeed (a network or server failure).
    slot
        The free slot this issue kept out of the batch (the id the source would have given it,
        or the record's position when it had no usable id), else ``None``. A source names each
        such slot in one issue only, so slots offered plus issues with a ``slot`` is the number
        of free slots read.
    """

    source: _Text
    record: _Text
    field: _Text
    reason: _Text
    retryable: bool = False
    slot: _Text | None = None

    @classmethod
    def from_error(
        cls, source: str, error: InvalidInputError, *, retryable: bool = False
    ) -> SourceIssue:
        """The issue that ``error`` describes, found by ``source``."""
        return cls(
            source=source,
            record=error.record,
            field=error.field,
            reason=error.reason,
            retryable=retryable,
        )

    def to_error(self) -> InvalidInputError:
        """The issue as an :class:`InvalidInputError` (for strict callers)."""
        return InvalidInputError(self.record, self.field, self.reason)

    def __str__(self) -> str:
        return f"{self.source}: {self.to_error()}"


class SlotBatch(FrozenModel):
    """What a source returned: facilities, slots and the issues met on the way.

    Attributes
    ----------
    facilities
        Facilities the slots refer to (a source may return facilities without slots).
    slots
        Free, bookable slots.
    issues
        Records that were skipped or conflicts found, in the order met.
    """

    facilities: tuple[Facility, ...] = ()
    slots: tuple[Slot, ...] = ()
    issues: tuple[SourceIssue, ...] = ()


@runtime_checkable
class SlotSource(Protocol):
    """Anything that returns the free slots of a time window.

    ``fetch`` returns the slots whose start lies in ``[start, end)`` and, when ``services`` is
    given, whose service is one of them, with the facilities they refer to. Bad records become
    issues; only a failure of the call itself (bad arguments) raises.

    ``name`` is read-only here, so a plain attribute, a frozen dataclass field or a property all
    satisfy it.
    """

    @property
    def name(self) -> str:
        """The source's name, carried by its issues (e.g. ``"fhir:bundle.json"``)."""
        ...

    def fetch(
        self,
        start: datetime,
        end: datetime,
        services: Collection[ServiceRef] | None = None,
    ) -> SlotBatch:
        """The free slots starting in ``[start, end)``, optionally of ``services`` only."""
        ...


def check_window(start: datetime, end: datetime, *, record: str = "fetch") -> None:
    """Check a fetch window: both datetimes timezone-aware and ``start < end``.

    Raises
    ------
    InvalidInputError
        Naming ``record`` and the offending argument.
    """
    for field, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime):
            raise InvalidInputError(record, field, "expected a datetime")
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInputError(record, field, "a datetime without a time zone")
    if end <= start:
        raise InvalidInputError(record, "end", "end must be after start")


def select_slots(
    slots: Iterable[Slot],
    start: datetime,
    end: datetime,
    services: Collection[ServiceRef] | None = None,
) -> Iterator[Slot]:
    """The slots starting in ``[start, end)``, of ``services`` when given."""
    wanted = None if services is None else {str(s) for s in services}
    for slot in slots:
        if not start <= slot.start < end:
            continue
        if wanted is not None and str(slot.service) not in wanted:
            continue
        yield slot


def _slot_key(slot: Slot) -> tuple[str, str, datetime, datetime, str | None]:
    return (slot.facility_id, str(slot.service), slot.start, slot.end, slot.resource)


def _merge_facilities(batches: list[SlotBatch], issues: list[SourceIssue]) -> tuple[Facility, ...]:
    facilities: dict[str, Facility] = {}
    for batch in batches:
        for facility in batch.facilities:
            known = facilities.get(facility.id)
            if known is None:
                facilities[facility.id] = facility
            elif known != facility:
                issues.append(
                    SourceIssue(
                        source="combine",
                        record=record_name("facility", facility.id),
                        field="",
                        reason="two sources give different records with this id; the first kept",
                    )
                )
    return tuple(facilities.values())


def _merge_slots(batches: list[SlotBatch], issues: list[SourceIssue]) -> list[Slot]:
    by_key: dict[tuple[str, str, datetime, datetime, str | None], Slot] = {}
    by_id: dict[str, Slot] = {}
    kept: list[Slot] = []
    for batch in batches:
        for slot in batch.slots:
            key = _slot_key(slot)
            same = by_key.get(key)
            if same is not None:
                if (same.capacity, same.mode) != (slot.capacity, slot.mode):
                    issues.append(
                        SourceIssue(
                            source="combine",
                            record=record_name("slot", slot.id),
                            field="capacity",
                            reason=(
                                f"the same slot as {same.id!r} with a different capacity or "
                                "mode; the first kept"
                            ),
                        )
                    )
                continue
            other = by_id.get(slot.id)
            if other is not None:
                issues.append(
                    SourceIssue(
                        source="combine",
                        record=record_name("slot", slot.id),
                        field="id",
                        reason="two different slots have this id; the first kept",
                    )
                )
                continue
            by_key[key] = slot
            by_id[slot.id] = slot
            kept.append(slot)
    return kept


def _overlaps(slots: list[Slot]) -> Iterator[SourceIssue]:
    """An issue for every slot whose time intersects an earlier slot of the same resource."""
    groups: dict[tuple[str, str], list[Slot]] = {}
    for slot in slots:
        if slot.resource is not None:
            groups.setdefault((slot.facility_id, slot.resource), []).append(slot)
    found: list[tuple[datetime, str, SourceIssue]] = []
    for group in groups.values():
        group.sort(key=lambda s: (s.start, s.end, s.id))
        latest = group[0]
        for slot in group[1:]:
            if slot.start < latest.end:
                issue = SourceIssue(
                    source="combine",
                    record=record_name("slot", slot.id),
                    field="start",
                    reason=(
                        f"overlaps slot {latest.id!r} of the same resource at the same facility"
                    ),
                )
                found.append((slot.start, slot.id, issue))
            if slot.end > latest.end:
                latest = slot
    found.sort(key=lambda item: (item[0], item[1]))
    return iter([issue for _, _, issue in found])


def combine(batches: Iterable[SlotBatch]) -> SlotBatch:
    """Merge batches from several sources into one (see the module docstring for the rules).

    The issues of every batch are kept, followed by the conflicts found here. Order is stable: the
    first source's records first.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = datetime(2026, 5, 12, 9, tzinfo=timezone.utc)
    >>> s = Slot(id="a", facility_id="F", service="nmu:A", start=t, end=t.replace(hour=10))
    >>> twin = s.model_copy(update={"id": "b"})
    >>> merged = combine([SlotBatch(slots=(s,)), SlotBatch(slots=(twin,))])
    >>> [x.id for x in merged.slots], len(merged.issues)
    (['a'], 0)
    """
    batches = list(batches)
    issues: list[SourceIssue] = [issue for batch in batches for issue in batch.issues]
    facilities = _merge_facilities(batches, issues)
    slots = _merge_slots(batches, issues)
    issues.extend(_overlaps(slots))
    logger.debug(
        "combined %d batches: %d facilities, %d slots, %d issues",
        len(batches),
        len(facilities),
        len(slots),
        len(issues),
    )
    return SlotBatch(facilities=facilities, slots=tuple(slots), issues=tuple(issues))


@dataclass(frozen=True)
class CombinedSource:
    """Several sources read as one: their batches merged by :func:`combine`.

    A source whose call fails with bad input or a network error does not stop the others: the
    failure becomes an issue (``retryable`` for network errors). Datetimes without offset and no
    zone (:class:`~routing.exceptions.NaiveDatetimeError`) stop the whole read: the caller must
    give a zone.

    Attributes
    ----------
    sources
        The sources, in priority order (the first wins conflicts).
    name
        This source's name.
    """

    sources: tuple[SlotSource, ...]
    name: str = "combined"

    def fetch(
        self,
        start: datetime,
        end: datetime,
        services: Collection[ServiceRef] | None = None,
    ) -> SlotBatch:
        """The combined batches of every source for ``[start, end)``."""
        check_window(start, end, record=record_name("source", self.name))
        batches: list[SlotBatch] = []
        for source in self.sources:
            try:
                batches.append(source.fetch(start, end, services))
            except NaiveDatetimeError:
                raise  # the fix is the caller's (a zone), and half an import would mislead
            except InvalidInputError as error:
                issue = SourceIssue.from_error(source.name, error)
                batches.append(SlotBatch(issues=(issue,)))
            except OSError as error:
                logger.warning("source %s failed: %s", source.name, type(error).__name__)
                issue = SourceIssue(
                    source=source.name,
                    record=record_name("source", source.name),
                    field="",
                    reason=f"the source could not be read ({type(error).__name__})",
                    retryable=True,
                )
                batches.append(SlotBatch(issues=(issue,)))
        return combine(batches)
