"""What the patient and the doctor see: the timeline, its calendar, the proposal, as HTML/JSON.

- :mod:`routing.views.timeline`: a planned route as the patient's timeline (discreet labels,
  contacts, preparation, travel between same-day visits, what comes next);
- :mod:`routing.views.ics`: the timeline as an iCalendar file (stable UIDs, SEQUENCE, CANCEL);
- :mod:`routing.views.proposals`: the fastest route and alternatives that differ in a way that
  matters (fewer visit days, less travel, the preferred facility);
- :mod:`routing.views.html`: server-rendered pages (Jinja2 templates, no script);
- :mod:`routing.views.i18n`: Russian (default) and English messages, dates and numbers.

Needs the ``views`` and ``ics`` extras (``pip install 'patient-routing[views,ics]'``).
"""

from __future__ import annotations

__all__: list[str] = []
