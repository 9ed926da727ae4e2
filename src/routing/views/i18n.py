"""Localisation of the patient's and the doctor's views: messages, dates, times and numbers.

Messages are gettext catalogues kept as ``.po`` text under ``routing/views/locale/<lang>/
LC_MESSAGES/views.po`` and read with :mod:`babel.messages.pofile` (no compile step: the same
files are shipped in the wheel). Message ids are English, so English needs no catalogue entry;
Russian is the default for Russian sources. Dates, weekdays, times and numbers come from Babel's
CLDR data (``понедельник, 18 мая 2026 г.``).
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from importlib import resources
from typing import Literal

from babel.dates import format_date, format_time
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Language", "Texts", "texts_for"]

Language = Literal["ru", "en"]
LANGUAGES: tuple[Language, ...] = ("ru", "en")
DEFAULT_LANGUAGE: Language = "ru"
"""Russian: the default for Russian sources."""

_DOMAIN = "views"


@functools.cache
def _messages(language: Language) -> dict[str, str]:
    """The translated messages of ``language`` (empty for English: the ids are English)."""
    if language == "en":
        return {}
    path = resources.files("routing.views").joinpath(
        "locale", language, "LC_MESSAGES", f"{_DOMAIN}.po"
    )
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=_DOMAIN)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.id, str) and message.string and not message.fuzzy
    }


class Texts:
    """Messages and formats of one language.

    Parameters
    ----------
    language
        ``"ru"`` or ``"en"``.
    """

    def __init__(self, language: Language) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        self.language: Language = language
        self._catalogue = _messages(language)

    def __repr__(self) -> str:
        return f"Texts({self.language!r})"

    def gettext(self, message: str, **values: object) -> str:
        """``message`` translated, with ``{name}`` placeholders filled from ``values``."""
        text = self._catalogue.get(message, message)
        return text.format(**values) if values else text

    def full_date(self, day: date | datetime) -> str:
        """A full date with its weekday: ``понедельник, 18 мая 2026 г.``."""
        if isinstance(day, datetime):
            day = day.date()
        return format_date(day, format="full", locale=self.language)

    def long_date(self, day: date | datetime) -> str:
        """A date without the weekday: ``18 мая 2026 г.`` / ``May 18, 2026``."""
        if isinstance(day, datetime):
            day = day.date()
        return format_date(day, format="long", locale=self.language)

    def time(self, moment: datetime) -> str:
        """The wall-clock time of an aware ``moment`` in its own zone: ``09:30``."""
        return format_time(moment, format="HH:mm", locale=self.language)

    def number(self, value: int | float) -> str:
        """A number in the language's format (``1 234,5`` in Russian)."""
        return format_decimal(value, locale=self.language)

    def minutes(self, value: int) -> str:
        """A duration in minutes, or hours and minutes from an hour on."""
        if value < 60:
            return self.gettext("{n} min", n=self.number(value))
        hours, rest = divmod(value, 60)
        if rest == 0:
            return self.gettext("{h} h", h=self.number(hours))
        return self.gettext("{h} h {m} min", h=self.number(hours), m=self.number(rest))

    def days(self, value: float) -> str:
        """A number of days, one decimal at most."""
        return self.gettext("{n} days", n=self.number(round(value, 1)))


@functools.cache
def texts_for(language: Language) -> Texts:
    """The (shared) :class:`Texts` of ``language``."""
    return Texts(language)
