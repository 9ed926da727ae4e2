"""A request's dates against the calendar's span, and the warnings of projected years.

The working calendar covers the known decree years and projected years after them
(:mod:`routing.calendar`); that span is the sensible range of dates. Here:

- :func:`check_request_dates`: a request whose referral, or a reference date its pathway's
  windows read, lies outside the span cannot be planned; the error names the request and the
  field, never the date.
- :func:`projection_warnings`: what a result relies on in a projected year (the referral, a
  booked slot, the last day of a deadline, or, without a route, the search horizon), as one
  warning a coordinator can read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from nosology.pathway import Deadline, LagUnit, Pathway, parse_event
from routing.calendar import WorkingCalendar
from routing.domain import RouteRequest
from routing.exceptions import CalendarRangeError

__all__ = ["check_request_dates", "projection_warnings"]


def check_request_dates(request: RouteRequest, pathway: Pathway, calendar: WorkingCalendar) -> None:
    """Check that the dates a plan of ``request`` reads lie in the calendar's span.

    These are the referral and the reference dates named by the pathway's windows (a reference
    date the pathway does not read is not checked). Periods the patient is unavailable need no
    check: the planner clips them to the span.

    Raises
    ------
    CalendarRangeError
        Naming the request and the field (``referral`` or ``reference_dates.<name>``).
    """
    record = f"request {request.id!r}"
    if not calendar.covers(request.referral):
        raise CalendarRangeError(record, "referral", calendar.range_reason)
    for name in sorted({w.reference for w in pathway.windows}):
        day = request.reference_dates.get(name)
        if day is not None and not calendar.covers(day):
            raise CalendarRangeError(record, f"reference_dates.{name}", calendar.range_reason)


def projection_warnings(
    calendar: WorkingCalendar,
    request: RouteRequest,
    times: Mapping[str, tuple[datetime, datetime]],
    deadlines: Iterable[Deadline] = (),
) -> tuple[str, ...]:
    """The warning of a result that relies on a year the calendar projects, or ``()``.

    Parameters
    ----------
    calendar
        The calendar the result was planned on.
    request
        The request planned.
    times
        Stage id → (start, end) of each booked slot; empty for a result without a route, whose
        search horizon is checked instead.
    deadlines
        The deadlines reported for the route; one in working days relies on the projection when
        its last allowed day (``wd(date(X), limit)``) is in a projected year.

    Examples
    --------
    >>> from zoneinfo import ZoneInfo
    >>> from routing.calendar import default_calendar
    >>> from routing.domain import Patient
    >>> request = RouteRequest(id="R1", patient=Patient(id="P1"), pathway_id="any",
    ...     referral=datetime(2050, 3, 1, 9, tzinfo=ZoneInfo("Europe/Moscow")))
    >>> projection_warnings(default_calendar(), request, {})[0].split(": ")[-1]
    'the referral, the search horizon'
    """
    if calendar.projected_years is None:
        return ()
    known_last = calendar.known_years[1]
    relied: list[str] = []
    if calendar.is_projected(calendar.local_date(request.referral)):
        relied.append("the referral")
    if times:
        # An offset change shifts a local date by less than a day: times two days before the
        # first projected year's midnight are surely in known years (the common case, cheaply).
        soon = datetime(known_last + 1, 1, 1, tzinfo=calendar.zone) - timedelta(days=2)
        near = any(end >= soon for _, end in times.values())
        for stage_id, (start, end) in times.items() if near else ():
            if calendar.is_projected(calendar.local_date(start)) or calendar.is_projected(
                calendar.local_date(end)
            ):
                relied.append(f"the booking of stage {stage_id!r}")
        for d in deadlines:
            if d.unit is LagUnit.WORKING_DAYS and _last_day_projected(calendar, request, times, d):
                relied.append(f"the last day of deadline {d.id!r}")
    else:
        last = calendar.local_date(request.referral) + timedelta(days=request.horizon_days)
        if calendar.is_projected(last):
            relied.append("the search horizon")
    if not relied:
        return ()
    return (
        f"the working calendar projects the years after {known_last} from weekends and the "
        "fixed public holidays only (no transfer decree known yet), and this result relies on "
        "them: " + ", ".join(relied),
    )


def _last_day_projected(
    calendar: WorkingCalendar,
    request: RouteRequest,
    times: Mapping[str, tuple[datetime, datetime]],
    deadline: Deadline,
) -> bool:
    stage_id, point = parse_event(deadline.from_event)
    if stage_id is None:
        start = request.referral
    elif stage_id in times:
        start = times[stage_id][0 if point is not None and point.value == "start" else 1]
    else:
        return False
    try:
        last = calendar.add_working_days(calendar.local_date(start), deadline.limit)
    except CalendarRangeError:
        last = date.max  # past the span: after every known year
    return calendar.is_projected(last)
